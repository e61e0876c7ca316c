"""Segment metrics equal the global metrics computed on the segment alone; small segments are
suppressed, not reported."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from churn_platform.app.monitoring import evaluate_cohort, features_drift, scores_drift
from churn_platform.domain.drift import DriftThresholds
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.domain.segments import (
    SegmentPolicy,
    band_edges,
    reference_bands,
    segment_drift,
    segment_evaluation,
    segment_labels,
    worst_segments,
)
from churn_platform.domain.simulator import CustomerSimulator, SimulatorConfig

HORIZONS = [30]
WEEK = date(2025, 3, 3)


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A simulated cohort scored with the true hazard (a perfect-ranking stand-in model)."""
    sim = CustomerSimulator(SimulatorConfig(n_customers=4_000, seed=2, label_delay_weeks=0))
    features = sim.features_for_week(WEEK)
    risk = np.exp(features["true_log_hazard"].to_numpy())
    preds = pd.DataFrame(
        {
            "customer_id": features["customer_id"],
            "risk_score": risk,
            "churn_prob_30d": 1 - np.exp(-30 * risk),
        }
    )
    labels = sim.labels_for_cohort(WEEK, WEEK + timedelta(weeks=26))
    return preds, labels, features


def test_each_segment_equals_the_global_evaluation_on_its_customers_alone(cohort) -> None:  # type: ignore[no-untyped-def]
    preds, labels, features = cohort
    policy = SegmentPolicy(min_customers=100, min_events=10)
    out = segment_evaluation(preds, labels, features, ["contract", "region"], HORIZONS, policy)
    reported = out[~out["suppressed"]]
    assert len(reported) >= 6  # 3 contracts + 4 regions; two-year may have too few churns
    for row in reported.itertuples():
        ids = features.loc[features[row.segment_column] == row.segment_value, "customer_id"]
        alone = evaluate_cohort(
            preds[preds["customer_id"].isin(ids)], labels[labels["customer_id"].isin(ids)], HORIZONS
        )
        assert row.c_index == alone.c_index
        assert row.uno_c == pytest.approx(alone.uno_c, nan_ok=True)
        assert row.brier_30d == pytest.approx(alone.brier[30])
        assert (row.n, row.n_events) == (alone.n, alone.n_events)


def test_small_segments_are_suppressed_with_a_reason_and_no_metric(cohort) -> None:  # type: ignore[no-untyped-def]
    preds, labels, features = cohort
    features = features.copy()
    features["vip"] = np.where(features["customer_id"] % 100 == 0, "yes", "no")
    policy = SegmentPolicy(min_customers=200, min_events=10)
    out = segment_evaluation(preds, labels, features, ["vip"], HORIZONS, policy)
    small = out[out["segment_value"] == "yes"].iloc[0]
    assert bool(small["suppressed"]) and "< 200" in small["reason"]
    assert np.isnan(small["c_index"])
    big = out[out["segment_value"] == "no"].iloc[0]
    assert not bool(big["suppressed"]) and 0.5 < big["c_index"] <= 1.0
    assert list(worst_segments(out, "c_index")["segment_value"]) == ["no"]


def test_numeric_segments_are_cut_into_reference_quantile_bands(cohort) -> None:  # type: ignore[no-untyped-def]
    _, _, features = cohort
    edges = band_edges(features["tenure_days"], 4)
    assert edges is not None and len(edges) == 3
    labels = segment_labels(features["tenure_days"], edges)
    assert labels.nunique() == 4 and labels.iloc[0].startswith("[")
    assert band_edges(features["contract"], 4) is None


def _scored(sim: CustomerSimulator, week: date) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    features = sim.features_for_week(week)
    risk = np.exp(features["true_log_hazard"].to_numpy())
    preds = pd.DataFrame(
        {
            "customer_id": features["customer_id"],
            "risk_score": risk,
            "churn_prob_30d": 1 - np.exp(-30 * risk),
        }
    )
    return preds, sim.labels_for_cohort(week, week + timedelta(weeks=26)), features


def test_two_weeks_are_cut_at_the_same_reference_band_edges(cohort) -> None:  # type: ignore[no-untyped-def]
    # The reference is the training sample (here: the cohort week's customers); two later weeks
    # have other customers and other tenure quantiles, yet must be cut at the same edges.
    _, _, reference = cohort
    sim = CustomerSimulator(SimulatorConfig(n_customers=4_000, seed=2, label_delay_weeks=0))
    week_a, week_b = (
        _scored(sim, WEEK + timedelta(weeks=4)),
        _scored(sim, WEEK + timedelta(weeks=20)),
    )
    own_a, own_b = band_edges(week_a[2]["tenure_days"], 4), band_edges(week_b[2]["tenure_days"], 4)
    assert own_a != own_b  # each week's own quantiles move: the bug this guards against

    edges = reference_bands(reference, ["tenure_days", "contract"], 4)
    assert edges["tenure_days"] == band_edges(reference["tenure_days"], 4)
    assert edges["contract"] is None
    policy = SegmentPolicy(min_customers=1, min_events=1)
    out = [
        segment_evaluation(p, lab, f, ["tenure_days", "contract"], HORIZONS, policy, edges=edges)
        for p, lab, f in (week_a, week_b)
    ]
    names = [set(o.loc[o["segment_column"] == "tenure_days", "segment_value"]) for o in out]
    expected = set(segment_labels(reference["tenure_days"], edges["tenure_days"]))
    assert names[0] == names[1] == expected and len(expected) == 4
    # Each segment keeps its customers: the labels are those of the reference edges.
    _, a_labels, a_features = week_a
    tenure = out[0][out[0]["segment_column"] == "tenure_days"].set_index("segment_value")["n"]
    counts = segment_labels(
        a_features.set_index("customer_id").loc[a_labels["customer_id"], "tenure_days"],
        edges["tenure_days"],
    ).value_counts()
    assert tenure.sort_index().tolist() == counts.sort_index().tolist()
    with pytest.raises(ValueError, match="region"):
        segment_evaluation(*week_a, ["region"], HORIZONS, policy, edges=edges)


def test_segment_drift_equals_global_drift_on_the_segment_and_suppresses_small(cohort) -> None:  # type: ignore[no-untyped-def]
    preds, _, reference = cohort
    sim = CustomerSimulator(
        SimulatorConfig(n_customers=4_000, seed=2, feature_drift_week=WEEK + timedelta(weeks=4))
    )
    current = sim.features_for_week(WEEK + timedelta(weeks=4))
    ref_scores = preds["risk_score"].to_numpy()
    cur_scores = np.exp(current["true_log_hazard"].to_numpy())
    thresholds = DriftThresholds()
    out = segment_drift(
        reference,
        ref_scores,
        current,
        cur_scores,
        ["contract"],
        DEFAULT_CONTRACT,
        thresholds,
        SegmentPolicy(min_customers=900),
    )
    for row in out.itertuples():
        rmask = (reference["contract"] == row.segment_value).to_numpy()
        cmask = (current["contract"] == row.segment_value).to_numpy()
        if min(rmask.sum(), cmask.sum()) < 900:
            assert row.suppressed and np.isnan(row.score_ks)
            continue
        score = scores_drift(ref_scores[rmask], cur_scores[cmask], thresholds).results[0]
        feats = features_drift(reference[rmask], current[cmask], DEFAULT_CONTRACT, thresholds)
        assert row.score_ks == score.statistic
        assert row.n_features_breached == len(feats.breached)
    assert out["suppressed"].any() and (~out["suppressed"]).any()
    assert (out.loc[~out["suppressed"], "n_features_breached"] > 0).all()  # prices went up
