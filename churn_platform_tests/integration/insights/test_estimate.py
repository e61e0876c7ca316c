"""Label-free performance estimate: the maths, then the claim on simulated data.

Without concept drift the estimated C-index is within 0.02 of the realised one; with concept
drift the realised C-index falls below the estimate by more than the default gap threshold,
already on the partial labels known a few weeks after scoring (inside the lag window).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from churn_platform.defs.resources import MonitoringResource
from churn_platform.domain.estimate import (
    compare_with_labels,
    cox_survival_grid,
    estimate_cox_performance,
    expected_brier,
    expected_concordance,
    label_window_days,
    observed_window_days,
    sample_positions,
)
from churn_platform.domain.metrics import fast_harrell_c
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.domain.simulator import CustomerSimulator, SimulatorConfig
from churn_platform.domain.survival import BreslowBaseline
from churn_platform.model.train import TrainConfig, train_models
from churn_platform.model.xgb_cox import XGBCoxModel

LINEAR = BreslowBaseline(
    times=np.arange(1.0, 401.0), cumulative_hazard=0.002 * np.arange(1.0, 401.0)
)


def _closed_form_c(risk: np.ndarray, h0_tau: float) -> float:
    """Exact expected C under proportional hazards: r_i/(r_i+r_j) (1 - exp(-(r_i+r_j) H0))."""
    ri, rj = risk[:, None], risk[None, :]
    first = ri / (ri + rj) * (1 - np.exp(-(ri + rj) * h0_tau))
    conc = np.where(ri > rj, first, 0.0) + np.where(ri == rj, 0.5 * first, 0.0)
    np.fill_diagonal(conc, 0.0)
    s = np.exp(-risk * h0_tau)
    comparable = 1 - np.outer(s, s)
    np.fill_diagonal(comparable, 0.0)
    return float(conc.sum() / (comparable.sum() / 2))


def test_grid_concordance_matches_the_proportional_hazards_closed_form() -> None:
    rng = np.random.default_rng(1)
    risk = np.exp(rng.normal(0, 1, 400))
    times, surv = cox_survival_grid(LINEAR, risk, tau=63.0)
    assert times[-1] == 63.0
    est = expected_concordance(risk, times, surv)
    assert est == pytest.approx(_closed_form_c(risk, float(LINEAR.at(63.0))), abs=2e-3)


def test_expected_c_matches_monte_carlo_draws_from_the_predicted_curves() -> None:
    rng = np.random.default_rng(2)
    risk = np.exp(rng.normal(0, 0.8, 3000))
    times, surv = cox_survival_grid(LINEAR, risk, tau=63.0)
    est = expected_concordance(risk, times, surv)
    realised = []
    for _ in range(10):  # one draw has a spread of about 0.012; the mean of ten about 0.004
        draws = rng.exponential(1.0 / (0.002 * risk))  # T with hazard 0.002 r
        event = (draws < 63.0).astype(int)
        realised.append(fast_harrell_c(np.minimum(draws, 63.0), event, risk))
    assert est == pytest.approx(float(np.mean(realised)), abs=0.01)


def test_tied_risks_give_one_half_and_uninformative_scores() -> None:
    risk = np.ones(50)
    times, surv = cox_survival_grid(LINEAR, risk, tau=30.0)
    assert expected_concordance(risk, times, surv) == pytest.approx(0.5)


def test_expected_brier_is_the_mean_bernoulli_variance() -> None:
    assert expected_brier(np.array([1.0, 0.5, 0.9])) == pytest.approx((0 + 0.25 + 0.09) / 3)
    with pytest.raises(ValueError, match="probabilities"):
        expected_brier(np.array([1.2]))


def test_label_window_is_the_lag_minus_the_label_delay() -> None:
    assert label_window_days(13, 4) == 63.0
    assert label_window_days(13) == 91.0
    with pytest.raises(ValueError, match="label window is empty"):
        label_window_days(3, 3)


def test_sample_depends_on_the_customers_not_on_row_order() -> None:
    ids = np.arange(1000) * 7
    shuffled = np.random.default_rng(0).permutation(ids)
    a = ids[sample_positions(1000, 100, seed=3, ids=ids)]
    b = shuffled[sample_positions(1000, 100, seed=3, ids=shuffled)]
    assert sorted(a) == sorted(b) and len(set(a)) == 100
    assert list(sample_positions(5, 100)) == [0, 1, 2, 3, 4]


def test_estimate_reports_brier_per_horizon_and_expected_churns() -> None:
    risk = np.array([0.5, 1.0, 2.0, 4.0])
    est = estimate_cox_performance(risk, LINEAR, 63.0, [30, 90])
    s30 = np.exp(-0.06 * risk)
    assert est.brier[30] == pytest.approx(float(np.mean(s30 * (1 - s30))))
    assert est.expected_events == pytest.approx(float(np.sum(1 - np.exp(-0.126 * risk))))
    assert (est.n, est.n_sampled, est.tau_days) == (4, 4, 63.0)


def test_observed_window_is_the_follow_up_of_the_censored() -> None:
    assert observed_window_days([3.0, 21.0, 21.0], [1, 0, 0]) == 21.0
    assert observed_window_days([3.0, 9.0], [1, 1]) == 9.0


# ------------------------------------------------------------------ simulated business

START = date(2025, 1, 6)
FIRST = START + timedelta(weeks=26)
DRIFT = FIRST + timedelta(weeks=2)
LAG, DELAY = 13, 4
WEEKS = [FIRST + timedelta(weeks=k) for k in range(0, 8, 2)]


@pytest.fixture(scope="module")
def model() -> XGBCoxModel:
    """Trained on the half year before FIRST (identical with and without the later drift)."""
    sim = CustomerSimulator(SimulatorConfig(n_customers=20_000, seed=5))
    frame = DEFAULT_CONTRACT.validate(
        sim.training_frame(FIRST - timedelta(weeks=26), FIRST), with_target=True
    )
    return train_models(frame, DEFAULT_CONTRACT, TrainConfig(nthread=2)).model


def _gaps(model: XGBCoxModel, concept_drift: date | None, weeks_known: int) -> list[float]:
    sim = CustomerSimulator(
        SimulatorConfig(n_customers=20_000, seed=5, concept_drift_week=concept_drift)
    )
    gaps = []
    for week in WEEKS:
        features = DEFAULT_CONTRACT.validate(sim.features_for_week(week))
        preds = pd.DataFrame(
            {
                "customer_id": features["customer_id"].to_numpy(),
                "risk_score": np.exp(model.log_partial_hazard(features)),
            }
        )
        labels = sim.labels_for_cohort(week, week + timedelta(weeks=weeks_known))
        tau = label_window_days(weeks_known, DELAY)
        cmp = compare_with_labels(preds, labels, model.baseline, [30], tau_days=tau)
        assert cmp.estimate.tau_days == observed_window_days(labels.duration_days, labels.event)
        gaps.append(cmp.gap_c_index)
    return gaps


def test_without_concept_drift_the_estimate_is_within_002_of_the_realised_c(model) -> None:  # type: ignore[no-untyped-def]
    gaps = _gaps(model, None, LAG)
    assert max(abs(g) for g in gaps) < 0.02, gaps


def test_with_concept_drift_the_gap_opens_within_the_lag_window(model) -> None:  # type: ignore[no-untyped-def]
    threshold = MonitoringResource().estimate_gap_threshold
    interim = _gaps(model, DRIFT, 7)  # labels known 7 weeks after scoring (lag is 13)
    full = _gaps(model, DRIFT, LAG)
    assert all(g < -threshold for g in interim), interim
    assert all(g < -threshold for g in full), full
