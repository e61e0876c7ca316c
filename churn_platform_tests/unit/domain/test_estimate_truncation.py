"""compare_with_labels(tau_days=...) truncates both sides: estimate and realised C-index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_platform.domain.estimate import compare_with_labels, truncate_at
from churn_platform.domain.metrics import fast_harrell_c
from churn_platform.domain.survival import BreslowBaseline

BASE = BreslowBaseline(times=np.arange(1.0, 201.0), cumulative_hazard=0.004 * np.arange(1.0, 201.0))


def test_truncate_at_censors_later_exits_at_tau() -> None:
    d, e = truncate_at([5.0, 40.0, 40.0, 80.0, 90.0], [1, 1, 0, 1, 0], 40.0)
    np.testing.assert_array_equal(d, [5.0, 40.0, 40.0, 40.0, 40.0])
    np.testing.assert_array_equal(e, [1, 1, 0, 0, 0])


def test_realised_c_index_uses_the_same_window_as_the_estimate() -> None:
    # Churners after day 40 are ranked backwards: over the full 90-day window the realised C
    # is poor, within 40 days it is good. With tau_days=40 only the 40-day pairs may count.
    rng = np.random.default_rng(0)
    n = 2000
    risk = np.exp(rng.normal(size=n))
    churn = rng.exponential(60.0 / risk)
    late = churn > 40.0
    churn[late] = 40.0 + rng.exponential(60.0 * risk[late])  # reversed ranking after day 40
    labels = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "duration_days": np.minimum(churn, 90.0),
            "event": (churn <= 90.0).astype(int),
        }
    )
    preds = pd.DataFrame({"customer_id": np.arange(n), "risk_score": risk})
    cmp = compare_with_labels(preds, labels, BASE, [30], tau_days=40.0)
    d, e = truncate_at(labels.duration_days, labels.event, 40.0)
    assert cmp.realised_c_index == fast_harrell_c(d, e, risk)
    untruncated = fast_harrell_c(labels.duration_days, labels.event, risk)
    assert cmp.realised_c_index > untruncated + 0.05
    assert cmp.estimate.tau_days == pytest.approx(40.0)


def test_interim_churner_count_is_tested_against_the_prediction() -> None:
    # Churn at the baseline's hazard (0.004/day x risk): observed ~ expected. At twice that
    # hazard the early warning fires long before the delayed evaluation is due.
    rng = np.random.default_rng(1)
    n, window = 5000, 35.0
    risk = np.exp(rng.normal(size=n))
    preds = pd.DataFrame({"customer_id": np.arange(n), "risk_score": risk})
    for factor, warns in ((1.0, False), (2.0, True)):
        churn = rng.exponential(1.0 / (0.004 * factor * risk))
        labels = pd.DataFrame(
            {
                "customer_id": np.arange(n),
                "duration_days": np.minimum(churn, window),
                "event": (churn < window).astype(int),
            }
        )
        t = compare_with_labels(preds, labels, BASE, [30]).event_test
        assert t is not None and t.observed == int(labels["event"].sum())
        expected = float(np.sum(1 - np.exp(-BASE.at(window)[()] * risk)))
        assert t.expected == pytest.approx(expected)
        assert t.warns(alpha=0.01, min_relative=0.2) is warns, (t.ratio, t.p_value)
