"""The weekly source config, customer ids, cohort labels and training cohorts (pure code)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churn_platform.domain.datasource import (
    CohortPlan,
    SimulatorSource,
    cohort_labels,
    training_cohort_weeks,
)
from churn_platform.domain.simulator import CustomerSimulator, SimulatorConfig
from churn_platform.domain.source_config import (
    OTHER_LEVEL,
    canonical_ids,
    map_snapshot,
    parse_weekly_config,
    reference_contract,
    text_id_key,
)
from churn_platform.errors import DataContractError, DataSourceConfigError, EmptyPartitionError

W0 = date(2025, 1, 6)


def config(**override: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "snapshots": {
            "kind": "csv",
            "path": "snaps.csv",
            "week_column": "week",
            "id": "cid",
            "categorical": ["plan"],
        },
        "labels": {"kind": "csv", "path": "events.csv", "id": "cid", "churned_on": "left_on"},
    }
    for key, value in override.items():
        part, _, name = key.partition("__")
        doc[part][name] = value
    return doc


def parse(doc: dict[str, Any]) -> Any:
    return parse_weekly_config(doc, origin="src.yaml", base_dir=Path("/data"))


def test_config_parses_both_parts_and_resolves_paths() -> None:
    cfg = parse(config(labels__observed_until="2025-06-30", labels__delay_days=7))
    assert cfg.snapshots.source.path == "/data/snaps.csv"
    assert cfg.snapshots.id == "cid"
    assert cfg.labels.observed_until == date(2025, 6, 30)
    assert cfg.labels.delay_days == 7
    assert cfg.training.cohorts == 4


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"snapshots": config()["snapshots"]}, "missing required key 'labels'"),
        (config(snapshots__colour="red"), "unknown key 'snapshots.colour'"),
        (config(labels__churned_on=None), "missing required key 'labels.churned_on'"),
        (config(snapshots__kind="excel"), "key 'snapshots.kind': 'excel' is not one of"),
        (config(snapshots__week_column=None), "key 'snapshots.week_column' is required"),
        (config(labels__observed_until="soon"), "key 'labels.observed_until' must be a date"),
        (config(labels__delay_days=-1), "key 'labels.delay_days'"),
        (config(snapshots__url_env="X"), "key 'snapshots.url_env' is only valid for kind postgres"),
        (config(snapshots__drop=["cid"]), "'snapshots.drop' lists 'cid', which is the id column"),
        (
            config(snapshots__policies={"new_levels": "maybe"}),
            "key 'snapshots.policies.new_levels'",
        ),
    ],
)
def test_bad_config_names_file_and_key(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(DataSourceConfigError, match=r"src\.yaml") as err:
        parse(doc)
    assert message in str(err.value)


def test_postgres_part_needs_url_env_not_a_url() -> None:
    doc = config()
    doc["labels"] = {
        "kind": "postgres",
        "table": "t",
        "url_env": "postgresql://u:p@h/db",
        "id": "cid",
        "churned_on": "left_on",
    }
    with pytest.raises(DataSourceConfigError, match=r"'labels\.url_env' must name"):
        parse(doc)


# -- ids -------------------------------------------------------------------------------------


def test_integer_and_digit_text_ids_are_kept() -> None:
    keys, _ = canonical_ids(pd.Series([3, 10**18]), column="id", origin="x")
    assert keys.tolist() == [3, 10**18]
    keys, _ = canonical_ids(pd.Series(["42", "7"]), column="id", origin="x")
    assert keys.tolist() == [42, 7]


def test_text_ids_map_to_stable_keys_and_keep_their_text() -> None:
    ids = pd.Series(["7590-VHVEG", "Zoë-1", "0042"])
    keys, text = canonical_ids(ids, column="id", origin="x")
    assert text.tolist() == ids.tolist()
    assert keys.tolist() == [text_id_key(v) for v in ids]
    assert (keys >= 0).all()
    assert keys.nunique() == 3  # "0042" is text: the leading zero is kept, not 42


def test_each_id_gets_the_same_key_whatever_else_is_in_the_week() -> None:
    alone, _ = canonical_ids(pd.Series(["42", "43"]), column="id", origin="x")
    mixed, _ = canonical_ids(pd.Series(["42", "0042", "CUST-9"]), column="id", origin="x")
    assert alone.iloc[0] == mixed.iloc[0] == 42
    assert mixed.iloc[1] == text_id_key("0042") != 42


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (pd.Series([1.0, 1.5]), "fractional ids"),
        (pd.Series([2**63], dtype="uint64"), "beyond 2\\*\\*63-1"),
        (pd.Series(["9223372036854775808"]), "beyond 2\\*\\*63-1"),
        (pd.Series(["A1", " A1"]), "leading/trailing whitespace"),
        (pd.Series(["A1", ""]), "empty"),
        (pd.Series(["A1", None]), "without an id"),
    ],
)
def test_bad_ids_are_named_errors(values: pd.Series, message: str) -> None:
    with pytest.raises(DataContractError, match=message):
        canonical_ids(values, column="cust", origin="src.yaml")


# -- snapshots: contract inferred once, enforced every week ----------------------------------


def snap(n: int = 6, **cols: Any) -> pd.DataFrame:
    base = {
        "week": ["2025-01-06"] * n,
        "cid": [f"C-{i}" for i in range(n)],
        "plan": (["basic", "pro"] * n)[:n],
        "charges": [10.0 + i for i in range(n)],
    }
    base.update(cols)
    return pd.DataFrame(base)


def test_snapshot_checks_against_the_reference_contract() -> None:
    spec = parse(config()).snapshots
    ref = reference_contract(snap(), spec, origin="src.yaml")
    assert ref.contract.feature_names == ("plan", "charges")
    _, keys = map_snapshot(snap(), spec, ref, origin="src.yaml")
    assert keys["source_id"].tolist() == [f"C-{i}" for i in range(6)]
    strict = parse(config(snapshots__policies={"new_levels": "error"})).snapshots
    strict_ref = reference_contract(snap(), strict, origin="src.yaml")
    with pytest.raises(DataContractError, match="unknown category levels"):
        map_snapshot(snap(plan=["basic"] * 5 + ["gold"]), strict, strict_ref, origin="src.yaml")
    mapped, _ = map_snapshot(snap(plan=["basic"] * 5 + ["gold"]), spec, ref, origin="src.yaml")
    assert mapped["plan"].astype(str).iloc[5] == OTHER_LEVEL  # the default: logged, "(other)"
    with pytest.raises(DataContractError, match="changed type"):
        map_snapshot(snap(charges=["10"] * 6), spec, ref, origin="src.yaml")
    with pytest.raises(DataContractError, match="duplicated id"):
        map_snapshot(snap(cid=["A"] * 6), spec, ref, origin="src.yaml")
    with pytest.raises(EmptyPartitionError):
        map_snapshot(snap().iloc[:0], spec, ref, origin="src.yaml")


def test_date_columns_are_not_features(caplog: pytest.LogCaptureFixture) -> None:
    spec = parse(config()).snapshots
    week = snap(signed_up=[date(2024, 1, i + 1) for i in range(6)])
    ref = reference_contract(week, spec, origin="src.yaml")
    assert "signed_up" not in ref.contract.feature_names
    assert "signed_up" in caplog.text


def test_new_column_never_becomes_a_feature() -> None:
    spec = parse(config()).snapshots
    ref = reference_contract(snap(), spec, origin="src.yaml")
    frame, _ = map_snapshot(snap(extra=list(range(6))), spec, ref, origin="src.yaml")
    assert "extra" not in frame.columns
    strict = parse(config(snapshots__policies={"extra_columns": "error"})).snapshots
    with pytest.raises(DataContractError, match=r"\['extra'\] are not in the feature contract"):
        map_snapshot(snap(extra=list(range(6))), strict, ref, origin="src.yaml")


def test_policies_impute_and_map_new_levels(caplog: pytest.LogCaptureFixture) -> None:
    spec = parse(
        config(snapshots__policies={"missing_values": "impute", "new_levels": "other"})
    ).snapshots
    ref = reference_contract(snap(), spec, origin="src.yaml")
    week = snap(plan=["basic", None, "gold", "pro", "pro", "pro"], charges=[1.0, None] + [3.0] * 4)
    frame, _ = map_snapshot(week, spec, ref, origin="src.yaml")
    assert len(frame) == 6  # every active customer is scored
    assert frame["plan"].astype(str).tolist()[:3] == ["basic", "(missing)", OTHER_LEVEL]
    assert frame["charges"].iloc[1] == pytest.approx(12.5)  # the reference median
    assert "imputed" in caplog.text and "mapped to '(other)'" in caplog.text


# -- labels ------------------------------------------------------------------------------------


def test_cohort_labels_durations_from_the_cohort_week_censored_at_evaluation() -> None:
    ids = pd.Series([1, 2, 3, 4, 5])
    events = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 9],
            "churned_on": [
                W0 + timedelta(days=10),  # churned 10 days after the scoring week
                W0 - timedelta(days=30),  # an earlier spell: ignored for this cohort
                W0 + timedelta(days=200),  # after the evaluation date: not known yet
                W0,  # churned on the cohort day
                W0 + timedelta(days=3),  # not in the cohort
            ],
        }
    )
    labels = cohort_labels(ids, events, W0, W0 + timedelta(days=91))
    assert labels["event"].tolist() == [1, 0, 0, 1, 0]
    assert labels["duration_days"].tolist() == [10.0, 91.0, 91.0, 0.5, 91.0]


def test_training_cohorts_are_clipped_to_the_data_and_followed_long_enough() -> None:
    as_of = W0 + timedelta(weeks=30)
    plan = CohortPlan(window_weeks=26, n_cohorts=4, spacing_weeks=4)
    assert training_cohort_weeks(as_of, plan, W0) == [
        W0 + timedelta(weeks=w) for w in (4, 8, 12, 16)
    ]
    short = training_cohort_weeks(W0 + timedelta(weeks=10), plan, W0)
    assert short == [W0, W0 + timedelta(weeks=4)]  # weeks 8 and 12: followed < 4 weeks
    with pytest.raises(ValueError, match="no snapshot before"):
        training_cohort_weeks(W0, plan, W0)


def test_simulator_source_reads_no_event_after_the_censoring_date() -> None:
    sim = CustomerSimulator(SimulatorConfig(n_customers=500, seed=3, label_delay_weeks=2))
    source = SimulatorSource(sim)
    as_of = W0 + timedelta(weeks=12)
    events = source.events(as_of)
    assert (pd.to_datetime(events["churned_on"]).dt.date <= as_of - timedelta(weeks=2)).all()
    labels = source.labels_for_cohort(W0, as_of)
    assert labels["duration_days"].max() <= 70.0  # censored at as_of - 2 weeks
