"""The weekly Evidently drift report: pinned tests, bounded sample, clear input errors.

Evidently's verdict is for people to look at; these tests check that it says what a person would
expect (no drift on the same customers, drift where we planted it) and that it stays cheap on
large weeks because it only ever sees a bounded sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_platform.domain.drift import DriftThresholds, feature_drift
from churn_platform.errors import DataContractError
from churn_platform.io.evidently_report import (
    DriftReportInputError,
    EvidentlyReport,
    render_drift_report,
)

NUMERIC = ["tenure_days", "monthly_spend", "support_calls", "is_promo"]
CATEGORICAL = ["plan", "region"]
LARGE = 200_000


def _customers(
    n: int, seed: int, *, tenure_shift_sd: float = 0.0, new_plan: bool = False
) -> pd.DataFrame:
    """A synthetic weekly snapshot with the dtypes real snapshots have (Categorical, Int64, NaN)."""
    rng = np.random.default_rng(seed)
    plans = ["basic", "plus", "pro"]
    plan = rng.choice(plans, n, p=[0.5, 0.3, 0.2]).astype(object)
    if new_plan:
        # A plan launched this week: 10% of customers are on a level the reference never saw.
        plan[rng.random(n) < 0.10] = "family"
    tenure_sd = 200.0
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "tenure_days": rng.normal(700.0 + tenure_shift_sd * tenure_sd, tenure_sd, n),
            "monthly_spend": rng.gamma(2.0, 20.0, n),
            "support_calls": pd.array(rng.poisson(2.0, n), dtype="Int64"),
            "is_promo": rng.random(n) < 0.2,
            "plan": pd.Categorical(plan),
            "region": pd.Categorical(rng.choice(["north", "south", "east", "west"], n)),
            "notes": "free text that is not part of the report",
        }
    )
    frame.loc[frame.index[::50], "monthly_spend"] = np.nan
    frame.loc[frame.index[::70], "region"] = np.nan
    return frame


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _customers(20_000, seed=1)


@pytest.fixture(scope="module")
def drifted_week() -> pd.DataFrame:
    return _customers(20_000, seed=2, tenure_shift_sd=0.5, new_plan=True)


@pytest.fixture(scope="module")
def report(reference: pd.DataFrame, drifted_week: pd.DataFrame) -> EvidentlyReport:
    return render_drift_report(
        reference,
        drifted_week,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        title="Feature drift <week 2024-03-04>",
    )


def test_html_is_a_standalone_page_naming_every_feature(
    report: EvidentlyReport, tmp_path: Path
) -> None:
    page = report.html.decode("utf-8")
    assert page.lstrip().lower().startswith(("<!doctype html>", "<html"))
    assert page.rstrip().endswith("</html>")
    assert len(report.html) > 10_000
    for column in NUMERIC + CATEGORICAL:
        assert column in page
    # The title is escaped and shown both in the tab and above the widgets.
    assert "<title>Feature drift &lt;week 2024-03-04&gt;</title>" in page
    assert page.count("Feature drift &lt;week 2024-03-04&gt;") == 2
    out = tmp_path / "drift.html"
    out.write_bytes(report.html)
    assert out.stat().st_size > 10_000


def test_planted_mean_shift_and_new_level_are_reported_drifted(report: EvidentlyReport) -> None:
    assert "tenure_days" in report.drifted_columns
    assert "plan" in report.drifted_columns
    assert set(report.drifted_columns) <= set(NUMERIC + CATEGORICAL)
    assert report.share_drifted == pytest.approx(len(report.drifted_columns) / 6)
    assert report.summary["drifted_columns"] == list(report.drifted_columns)


def test_methods_are_pinned_to_ks_and_chisquare_whatever_the_sample_size(
    report: EvidentlyReport,
) -> None:
    # 5,000 rows a side is above the 1,000 rows where Evidently would pick Wasserstein.
    columns = report.summary["columns"]
    assert {columns[c]["method"] for c in NUMERIC} == {"ks"}
    assert {columns[c]["method"] for c in CATEGORICAL} == {"chisquare"}
    assert report.summary["num_method"] == "ks"
    assert report.summary["cat_method"] == "chisquare"
    # p-value tests: drifted exactly when p < threshold.
    for name, col in columns.items():
        assert col["drifted"] == (col["p_value"] < col["threshold"]), name


def test_extra_columns_are_ignored(report: EvidentlyReport) -> None:
    assert set(report.summary["columns"]) == set(NUMERIC + CATEGORICAL)
    assert "customer_id" not in report.drifted_columns


def test_identical_data_shows_no_drift(reference: pd.DataFrame) -> None:
    result = render_drift_report(reference, reference, numeric=NUMERIC, categorical=CATEGORICAL)
    assert result.drifted_columns == ()
    assert result.share_drifted == 0.0


def test_same_population_a_week_later_shows_little_drift(reference: pd.DataFrame) -> None:
    # Independent customers from the same distribution: at alpha 0.05 on 6 features, one
    # chance flag is possible; more than that would mean the report cries wolf.
    result = render_drift_report(
        reference, _customers(20_000, seed=3), numeric=NUMERIC, categorical=CATEGORICAL
    )
    assert len(result.drifted_columns) <= 1
    assert result.share_drifted <= 1 / 6


def test_large_weeks_are_sampled_to_the_bound() -> None:
    reference = _customers(LARGE, seed=4)
    current = _customers(LARGE, seed=5, tenure_shift_sd=0.5)
    result = render_drift_report(reference, current, numeric=NUMERIC, categorical=CATEGORICAL)
    assert (result.n_reference, result.n_current) == (5_000, 5_000)
    assert result.summary["n_reference_total"] == LARGE
    assert result.summary["n_current_total"] == LARGE
    assert "tenure_days" in result.drifted_columns

    smaller = render_drift_report(
        reference, current, numeric=NUMERIC, categorical=CATEGORICAL, sample_rows=1_000
    )
    assert (smaller.n_reference, smaller.n_current) == (1_000, 1_000)


def test_small_weeks_are_used_whole(reference: pd.DataFrame) -> None:
    current = _customers(800, seed=6)
    result = render_drift_report(reference, current, numeric=NUMERIC, categorical=CATEGORICAL)
    assert (result.n_reference, result.n_current) == (5_000, 800)


def test_same_seed_same_report_numbers(
    reference: pd.DataFrame, drifted_week: pd.DataFrame, report: EvidentlyReport
) -> None:
    again = render_drift_report(
        reference, drifted_week, numeric=NUMERIC, categorical=CATEGORICAL, seed=0
    )
    assert again.summary["columns"] == report.summary["columns"]
    other_seed = render_drift_report(
        reference, drifted_week, numeric=NUMERIC, categorical=CATEGORICAL, seed=1
    )
    assert other_seed.summary["columns"] != report.summary["columns"]


@pytest.mark.parametrize("side", ["reference", "current"])
def test_missing_column_is_named(side: str, reference: pd.DataFrame) -> None:
    frames = {"reference": reference, "current": reference}
    frames[side] = reference.drop(columns=["monthly_spend"])
    with pytest.raises(ValueError, match=rf"'monthly_spend'.*{side}") as info:
        render_drift_report(
            frames["reference"], frames["current"], numeric=NUMERIC, categorical=CATEGORICAL
        )
    assert isinstance(info.value, DataContractError)


def test_non_numeric_numeric_column_is_named(reference: pd.DataFrame) -> None:
    with pytest.raises(DriftReportInputError, match=r"'region'.*not numeric"):
        render_drift_report(reference, reference, numeric=["region"], categorical=["plan"])


def test_column_requested_twice_is_rejected(reference: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="plan"):
        render_drift_report(reference, reference, numeric=["plan"], categorical=["plan"])


def test_empty_week_is_rejected(reference: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="current data has no rows"):
        render_drift_report(reference, reference.iloc[:0], numeric=NUMERIC, categorical=CATEGORICAL)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """The gate's input: the features, categories as plain objects (as the app hands them)."""
    return frame[NUMERIC + CATEGORICAL].assign(
        plan=frame["plan"].astype(object), region=frame["region"].astype(object)
    )


def test_headline_is_the_gates_verdict_where_evidentlys_p_value_flags_a_tiny_shift(
    reference: pd.DataFrame,
) -> None:
    # 20,000 customers a side, tenure shifted by 0.15 SD: KS D about 0.06. On its 5,000-row
    # samples Evidently's p-value test flags tenure_days (p far below 0.01) and, with 2 of 6
    # columns at the 0.5 share, would call the dataset drifted; the gate (p < alpha AND D >= 0.1)
    # finds no breach. The page must open with the gate's "no breach", not Evidently's flag.
    week = _customers(20_000, seed=6, tenure_shift_sd=0.15)
    thresholds = DriftThresholds()
    gate = feature_drift(_plain(reference), _plain(week), NUMERIC, CATEGORICAL, thresholds)
    result = render_drift_report(
        reference,
        week,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        thresholds=thresholds,
        gate_verdict=gate,
        title="tiny shift",
    )
    # Evidently's own p-value test on its sample does flag it: left alone, the page would
    # say "drift" where the gate finds none ...
    unconfigured = render_drift_report(
        reference, week, numeric=NUMERIC, categorical=CATEGORICAL, thresholds=thresholds
    )
    assert "tenure_days" in unconfigured.drifted_columns
    tenure = next(r for r in gate if r.column == "tenure_days")
    assert tenure.p_value < thresholds.alpha and 0.03 < tenure.effect < thresholds.min_ks
    # ... configured with the gate's verdict, Evidently's own verdicts are the gate's: no column
    # drifted, no "Dataset Drift is detected", the drift score is the gate's effect.
    assert result.drifted_columns == () and result.share_drifted == 0.0
    column = result.summary["columns"]["tenure_days"]
    assert column["method"] == "platform_gate"
    assert column["p_value"] == pytest.approx(tenure.effect)  # Evidently's "drift score"
    assert column["threshold"] == thresholds.min_ks
    # ... but the page's headline and the summary are the gate's verdict: no breach.
    assert not any(r.breached for r in gate)
    verdict = result.summary["platform_verdict"]
    assert verdict["n_breached"] == 0 and verdict["n_columns"] == 6
    page = result.html.decode("utf-8")
    assert "Dataset Drift is detected" not in page
    headline = "Platform drift verdict: 0 of 6 columns breached (no breach)"
    assert verdict["headline"] == headline
    assert headline in page
    # It comes before any of Evidently's widgets, right under the title.
    assert page.index(headline) < page.index('<div id="root_')
    assert page.index("<h2", page.index("<body")) < page.index(headline)


def test_headline_names_the_breached_columns(
    reference: pd.DataFrame, drifted_week: pd.DataFrame
) -> None:
    gate = feature_drift(
        _plain(reference), _plain(drifted_week), NUMERIC, CATEGORICAL, DriftThresholds()
    )
    result = render_drift_report(
        reference, drifted_week, numeric=NUMERIC, categorical=CATEGORICAL, gate_verdict=gate
    )
    breached = sorted(r.column for r in gate if r.breached)
    assert breached == ["plan", "tenure_days"]
    headline = result.summary["platform_verdict"]["headline"]
    assert headline.startswith("Platform drift verdict: 2 of 6 columns breached (BREACH: ")
    assert headline in result.html.decode("utf-8")
    # Evidently states the same verdict: exactly the breached columns, dataset drift detected.
    assert sorted(result.drifted_columns) == breached
    assert "Dataset Drift is detected" in result.html.decode("utf-8")


def test_one_breached_column_is_dataset_drift(reference: pd.DataFrame) -> None:
    import dataclasses

    gate = feature_drift(
        _plain(reference), _plain(reference), NUMERIC, CATEGORICAL, DriftThresholds()
    )
    assert not any(r.breached for r in gate)
    one = [dataclasses.replace(r, breached=r.column == "region") for r in gate]
    result = render_drift_report(
        reference, reference, numeric=NUMERIC, categorical=CATEGORICAL, gate_verdict=one
    )
    assert result.drifted_columns == ("region",)
    assert "Dataset Drift is detected" in result.html.decode("utf-8")
    none = render_drift_report(
        reference, reference, numeric=NUMERIC, categorical=CATEGORICAL, gate_verdict=gate
    )
    assert none.drifted_columns == () and "Dataset Drift is detected" not in none.html.decode()


def test_gate_verdict_must_cover_every_reported_column(reference: pd.DataFrame) -> None:
    gate = feature_drift(_plain(reference), _plain(reference), NUMERIC, ["plan"], DriftThresholds())
    with pytest.raises(DriftReportInputError, match=r"no result for column\(s\) \['region'\]"):
        render_drift_report(
            reference, reference, numeric=NUMERIC, categorical=CATEGORICAL, gate_verdict=gate
        )
