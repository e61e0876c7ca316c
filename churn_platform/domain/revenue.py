"""Revenue at risk and the weekly retention list: whom should the retention team call first?

A churn probability alone ranks a customer paying 10 a month the same as one paying 200. The
retention team wants to spend its calls where the *money* is, so every scored customer gets the
revenue the business expects to lose within each horizon, and the weekly retention list holds
the top N customers by that amount, with the features that drive their risk.

Definition (documented once, used everywhere)
---------------------------------------------
``value`` is the customer's monthly revenue (e.g. ``monthly_charges``). If a customer churns on
day ``t`` of a horizon of ``h`` days, the business loses ``value * (h - t) / 30.4375`` within
the horizon (the months left until the horizon ends). The **expected revenue lost within h
days** is therefore

    ``revenue_at_risk_<h>d = value / 30.4375 * integral_0^h F(t) dt``

with ``F(t) = P(churn by day t)``. The platform stores ``F`` at the configured horizons only
(``churn_prob_<h>d``), so the integral is taken with the trapezoid rule over ``F(0) = 0`` and the
horizons up to ``h``: e.g. for horizons 30 and 90 days,

    ``RaR_30 = value / 30.4375 * (30 * F(30) / 2)``
    ``RaR_90 = RaR_30 + value / 30.4375 * (60 * (F(30) + F(90)) / 2)``.

It is bounded by ``value * h / 30.4375 * F(h)`` (everyone churning on day 0) and adds up: the
total over customers is the expected revenue lost by the whole base, and a horizon's amount is
the previous horizon's plus the expected loss accrued in between.

The retention list ranks by revenue at risk at one horizon (90 days by default, else the longest
configured); ties are broken by ``customer_id`` so the list is identical on every rerun.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DAYS_PER_MONTH",
    "DEFAULT_RETENTION_HORIZON",
    "rank_horizon",
    "retention_list",
    "revenue_at_risk",
    "revenue_column",
]

DAYS_PER_MONTH = 30.4375
DEFAULT_RETENTION_HORIZON = 90


def revenue_column(horizon_days: int) -> str:
    """Name of the expected-revenue-lost column for a horizon in days."""
    return f"revenue_at_risk_{int(horizon_days)}d"


def _prob_column(horizon_days: int) -> str:
    return f"churn_prob_{int(horizon_days)}d"


def revenue_at_risk(
    predictions: pd.DataFrame, value: pd.Series | np.ndarray, horizons: Sequence[int]
) -> pd.DataFrame:
    """Expected revenue lost within each horizon, one column per horizon (see module doc).

    ``predictions`` holds ``churn_prob_<h>d`` for every horizon; ``value`` is the monthly revenue
    per row (same order). Missing or negative values are refused, naming the first bad row.
    """
    hs = sorted({int(h) for h in horizons})
    if not hs or hs[0] <= 0:
        raise ValueError(f"horizons must be positive days, got {list(horizons)}")
    missing = [_prob_column(h) for h in hs if _prob_column(h) not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack churn probability column(s) {missing}")
    v = np.asarray(value, dtype=np.float64)
    if v.shape != (len(predictions),):
        raise ValueError(f"value must have one entry per customer: {len(predictions)} != {v.size}")
    bad = ~np.isfinite(v) | (v < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"monthly value must be a finite amount >= 0; {int(bad.sum())} row(s) are not, "
            f"first at position {first}: {v[first]!r}"
        )
    out = pd.DataFrame(index=predictions.index)
    area = np.zeros(len(predictions))
    prev_t, prev_f = 0.0, np.zeros(len(predictions))
    for h in hs:
        f = predictions[_prob_column(h)].to_numpy(np.float64)
        area = area + (h - prev_t) * (prev_f + f) / 2.0
        out[revenue_column(h)] = v * area / DAYS_PER_MONTH
        prev_t, prev_f = float(h), f
    return out


def rank_horizon(horizons: Sequence[int], preferred: int = DEFAULT_RETENTION_HORIZON) -> int:
    """The horizon the retention list ranks by: ``preferred`` if configured, else the longest."""
    hs = sorted({int(h) for h in horizons})
    if not hs:
        raise ValueError("no horizon configured")
    return preferred if preferred in hs else hs[-1]


def retention_list(
    predictions: pd.DataFrame,
    value: pd.Series | np.ndarray,
    horizons: Sequence[int],
    top_n: int,
    *,
    horizon: int | None = None,
) -> pd.DataFrame:
    """The ``top_n`` customers by expected revenue lost within ``horizon`` days.

    ``predictions``: customer_id, churn_prob_<h>d for each horizon and, optionally,
    ``top_drivers`` (JSON list of the features raising the customer's risk). Columns of the
    result: rank (1 = call first), customer_id, monthly_value, churn_prob_<h>d and
    revenue_at_risk_<h>d for every horizon, top_drivers. Ties in revenue are ordered by
    ``customer_id`` ascending, so reruns give the same list.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    if "customer_id" not in predictions.columns:
        raise ValueError("predictions lack the customer_id column")
    hs = sorted({int(h) for h in horizons})
    h_rank = rank_horizon(hs) if horizon is None else int(horizon)
    if h_rank not in hs:
        raise ValueError(f"ranking horizon {h_rank} is not one of the horizons {hs}")
    rar = revenue_at_risk(predictions, value, hs)
    frame = pd.DataFrame(
        {
            "customer_id": predictions["customer_id"].to_numpy(),
            "monthly_value": np.asarray(value, dtype=np.float64),
        }
    )
    for h in hs:
        frame[_prob_column(h)] = predictions[_prob_column(h)].to_numpy(np.float64)
    for h in hs:
        frame[revenue_column(h)] = rar[revenue_column(h)].to_numpy()
    frame["top_drivers"] = (
        predictions["top_drivers"].to_numpy() if "top_drivers" in predictions.columns else "[]"
    )
    key = revenue_column(h_rank)
    ordered = frame.sort_values(
        [key, "customer_id"], ascending=[False, True], kind="mergesort"
    ).head(top_n)
    ordered.insert(0, "rank", np.arange(1, len(ordered) + 1, dtype=np.int64))
    return ordered.reset_index(drop=True)
