"""Revenue at risk adds up to a hand computation; the retention list is stable under rerun."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_platform.domain.revenue import (
    DAYS_PER_MONTH,
    rank_horizon,
    retention_list,
    revenue_at_risk,
)

HORIZONS = [30, 90, 180]


def _preds() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [11, 12, 13, 14],
            "churn_prob_30d": [0.1, 0.0, 0.2, 0.1],
            "churn_prob_90d": [0.3, 0.0, 0.4, 0.3],
            "churn_prob_180d": [0.5, 0.0, 0.6, 0.5],
            "top_drivers": ['[{"feature": "contract"}]', "[]", "[]", "[]"],
        }
    )


def test_revenue_at_risk_equals_the_hand_computation() -> None:
    value = np.array([100.0, 50.0, 20.0, 100.0])
    rar = revenue_at_risk(_preds(), value, HORIZONS)
    # customer 11: F(0)=0, F(30)=0.1, F(90)=0.3, F(180)=0.5; area under F by trapezoids
    a30 = 30 * 0.1 / 2
    a90 = a30 + 60 * (0.1 + 0.3) / 2
    a180 = a90 + 90 * (0.3 + 0.5) / 2
    assert rar.loc[0, "revenue_at_risk_30d"] == pytest.approx(100 * a30 / DAYS_PER_MONTH)
    assert rar.loc[0, "revenue_at_risk_90d"] == pytest.approx(100 * a90 / DAYS_PER_MONTH)
    assert rar.loc[0, "revenue_at_risk_180d"] == pytest.approx(100 * a180 / DAYS_PER_MONTH)
    assert (rar.loc[1] == 0).all()  # never churns, nothing at risk
    # columns add up: base total = sum over customers; each horizon bounded by value*F(h)*months
    total = float(rar["revenue_at_risk_90d"].sum())
    by_hand = sum(
        v * (30 * f30 / 2 + 60 * (f30 + f90) / 2) / DAYS_PER_MONTH
        for v, f30, f90 in zip(value, [0.1, 0, 0.2, 0.1], [0.3, 0, 0.4, 0.3], strict=True)
    )
    assert total == pytest.approx(by_hand)
    for h in HORIZONS:
        bound = value * _preds()[f"churn_prob_{h}d"] * h / DAYS_PER_MONTH
        assert (rar[f"revenue_at_risk_{h}d"] <= bound + 1e-12).all()


def test_bad_values_are_refused_with_the_row() -> None:
    with pytest.raises(ValueError, match="first at position 2"):
        revenue_at_risk(_preds(), np.array([1.0, 2.0, np.nan, 3.0]), HORIZONS)
    with pytest.raises(ValueError, match="churn_prob_365d"):
        revenue_at_risk(_preds(), np.ones(4), [365])


def test_retention_list_ranks_by_revenue_ties_by_customer_id_and_is_rerun_stable() -> None:
    preds = _preds()
    value = pd.Series([100.0, 50.0, 20.0, 100.0])
    top = retention_list(preds, value, HORIZONS, top_n=3)
    assert rank_horizon(HORIZONS) == 90
    # 11 and 14 tie exactly (same value and probabilities): lower customer_id first
    assert list(top["customer_id"]) == [11, 14, 13]
    assert list(top["rank"]) == [1, 2, 3]
    assert top.loc[0, "top_drivers"] == '[{"feature": "contract"}]'
    shuffled = preds.sample(frac=1.0, random_state=7)
    again = retention_list(shuffled, value.loc[shuffled.index], HORIZONS, top_n=3)
    pd.testing.assert_frame_equal(top, again)
    assert retention_list(preds, value, HORIZONS, top_n=3, horizon=180)["customer_id"].iloc[0] == 11
