"""Must show: with a perfectly calibrated model, the logged Brier at every reported horizon is
within 0.005 of the Monte-Carlo truth, and nothing is logged beyond follow-up.

The "model" is the simulator's own hazard: for a customer with log-hazard
``c + log_tenure_effect(tenure)`` (linear mode, no drift) the true survival over the next ``h``
days is ``exp(-exp(c) * integral_0^h exp(log_tenure_effect(tenure + s)) ds)``. The truth is the
plain mean squared error ``mean((1[T > h] - S(h))^2)`` over the same customers with their
*uncensored* churn times (labels read far in the future). The logged numbers are exactly what
the delayed evaluation sends to MLflow (:func:`evaluation_metrics` of :func:`evaluate_cohort`).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from churn_platform.app.monitoring import evaluate_cohort, evaluation_metrics
from churn_platform.domain.metrics import brier_score
from churn_platform.domain.simulator import (
    TRUE_LOG_HAZARD,
    CustomerSimulator,
    SimulatorConfig,
    log_tenure_effect,
)

HORIZONS = [7, 30, 60, 90, 180]
LAG_WEEKS, DELAY_WEEKS = 13, 4  # the defaults: outcomes known for 13*7 - 4*7 = 63 days
START = date(2025, 1, 6)


def _true_survival(features: pd.DataFrame, horizons: list[int]) -> dict[int, np.ndarray]:
    tenure = features["tenure_days"].to_numpy(float)
    customer_part = features[TRUE_LOG_HAZARD].to_numpy(float) - log_tenure_effect(tenure, False)
    step = 0.25
    out: dict[int, np.ndarray] = {}
    cum = np.zeros(tenure.size)
    s = 0.0
    for h in sorted(horizons):
        while s < h - 1e-9:
            cum += step * np.exp(log_tenure_effect(tenure + s + step / 2, False))
            s += step
        out[h] = np.exp(-np.exp(customer_part) * cum)
    return out


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sim = CustomerSimulator(
        SimulatorConfig(
            n_customers=20_000,
            seed=11,
            nonlinear=False,
            label_delay_weeks=DELAY_WEEKS,
            baseline_hazard_per_year=1.0,
        )
    )
    week = START + timedelta(weeks=30)
    features = sim.features_for_week(week)
    surv = _true_survival(features, HORIZONS)
    preds = pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "risk_score": np.exp(features[TRUE_LOG_HAZARD].to_numpy(float)),
            **{f"churn_prob_{h}d": 1.0 - surv[h] for h in HORIZONS},
        }
    )
    matured = sim.labels_for_cohort(week, week + timedelta(weeks=LAG_WEEKS))
    uncensored = sim.labels_for_cohort(week, week + timedelta(weeks=60))
    return preds, matured, uncensored


def _truth(preds: pd.DataFrame, uncensored: pd.DataFrame, h: int) -> float:
    joined = preds.merge(uncensored, on="customer_id")
    assert (joined["duration_days"] > h).sum() > 0 and joined["duration_days"].max() > 180
    survived = (joined["duration_days"] > h).to_numpy(float)
    return float(np.mean(np.square(survived - (1.0 - joined[f"churn_prob_{h}d"]))))


def test_calibrated_model_brier_matches_monte_carlo_truth_inside_follow_up(cohort) -> None:  # type: ignore[no-untyped-def]
    preds, matured, uncensored = cohort
    ev = evaluate_cohort(preds, matured, HORIZONS)
    logged = evaluation_metrics(ev)
    follow_up = float(matured["duration_days"].max())
    assert follow_up == pytest.approx((LAG_WEEKS - DELAY_WEEKS) * 7)
    reported = sorted(int(k[len("delayed.brier_") : -1]) for k in logged if "brier_" in k)
    assert reported == [h for h in HORIZONS if h < follow_up] == [7, 30, 60]
    for h in reported:
        truth = _truth(preds, uncensored, h)
        assert abs(logged[f"delayed.brier_{h}d"] - truth) < 0.005, (h, logged, truth)
    # nothing beyond follow-up: no Brier, no AUC, no IBS; each absence has a reason
    for h in (90, 180):
        assert f"delayed.brier_{h}d" not in logged and f"delayed.auc_{h}d" not in logged
        assert "no customer was followed up" in ev.undefined[f"brier_{h}d"]
    assert "delayed.ibs" not in logged and "ibs" in ev.undefined
    # What used to be logged at 90 days: nobody is a control (all still active were censored
    # at day 63), so only churners count, each with predicted S(90)^2: far below the truth.
    joined = preds.merge(matured, on="customer_id")
    churned = joined["event"].to_numpy(bool)
    old_value = float(np.sum(np.square(1.0 - joined["churn_prob_90d"][churned])) / len(joined))
    assert old_value < _truth(preds, uncensored, 90) - 0.02


def test_calibrated_model_brier_with_ties_and_random_censoring() -> None:
    """Day-resolution ties and ~50% independent censoring: G(T_i-) weights stay within 0.005
    of the truth at every horizon; G(T_i) weights are biased upwards (kept for comparison)."""
    rng = np.random.default_rng(3)
    n = 100_000
    scale = 60.0 * np.exp(-0.7 * rng.normal(size=n))
    churn_day = np.ceil(rng.exponential(scale))
    censor_day = np.ceil(rng.exponential(60.0, n))
    d = np.minimum(churn_day, censor_day)
    e = (churn_day <= censor_day).astype(int)
    assert 0.4 < 1 - e.mean() < 0.6
    bias_at_time = []
    for h in (7, 30, 60, 90):
        s = np.exp(-h / scale)
        truth = float(np.mean(np.square((churn_day > h) - s)))
        assert abs(brier_score(d, e, d, e, s, h) - truth) < 0.005
        bias_at_time.append(brier_score(d, e, d, e, s, h, censoring_weights="at_time") - truth)
    assert min(bias_at_time) > 0  # the old convention overstates the error at every horizon
