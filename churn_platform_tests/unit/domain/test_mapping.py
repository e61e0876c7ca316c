"""Column mapping for bring-your-own data: config parsing and raw table → canonical frame."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churn_platform.domain.mapping import (
    ColumnMapping,
    Policies,
    apply_mapping,
    mapping_from_cli,
    parse_data_config,
)
from churn_platform.domain.schema import CategoricalFeature, ContractViolation, NumericFeature
from churn_platform.errors import DataSourceConfigError, EmptyPartitionError

MAPPING = ColumnMapping(
    id="customerID",
    duration="tenure",
    event="Churn",
    event_value="Yes",
    event_censored_values=("No",),
    time_unit="months",
    categorical=("SeniorCitizen",),
    drop=("TotalCharges",),
)


def telco(n: int = 12) -> pd.DataFrame:
    """A raw telco-style export: Yes/No churn, tenure in months, a 0/1 flag, a leaky column."""
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "customerID": [f"{1000 + i}-ABCDE" for i in range(n)],
            "tenure": rng.integers(1, 72, n),
            "Churn": rng.choice(["Yes", "No"], n),
            "Contract": rng.choice(["Month-to-month", "One year"], n),
            "SeniorCitizen": rng.integers(0, 2, n),
            "PaperlessBilling": rng.choice([True, False], n),
            "MonthlyCharges": rng.uniform(20, 110, n).round(2),
            "TotalCharges": rng.uniform(20, 8000, n).round(2),
        }
    )


def raw_config(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "source": {"kind": "csv", "path": "customers.csv"},
        "columns": {"id": "customerID", "duration": "tenure", "event": "Churn"},
    }
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        cfg.setdefault(section, {})[key] = value
    return cfg


# -- parse_data_config -------------------------------------------------------------------------


def test_parse_minimal_config_with_defaults(tmp_path: Path) -> None:
    cfg = parse_data_config(raw_config(), origin="my.yaml", base_dir=tmp_path)
    assert cfg.source.kind == "csv"
    assert cfg.source.path == tmp_path / "customers.csv"
    assert cfg.columns.event_value == 1 and cfg.columns.censored_values == (0,)
    assert cfg.columns.time_unit == "days" and cfg.columns.features == "all"
    assert cfg.policies == Policies(extra_columns="ignore", missing_values="error")
    assert cfg.origin == "my.yaml"


def test_week_column_is_never_a_feature() -> None:
    cfg = parse_data_config(raw_config(source__week_column="snapshot_week"), origin="c.yaml")
    assert "snapshot_week" in cfg.columns.drop


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        (raw_config(columns__colour="red"), "columns.colour"),
        ({**raw_config(), "extras": {}}, "extras"),
        (raw_config(policies__on_error="skip"), "policies.on_error"),
    ],
)
def test_unknown_key_is_named(cfg: dict[str, Any], key: str) -> None:
    with pytest.raises(DataSourceConfigError, match=rf"c\.yaml: unknown key '{key}'"):
        parse_data_config(cfg, origin="c.yaml")


def test_missing_required_key_is_named() -> None:
    cfg = raw_config()
    del cfg["columns"]["event"]
    with pytest.raises(
        DataSourceConfigError, match=r"c\.yaml: missing required key 'columns.event'"
    ):
        parse_data_config(cfg, origin="c.yaml")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("source__kind", "excel"),
        ("columns__time_unit", "years"),
        ("policies__missing_values", "impute"),
        ("policies__extra_columns", "warn"),
    ],
)
def test_bad_enum_value_is_named(key: str, value: str) -> None:
    dotted = key.replace("__", ".")
    with pytest.raises(DataSourceConfigError, match=rf"key '{dotted}': '{value}' is not one of"):
        parse_data_config(raw_config(**{key: value}), origin="c.yaml")


def test_postgres_needs_url_env_not_a_literal_url() -> None:
    src = {"kind": "postgres", "table": "t", "url_env": "postgresql://u:secret@h/db"}
    with pytest.raises(DataSourceConfigError, match=r"source\.url_env"):
        parse_data_config({**raw_config(), "source": src}, origin="c.yaml")


def test_postgres_needs_exactly_one_of_table_or_query() -> None:
    src = {"kind": "postgres", "table": "t", "query": "SELECT 1", "url_env": "DB"}
    with pytest.raises(DataSourceConfigError, match=r"exactly one of 'source\.table' or"):
        parse_data_config({**raw_config(), "source": src}, origin="c.yaml")


def test_unusual_event_value_needs_censored_values() -> None:
    with pytest.raises(DataSourceConfigError, match="event_censored_values"):
        parse_data_config(raw_config(columns__event_value="left"), origin="c.yaml")


# -- apply_mapping: happy path -----------------------------------------------------------------


def test_apply_mapping_renames_converts_and_infers_contract() -> None:
    raw = telco()
    df, contract = apply_mapping(raw, MAPPING, Policies())
    assert list(df.columns[:3]) == ["customer_id", "duration_days", "event"]
    assert "TotalCharges" not in df.columns
    np.testing.assert_allclose(df["duration_days"], raw["tenure"] * 30.4375)
    assert df["event"].tolist() == (raw["Churn"] == "Yes").astype(int).tolist()
    features = {f.name: f for f in contract.features}
    assert features["SeniorCitizen"] == CategoricalFeature("SeniorCitizen", ("0", "1"))
    assert features["PaperlessBilling"] == CategoricalFeature("PaperlessBilling", ("False", "True"))
    assert features["MonthlyCharges"] == NumericFeature("MonthlyCharges")


def test_apply_mapping_with_stored_contract_rejects_new_category() -> None:
    _, contract = apply_mapping(telco(), MAPPING)
    later = telco()
    later.loc[3, "Contract"] = "Two year"
    with pytest.raises(ContractViolation, match=r"column 'Contract': 1 row with unknown category"):
        apply_mapping(later, MAPPING, contract=contract)


def test_weeks_are_converted_to_days() -> None:
    raw = telco()
    mapping = ColumnMapping(**{**MAPPING.__dict__, "time_unit": "weeks"})
    df, _ = apply_mapping(raw, mapping)
    np.testing.assert_allclose(df["duration_days"], raw["tenure"] * 7)


# -- apply_mapping: bad data -------------------------------------------------------------------


def test_event_value_outside_mapping() -> None:
    raw = telco()
    raw.loc[[2, 5], "Churn"] = ["Maybe", "yes"]
    with pytest.raises(ContractViolation) as info:
        apply_mapping(raw, MAPPING)
    msg = str(info.value)
    assert "column 'Churn' (event): 2 rows with values outside the churn mapping" in msg
    assert "'Maybe', 'yes' (rows 2, 5)" in msg
    assert "expected 'Yes' (churned) or 'No' (still a customer)" in msg


def test_yaml_boolean_event_value_gets_a_hint() -> None:
    raw = telco()
    mapping = ColumnMapping(
        **{**MAPPING.__dict__, "event_value": True, "event_censored_values": None}
    )
    with pytest.raises(ContractViolation, match="quote the value"):
        apply_mapping(raw, mapping)


def test_missing_mapped_column_names_key_and_available_columns() -> None:
    raw = telco().drop(columns=["tenure"])
    with pytest.raises(ContractViolation) as info:
        apply_mapping(raw, MAPPING)
    msg = str(info.value)
    assert "column 'tenure' (from columns.duration): missing from the data" in msg
    assert "customerID" in msg


@pytest.mark.parametrize(("value", "shown"), [(-3, "-91.3125"), (0, "0")])
def test_non_positive_duration(value: int, shown: str) -> None:
    raw = telco()
    raw.loc[4, "tenure"] = value
    with pytest.raises(ContractViolation) as info:
        apply_mapping(raw, MAPPING)
    msg = str(info.value)
    assert "'tenure' → 'duration_days', converted from months to days" in msg
    assert f"column 'duration_days': 1 row with a duration <= 0 days: values {shown} (row 4" in msg


def test_nan_is_an_error_by_default() -> None:
    raw = telco()
    raw.loc[[1, 7], "MonthlyCharges"] = np.nan
    with pytest.raises(ContractViolation, match=r"'MonthlyCharges': 2 rows with missing values"):
        apply_mapping(raw, MAPPING)


def test_drop_rows_policy_logs_the_count(caplog: pytest.LogCaptureFixture) -> None:
    raw = telco()
    raw.loc[[1, 7], "MonthlyCharges"] = np.nan
    raw.loc[9, "Contract"] = None
    with caplog.at_level(logging.WARNING, logger="churn_platform.domain.mapping"):
        df, _ = apply_mapping(raw, MAPPING, Policies(missing_values="drop_rows"))
    assert len(df) == len(raw) - 3
    assert "dropped 3 of 12 customer rows with missing values" in caplog.text
    assert "MonthlyCharges: 2" in caplog.text and "Contract: 1" in caplog.text


def test_drop_rows_policy_does_not_hide_infinity() -> None:
    raw = telco()
    raw.loc[3, "MonthlyCharges"] = np.inf
    with pytest.raises(ContractViolation, match="infinite values inf"):
        apply_mapping(raw, MAPPING, Policies(missing_values="drop_rows"))


def test_duplicate_ids_are_named() -> None:
    raw = telco()
    raw.loc[6, "customerID"] = raw.loc[0, "customerID"]
    with pytest.raises(ContractViolation, match=r"duplicated id, e.g. '1000-ABCDE' \(rows 0, 6"):
        apply_mapping(raw, MAPPING)


def test_extra_columns_with_explicit_feature_list() -> None:
    raw = telco()
    mapping = ColumnMapping(
        **{**MAPPING.__dict__, "features": ("Contract", "MonthlyCharges"), "categorical": ()}
    )
    df, contract = apply_mapping(raw, mapping, Policies(extra_columns="ignore"))
    assert contract.feature_names == ("Contract", "MonthlyCharges")
    assert list(df.columns) == [
        "customer_id",
        "duration_days",
        "event",
        "Contract",
        "MonthlyCharges",
    ]
    with pytest.raises(ContractViolation, match="column 'SeniorCitizen': not part of the feature"):
        apply_mapping(raw, mapping, Policies(extra_columns="error"))


def test_empty_table() -> None:
    with pytest.raises(EmptyPartitionError, match="no rows"):
        apply_mapping(telco().iloc[0:0], MAPPING)


# -- CLI convenience ---------------------------------------------------------------------------


def test_mapping_from_cli() -> None:
    m = mapping_from_cli("customerID", "tenure", "Churn", "Yes", "months", ["TotalCharges"])
    assert m == ColumnMapping(
        id="customerID",
        duration="tenure",
        event="Churn",
        event_value="Yes",
        time_unit="months",
        drop=("TotalCharges",),
    )
    assert m.censored_values == ("No",)
    assert mapping_from_cli("id", "t", "e", "1").event_value == 1


def test_mapping_from_cli_rejects_bad_unit_and_unknown_flag() -> None:
    with pytest.raises(DataSourceConfigError, match="time unit 'years'"):
        mapping_from_cli("id", "t", "e", "1", "years", [])
    with pytest.raises(DataSourceConfigError, match="event_censored_values"):
        mapping_from_cli("id", "t", "e", "gone", "days", [])
