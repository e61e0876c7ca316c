"""Calibration at a horizon: decile table vs lifelines' Kaplan-Meier, ICI/E50/E90 and slope
on predictions whose truth is known (calibrated, too high, too low, too extreme)."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from churn_platform.domain.calibration import (
    calibration_at,
    cloglog,
    observed_vs_expected,
    rcs_basis,
)


def _cohort(n: int, seed: int, window: float = 63.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exponential churn with a known rate per customer, administrative censoring at ``window``
    and some earlier random censoring (customers whose labels stopped)."""
    rng = np.random.default_rng(seed)
    rate = np.exp(-4.5 + 0.8 * rng.normal(size=n))
    churn = rng.exponential(1.0 / rate)
    cens = np.minimum(window, rng.uniform(10, 400, n))
    return np.minimum(churn, cens), (churn <= cens).astype(int), rate


def test_calibrated_predictions_have_small_ici_and_unit_slope() -> None:
    d, e, rate = _cohort(20_000, 1)
    p = 1.0 - np.exp(-30 * rate)
    res = calibration_at(p, d, e, 30)
    assert res.defined and res.n == 20_000
    assert res.ici < 0.004 and res.e50 <= res.e90
    assert res.slope == pytest.approx(1.0, abs=0.08)
    assert res.observed_risk == pytest.approx(res.expected_risk, abs=0.006)


@pytest.mark.parametrize(
    ("transform", "slope_side"),
    [
        (lambda p: np.clip(1.6 * p, 0, 1), None),  # too high everywhere
        (lambda p: 0.6 * p, None),  # too low everywhere
        (lambda p: 1.0 - np.exp(-np.exp(2.0 * cloglog(p) + 3.0)), "below"),  # too extreme
    ],
)
def test_miscalibrated_predictions_raise_ici(transform, slope_side) -> None:  # type: ignore[no-untyped-def]
    d, e, rate = _cohort(20_000, 2)
    p = 1.0 - np.exp(-30 * rate)
    good = calibration_at(p, d, e, 30)
    bad = calibration_at(transform(p), d, e, 30)
    assert bad.ici > 3 * good.ici and bad.ici > 0.01
    if slope_side == "below":
        assert bad.slope < 0.7  # Cox coefficient of cloglog(p): 1/2 for a doubled cloglog


def test_deciles_are_kaplan_meier_per_risk_group() -> None:
    d, e, rate = _cohort(3_000, 3)
    p = 1.0 - np.exp(-30 * rate)
    res = calibration_at(p, d, e, 30)
    assert list(res.deciles["group"]) == list(range(1, 11))
    assert res.deciles["n"].sum() == 3_000
    order = np.argsort(p, kind="stable")
    # outcomes censored at the horizon, as the module does
    dh, eh = np.minimum(d, 30.0), np.where(d <= 30, e, 0)
    for g, chunk in enumerate(np.array_split(order, 10), start=1):
        row = res.deciles.loc[res.deciles["group"] == g].iloc[0]
        kmf = KaplanMeierFitter().fit(dh[chunk], eh[chunk])
        expected = 1.0 - float(kmf.survival_function_at_times([30.0]).iloc[0])
        assert row["observed"] == pytest.approx(expected, abs=1e-12)
        assert row["predicted"] == pytest.approx(p[chunk].mean(), abs=1e-12)
    assert res.deciles["predicted"].is_monotonic_increasing


def test_horizon_beyond_follow_up_is_undefined_with_a_reason() -> None:
    d, e, rate = _cohort(2_000, 4, window=63.0)
    res = calibration_at(1.0 - np.exp(-90 * rate), d, e, 90)
    assert not res.defined and np.isnan(res.ici) and np.isnan(res.slope)
    assert "no customer was followed up to the horizon" in res.undefined
    assert res.metrics() == {}


def test_constant_prediction_ici_is_the_distance_to_km() -> None:
    d, e, _ = _cohort(5_000, 5)
    res = calibration_at(np.full(5_000, 0.2), d, e, 30)
    assert res.ici == pytest.approx(abs(0.2 - res.observed_risk))
    assert np.isnan(res.slope)


def test_rcs_basis_is_linear_beyond_the_outer_knots() -> None:
    knots = np.array([0.0, 1.0, 3.0])
    x = np.linspace(3.0, 10.0, 8)
    second = rcs_basis(x, knots)[:, 1]
    assert np.allclose(np.diff(second, 2), 0.0, atol=1e-12)
    assert np.allclose(rcs_basis(np.array([-2.0, -1.0]), knots)[:, 1], 0.0)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="probabilities in"):
        calibration_at([0.1, 1.2], [1.0, 2.0], [1, 0], 30)
    with pytest.raises(ValueError, match="equal length"):
        calibration_at([0.1], [1.0, 2.0], [1, 0], 30)


# --- early warning: observed vs expected churners in a partially observed window -------------


def test_event_count_test_hand_computed() -> None:
    # p = [0.1]*100 -> E = 10, Var = 9; observed 16 -> z = 2, two-sided p = 0.0455
    t = observed_vs_expected(16, np.full(100, 0.1))
    assert (t.expected, t.variance) == (pytest.approx(10.0), pytest.approx(9.0))
    assert t.z == pytest.approx(2.0) and t.p_value == pytest.approx(0.0455003, abs=1e-6)
    assert t.ratio == pytest.approx(1.6)
    assert t.warns(alpha=0.05, min_relative=0.2) and not t.warns(alpha=0.01, min_relative=0.2)


def test_event_count_test_has_its_nominal_size_for_a_calibrated_model() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.0, 0.2, 2_000)
    rejections = sum(
        observed_vs_expected(int((rng.random(p.size) < p).sum()), p).p_value < 0.05
        for _ in range(2_000)
    )
    assert 0.035 < rejections / 2_000 < 0.065


def test_event_count_test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="within"):
        observed_vs_expected(5, [0.1, 0.2])
    with pytest.raises(ValueError, match="probabilities"):
        observed_vs_expected(1, [0.1, 1.5])
