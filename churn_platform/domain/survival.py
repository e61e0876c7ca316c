"""Survival targets and baseline hazards.

Conventions (written down once, used everywhere):
- durations are in days and strictly positive; ``event`` is 1 when churn was observed and 0 when
  the customer was still active at the end of observation (right-censored);
- a Cox model's *log partial hazard* (XGBoost's output margin) is "higher = churns sooner";
- the probability of churning within ``h`` days is ``1 - S(h | x)`` with
  ``S(t | x) = exp(-H0(t) * exp(log_partial_hazard(x)))`` and ``H0`` the Breslow cumulative
  baseline hazard estimated on the training data with the *same* margins the model outputs
  (see IyarLin/survXgboost#7, sebp/scikit-survival#121).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 30.4375, "years": 365.25}


def to_days(values: npt.ArrayLike, unit: str) -> FloatArray:
    """Convert durations expressed in ``unit`` (days, weeks, months, years) to days."""
    if unit not in DAYS_PER_UNIT:
        raise ValueError(f"unknown time unit {unit!r}; use one of {sorted(DAYS_PER_UNIT)}")
    return np.asarray(values, dtype=np.float64) * DAYS_PER_UNIT[unit]


def xgboost_cox_label(duration: npt.ArrayLike, event: npt.ArrayLike) -> FloatArray:
    """XGBoost ``survival:cox`` label: +duration for events, -duration for censored rows."""
    d = np.asarray(duration, dtype=np.float64)
    e = np.asarray(event).astype(bool)
    return np.where(e, d, -d)


@dataclass(frozen=True)
class BreslowBaseline:
    """Cumulative baseline hazard H0(t) as a right-continuous step function."""

    times: FloatArray  # distinct event times, ascending
    cumulative_hazard: FloatArray  # H0 at each of ``times``

    def at(self, t: npt.ArrayLike) -> FloatArray:
        """H0 evaluated at ``t`` (0 before the first event time)."""
        idx = np.searchsorted(self.times, np.asarray(t, dtype=np.float64), side="right") - 1
        out = np.where(idx >= 0, self.cumulative_hazard[np.clip(idx, 0, None)], 0.0)
        return np.asarray(out, dtype=np.float64)

    def survival(self, log_partial_hazard: npt.ArrayLike, t: float) -> FloatArray:
        """S(t | x) for every row's log partial hazard."""
        lph = np.asarray(log_partial_hazard, dtype=np.float64)
        return np.asarray(np.exp(-float(self.at(t)) * np.exp(lph)), dtype=np.float64)

    def churn_probabilities(
        self, log_partial_hazard: npt.ArrayLike, horizons: Sequence[float]
    ) -> dict[float, FloatArray]:
        """P(churn within h days | x) = 1 - S(h | x) for each horizon."""
        return {h: 1.0 - self.survival(log_partial_hazard, h) for h in horizons}

    def to_dict(self) -> dict[str, list[float]]:
        return {"times": self.times.tolist(), "cumulative_hazard": self.cumulative_hazard.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> BreslowBaseline:
        return cls(
            times=np.asarray(d["times"], dtype=np.float64),
            cumulative_hazard=np.asarray(d["cumulative_hazard"], dtype=np.float64),
        )


def breslow_baseline(
    duration: npt.ArrayLike, event: npt.ArrayLike, log_partial_hazard: npt.ArrayLike
) -> BreslowBaseline:
    """Breslow estimator of the cumulative baseline hazard.

    ``H0(t) = sum_{t_i <= t} d_i / sum_{j: t_j >= t_i} exp(lph_j)`` over distinct event times,
    with ties handled the Breslow way (all tied events share the same risk set). Vectorised:
    sort once, reverse cumulative sum of exp(lph) gives every risk-set total.
    """
    d = np.asarray(duration, dtype=np.float64)
    e = np.asarray(event).astype(np.float64)
    lph = np.asarray(log_partial_hazard, dtype=np.float64)
    if not (len(d) == len(e) == len(lph)):
        raise ValueError("duration, event and log_partial_hazard must have the same length")
    if e.sum() == 0:
        raise ValueError("cannot estimate a baseline hazard without any observed event")
    # Centre margins for numerical stability; H0 is rescaled so predictions are unchanged.
    shift = float(np.max(lph))
    w = np.exp(lph - shift)
    order = np.argsort(d, kind="stable")
    d_sorted, e_sorted, w_sorted = d[order], e[order], w[order]
    risk_set = np.cumsum(w_sorted[::-1])[::-1]  # sum of w over t_j >= t_(i) (sorted position)
    uniq, first = np.unique(d_sorted, return_index=True)
    events_at = np.add.reduceat(e_sorted, first)
    at_risk = risk_set[first]
    keep = events_at > 0
    increments = events_at[keep] / at_risk[keep]
    cumhaz = np.cumsum(increments) * np.exp(-shift)
    return BreslowBaseline(times=uniq[keep], cumulative_hazard=cumhaz)


def snapshot_weights(ids: pd.Series) -> np.ndarray:
    """Row weights ``1 / (number of rows of that customer)`` for stacked weekly cohorts.

    Stacking cohorts (each censored at the as-of date) lets customers observed after a change
    contribute their partial follow-up, but a customer present in k cohorts appears k times with
    overlapping follow-up. Weighting each row by 1/k makes every customer count once in total,
    so long-lived (low-risk) customers, who sit in every cohort, do not dominate the fit and
    the effective sample size is not overstated. All weights are 1 for a single cohort.
    """
    counts = ids.map(ids.value_counts())
    return (1.0 / counts.to_numpy(dtype=float)).astype(float)
