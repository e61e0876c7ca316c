"""Pure metric building: which series a snapshot of the monitoring tables becomes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from churn_platform.app.observability import (
    ALLOWED_LABELS,
    MonitoringSnapshot,
    ScoringJobStatus,
    build_metric_families,
    registry_for,
    series_count,
    week_timestamp,
)
from churn_platform_tests.support import history
from churn_platform_tests.support.observability import snapshot

HORIZONS = (30, 90, 180)


def _samples(snapshot: MonitoringSnapshot) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry_for(build_metric_families(snapshot))).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _get(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples[(name, frozenset(labels.items()))]


def test_c_index_is_latest_evaluated_week_per_version_and_newest_cohort() -> None:
    s = _samples(snapshot())
    # v1's latest evaluated week is WEEKS[2] (0.741), v2's is WEEKS[3] (0.803)
    assert _get(s, "churn_model_c_index", model_name="m", model_version="1") == 0.741
    assert _get(s, "churn_model_c_index", model_name="m", model_version="2") == 0.803
    latest = {k: v for k, v in s.items() if k[0] == "churn_model_latest_c_index"}
    assert latest == {
        (
            "churn_model_latest_c_index",
            frozenset({("model_name", "m"), ("model_version", "2")}),
        ): 0.803
    }
    assert _get(
        s, "churn_model_evaluated_week_timestamp_seconds", model_name="m", model_version="1"
    ) == week_timestamp(history.WEEKS[2])
    assert _get(s, "churn_model_uno_c_index", model_name="m", model_version="2") == 0.793


def test_drift_series_are_latest_week_per_feature_with_test_label() -> None:
    s = _samples(snapshot())
    last = history.feature_drift(history.WEEKS[-1]).set_index("column_name")
    for feature, test in history.FEATURES.items():
        labels = {
            "model_name": "m",
            "model_version": "2",
            "kind": "feature",
            "feature": feature,
            "test": test,
        }
        assert _get(s, "churn_drift_effect", **labels) == pytest.approx(last.loc[feature, "effect"])
        assert _get(s, "churn_drift_p_value", **labels) == last.loc[feature, "p_value"]
        assert _get(s, "churn_drift_breached", **labels) == float(last.loc[feature, "breached"])
    assert (
        _get(
            s,
            "churn_drift_breached",
            model_name="m",
            model_version="2",
            kind="feature",
            feature="monthly_charges",
            test="ks",
        )
        == 1.0
    )
    n_drift = [k for k in s if k[0] == "churn_drift_p_value"]
    assert len(n_drift) == len(history.FEATURES) + 1  # features + risk_score, one week only


def test_scoring_alias_job_and_threshold_series() -> None:
    snap = snapshot()
    s = _samples(snap)
    assert _get(s, "churn_scoring_rows", model_name="m", model_version="2") == 200
    risk = snap.scores["risk_score"].to_numpy()
    assert _get(
        s, "churn_score_quantile", model_name="m", model_version="2", quantile="0.5"
    ) == pytest.approx(float(np.quantile(risk, 0.5)))
    assert _get(s, "churn_scoring_last_scored_timestamp_seconds", model_name="m") == (
        snap.scores["scored_at"].max().timestamp()
    )
    assert _get(s, "churn_model_production_version", model_name="m") == 2
    assert _get(s, "churn_model_alias_version", model_name="m", alias="challenger") == 2
    assert _get(s, "churn_scoring_job_last_run_failed") == 1.0
    assert _get(s, "churn_scoring_job_duration_seconds") == 42.0
    assert _get(s, "churn_scoring_step_duration_seconds") == 7.5
    assert _get(s, "churn_monitoring_threshold", threshold="min_psi") == 0.2
    ok = _samples(snapshot(scoring_job=ScoringJobStatus("SUCCESS", 1.0, 1.0, 1.0, None)))
    assert _get(ok, "churn_scoring_job_last_run_failed") == 0.0
    assert not [k for k in ok if k[0] == "churn_scoring_step_duration_seconds"]


def test_labels_stay_low_cardinality_and_no_nan_is_published() -> None:
    snap = snapshot()
    snap.evaluations.loc[0, "uno_c"] = np.nan  # an older week: not published anyway
    snap.evaluations.loc[3, "ibs"] = np.nan  # v2's latest week: its IBS series is skipped
    families = build_metric_families(snap)
    for family in families:
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS
            assert "customer_id" not in sample.labels
            assert np.isfinite(sample.value)
    s = _samples(snap)
    assert (
        "churn_model_integrated_brier_score",
        frozenset({("model_name", "m"), ("model_version", "2")}),
    ) not in s
    # more customers do not mean more series
    big = history.predictions(history.WEEKS[-1], "m", 5_000, HORIZONS)
    bigger = snapshot(scores=big[["model_name", "model_version", "risk_score", "scored_at"]])
    baseline = series_count(build_metric_families(snapshot()))
    assert series_count(build_metric_families(bigger)) == baseline


def test_empty_tables_publish_only_thresholds_and_export_time() -> None:
    snap = MonitoringSnapshot(
        thresholds={"c_index": 0.75}, exported_at=datetime(2025, 1, 6, tzinfo=UTC)
    )
    names = {f.name for f in build_metric_families(snap)}
    assert names == {"churn_monitoring_threshold", "churn_metrics_export_timestamp_seconds"}


def test_week_timestamp_is_monday_midnight_utc() -> None:
    assert week_timestamp(date(2025, 7, 7)) == datetime(2025, 7, 7, tzinfo=UTC).timestamp()
    assert week_timestamp("2025-07-07") == week_timestamp(pd.Timestamp("2025-07-07"))
