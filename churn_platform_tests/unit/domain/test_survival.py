"""Breslow baseline and time-unit conversion against lifelines and hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from churn_platform.domain.survival import breslow_baseline, to_days, xgboost_cox_label


def test_breslow_hand_computed() -> None:
    # times 1,2,2,3 ; events 1,1,0,1 ; lph 0 (all weights 1)
    # t=1: 1 event / 4 at risk = .25 ; t=2: 1 / 3 ; t=3: 1/1
    base = breslow_baseline([1, 2, 2, 3], [1, 1, 0, 1], [0, 0, 0, 0])
    np.testing.assert_allclose(base.times, [1, 2, 3])
    np.testing.assert_allclose(base.cumulative_hazard, [0.25, 0.25 + 1 / 3, 0.25 + 1 / 3 + 1])
    assert base.at(0.5) == 0.0
    np.testing.assert_allclose(base.at([1.5, 10]), [0.25, 0.25 + 1 / 3 + 1])


def test_breslow_matches_lifelines_baseline() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    x = rng.normal(size=(n, 2))
    t = rng.exponential(scale=np.exp(-(0.8 * x[:, 0] - 0.5 * x[:, 1])) * 100)
    c = rng.exponential(150, n)
    df = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "T": np.minimum(t, c), "E": (t <= c)})
    cph = CoxPHFitter().fit(df, "T", "E")
    lph = np.asarray(cph.predict_log_partial_hazard(df[["x0", "x1"]]))
    ours = breslow_baseline(df["T"], df["E"], lph)
    theirs = cph.baseline_cumulative_hazard_.iloc[:, 0]
    times = np.array([20.0, 60.0, 120.0])
    expected = np.interp(times, theirs.index.to_numpy(), theirs.to_numpy())
    # lifelines reports H0 for centred covariates at its own grid: compare survival curves
    s_ours = np.exp(-ours.at(times)[:, None] * np.exp(lph)[None, :]).mean(axis=1)
    s_theirs = cph.predict_survival_function(df[["x0", "x1"]], times=times).mean(axis=1)
    np.testing.assert_allclose(s_ours, s_theirs.to_numpy(), atol=2e-3)
    assert expected.shape == times.shape


def test_probabilities_are_monotone_in_horizon_and_risk() -> None:
    base = breslow_baseline([5, 10, 20, 40], [1, 1, 1, 0], [0.1, -0.2, 0.3, 0.0])
    probs = base.churn_probabilities(np.array([-1.0, 0.0, 1.0]), [7, 30])
    assert np.all(np.diff(probs[7]) > 0)
    assert np.all(probs[30] >= probs[7])
    assert np.all((probs[30] >= 0) & (probs[30] <= 1))


def test_to_days_and_cox_label() -> None:
    np.testing.assert_allclose(to_days([1, 2], "months"), [30.4375, 60.875])
    np.testing.assert_allclose(to_days([1], "weeks"), [7.0])
    with pytest.raises(ValueError, match="unknown time unit"):
        to_days([1], "fortnights")
    np.testing.assert_allclose(xgboost_cox_label([3, 4], [1, 0]), [3, -4])


def test_baseline_needs_an_event() -> None:
    with pytest.raises(ValueError, match="without any observed event"):
        breslow_baseline([1, 2], [0, 0], [0, 0])


def test_snapshot_weights_make_each_customer_count_once() -> None:
    import pandas as pd

    from churn_platform.domain.survival import snapshot_weights

    ids = pd.Series([1, 2, 2, 3, 3, 3])
    w = snapshot_weights(ids)
    assert list(w) == pytest.approx([1, 0.5, 0.5, 1 / 3, 1 / 3, 1 / 3])
    assert pd.Series(w).groupby(ids.to_numpy()).sum().tolist() == pytest.approx([1, 1, 1])
