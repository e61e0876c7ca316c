"""The insight assets through Dagster on a simulated base whose churn drivers change.

The model is trained on the half year before FIRST; from FIRST on, support calls matter much
more and contracts much less (concept drift: the features do not move, so the drift monitors
stay quiet). The performance-estimate check must fail inside the lag window, from partial
labels, before the full delayed evaluation is due. Real PostgreSQL, MLflow and Dagster runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from churn_platform.app.model_card import MODEL_CARD_ARTIFACT
from churn_platform.defs.definitions import ASSETS
from churn_platform.defs.insights.assets import (
    EARLY_WARNING_CHECK,
    ESTIMATE_CHECK,
    insights_store,
)
from churn_platform.defs.resources import MonitoringResource
from churn_platform.entry.loop import QUIET
from churn_platform_tests.support.dagster import make_resources
from churn_platform_tests.support.materialize import train_run

pytestmark = pytest.mark.slow  # trains a model and runs 5 weeks of insight assets

FIRST = date(2025, 7, 7)
LAG = 4
WEEKS = [FIRST + timedelta(weeks=k) for k in range(LAG + 1)]
SELECTION = [
    "customer_features",
    "churn_scores",
    "churn_labels",
    "delayed_evaluation",
    "performance_estimate",
    "segment_monitoring",
    "retention_list",
]


def _checks(result: Any) -> dict[str, bool]:
    return {
        e.check_name: e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key.path == ["performance_estimate"]
    }


@pytest.fixture(scope="module")
def history(
    pg_url: str, mlflow_tracking_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tag = uuid.uuid4().hex[:6]
    resources = make_resources(
        pg_url,
        mlflow_tracking_uri,
        tmp_path_factory.mktemp("insights"),
        schema=f"ins_{tag}",
        model_name=f"ins_{tag}",
        sim_customers=20_000,
        sim_seed=5,
        sim_concept_drift_week=FIRST.isoformat(),
        sim_label_delay_weeks=1,
    )
    resources["monitoring"] = MonitoringResource(label_lag_weeks=LAG, retention_top_n=50)
    with DagsterInstance.ephemeral() as instance:
        model = train_run(ASSETS, resources, instance, FIRST, label_window_weeks=26, reason="test")
        registry = resources["mlflow_resource"].registry(resources["warehouse"])
        registry.promote(int(model["model_version"]), approver="tester", reason="test")
        checks: dict[date, bool] = {}
        meta: dict[date, dict[str, Any]] = {}
        early: dict[date, Any] = {}
        for week in WEEKS:
            result = materialize(
                ASSETS,
                selection=SELECTION,
                partition_key=week.isoformat(),
                resources=resources,
                instance=instance,
                run_config=QUIET,
            )
            checks[week] = _checks(result)[ESTIMATE_CHECK]
            early[week] = next(
                e
                for e in result.get_asset_check_evaluations()
                if e.check_name == EARLY_WARNING_CHECK
            )
            mats = result.asset_materializations_for_node("performance_estimate")
            meta[week] = {k: v.value for k, v in mats[0].metadata.items()}
        rerun = materialize(
            ASSETS,
            selection=["retention_list"],
            partition_key=WEEKS[-1].isoformat(),
            resources=resources,
            instance=instance,
            run_config=QUIET,
        )
        assert rerun.success
        yield {
            "resources": resources,
            "model": model,
            "checks": checks,
            "meta": meta,
            "early": early,
        }


def test_concept_drift_fails_the_estimate_check_inside_the_lag_window(history) -> None:  # type: ignore[no-untyped-def]
    checks, meta = history["checks"], history["meta"]
    failed = [w for w, passed in checks.items() if not passed]
    assert failed, {w: m["max_abs_gap"] for w, m in meta.items()}
    assert min(failed) < FIRST + timedelta(weeks=LAG)  # before the full evaluation is due
    assert checks[WEEKS[0]]  # nothing to compare yet in the first week
    store = insights_store(history["resources"]["warehouse"])
    rows = store.read_estimates()
    forecast = rows[rows["kind"] == "forecast"]
    assert sorted(forecast["scoring_week"]) == WEEKS
    assert (forecast["tau_days"] == 7 * (LAG - 1)).all()
    first = forecast[forecast["scoring_week"] == FIRST].iloc[0]
    threshold = MonitoringResource().estimate_gap_threshold
    assert first["realised_c_index"] < first["est_c_index"] - threshold
    evals = history["resources"]["warehouse"].evaluations().read()
    assert first["realised_c_index"] == pytest.approx(
        float(evals[evals["scoring_week"] == FIRST]["c_index"].iloc[0])
    )
    interim = rows[rows["kind"] == "interim"]
    assert not interim.empty and (interim["gap_c_index"] < 0).all()


def test_retention_list_table_and_csv_are_stable_under_rerun(history) -> None:  # type: ignore[no-untyped-def]
    resources = history["resources"]
    week = WEEKS[-1]
    table = insights_store(resources["warehouse"]).read_retention(week)
    assert list(table["rank"]) == list(range(1, 51))
    assert table["revenue_at_risk"].is_monotonic_decreasing
    csv = resources["artifacts"].store().get_bytes(f"retention/{week}.csv")
    frame = pd.read_csv(pd.io.common.BytesIO(csv))
    assert list(frame["customer_id"]) == list(table["customer_id"])
    assert {"revenue_at_risk_30d", "revenue_at_risk_90d", "top_drivers"} <= set(frame.columns)


def test_segment_monitoring_reports_big_segments_and_suppresses_small(history) -> None:  # type: ignore[no-untyped-def]
    store = insights_store(history["resources"]["warehouse"])
    drift = store.read_segments(week=WEEKS[-1], kind="drift")
    assert {"contract", "region", "tenure_days"} == set(drift["segment_column"])
    evaluation = store.read_segments(week=WEEKS[-1], kind="evaluation")
    assert (evaluation["scoring_week"] == FIRST).all()
    assert evaluation.loc[evaluation["suppressed"], "c_index"].isna().all()
    shown = evaluation[~evaluation["suppressed"]]
    assert not shown.empty and shown["c_index"].between(0.5, 1.0).all()


def test_model_card_is_logged_to_the_run_and_linked(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = history["model"]
    assert str(model["model_card"]).endswith(MODEL_CARD_ARTIFACT)
    local = mlflow.artifacts.download_artifacts(
        run_id=model["mlflow_run_id"], artifact_path=MODEL_CARD_ARTIFACT, dst_path=str(tmp_path)
    )
    html = Path(local).read_text()
    for part in (
        "Holdout metrics",
        "Calibration at each horizon",
        "Survival curves by risk decile",
    ):
        assert part in html
    assert "data:image/png;base64," in html


def test_early_warning_tests_every_interim_cohort(history) -> None:  # type: ignore[no-untyped-def]
    """Observed churners so far vs the sum of predicted probabilities, for each cohort inside
    the lag window, as a WARN check with the numbers, and on the scoring model's MLflow run."""
    early = history["early"]
    assert set(early) == set(WEEKS)
    # partition-aware: each result belongs to the week that was materialized
    assert all(e.partition == w.isoformat() for w, e in early.items())
    assert early[WEEKS[0]].passed and early[WEEKS[0]].metadata["cohorts_tested"].value == 0
    last = early[WEEKS[-1]]
    tests = last.metadata["tests"].value
    assert last.metadata["cohorts_tested"].value == len(tests) >= 1
    for t in tests:
        assert t["observed"] >= 0 and t["expected"] > 0 and 0 <= t["p_value"] <= 1
        assert t["warns"] == (t["p_value"] < 0.01 and abs(t["ratio"] - 1) >= 0.2)
    assert last.passed == (not any(t["warns"] for t in tests))
    run_id = history["model"]["mlflow_run_id"]
    registry = history["resources"]["mlflow_resource"].registry(history["resources"]["warehouse"])
    assert "estimate.interim_oe_ratio" in registry.run_metrics(run_id)
