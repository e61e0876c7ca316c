"""Are the predicted churn probabilities right? Calibration of survival predictions at a horizon.

The C-index says whether the model puts customers in the right order; retention budgets are
sized with the probabilities themselves ("churn within 30 days"), so they must also be right.
Everything here compares each customer's predicted ``P(churn within h days)`` with what was
observed once the labels matured up to ``h`` (the horizon must lie inside the label window).

Definitions (Austin, Harrell and van Klaveren, "Graphical calibration curves and the integrated
calibration index (ICI) for survival models", Statistics in Medicine 2020)
-----------------------------------------------------------------------------------------------
* **Decile table.** Customers grouped by predicted risk (ten groups of equal size, ties kept
  together); per group the mean predicted risk and the Kaplan-Meier observed risk
  ``1 - KM(h)`` of the group. Kaplan-Meier, not the share of churners, because customers whose
  labels are censored before ``h`` must not count as stayers.
* **Smoothed calibration curve.** Observed risk as a smooth function of predicted risk, from a
  Cox model of the outcomes (censored at ``h``) on a restricted cubic spline (three knots at the
  10th, 50th and 90th percentiles, Harrell's default) of ``cloglog(predicted risk) =
  log(-log(1 - p))``, Austin et al.'s Cox-model alternative to hazard regression. The curve's
  value for customer ``i`` is ``1 - exp(-H0(h) exp(lp_i))`` with the fitted Breslow baseline
  read as a right-continuous step (no interpolation).
* **ICI, E50, E90.** Mean, median and 90th percentile over customers of
  ``|smoothed observed risk - predicted risk|``. 0 = perfectly calibrated; in units of
  probability, so 0.01 means predictions off by one percentage point on average.
* **Calibration slope.** The coefficient of ``cloglog(predicted risk)`` in a Cox model with that
  term alone. For a perfectly calibrated proportional-hazards model ``cloglog(p_i) = log H0(h) +
  lp_i``, so the slope is 1; below 1 the predictions are too extreme (overfit or the world
  changed), above 1 too timid.
* **Calibration in the large.** ``observed_risk`` (KM over everyone) against
  ``expected_risk`` (the mean prediction).

A horizon beyond follow-up (no customer observed up to ``h``) or without any churn has no
calibration: :func:`calibration_at` returns NaNs with the reason in ``undefined``. Large cohorts
are summarised on a seeded sample of at most ``max_customers`` customers for the Cox fits (the
decile table uses everyone).

This module does no I/O (lifelines fits the Cox models in memory).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from churn_platform.domain.metrics import km_survival_at

__all__ = [
    "DECILE_COLUMNS",
    "CalibrationResult",
    "EventCountTest",
    "calibration_at",
    "calibration_by_horizon",
    "cloglog",
    "observed_vs_expected",
    "rcs_basis",
]

FloatArray = npt.NDArray[np.float64]

DECILE_COLUMNS = ("group", "n", "n_events", "predicted", "observed")
_EPS = 1e-9


@dataclass(frozen=True)
class CalibrationResult:
    """Calibration of one cohort's predictions at one horizon (see the module docstring)."""

    horizon_days: int
    n: int
    n_events: int
    expected_risk: float
    observed_risk: float
    ici: float
    e50: float
    e90: float
    slope: float
    deciles: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=DECILE_COLUMNS))
    undefined: str = ""

    @property
    def defined(self) -> bool:
        return not self.undefined

    def metrics(self, prefix: str = "calibration") -> dict[str, float]:
        """Flat metric names (``calibration.ici_30d``, ...); nothing for an undefined horizon
        (beyond follow-up), NaN values left out."""
        if not self.defined:
            return {}
        h = self.horizon_days
        values = {
            f"{prefix}.ici_{h}d": self.ici,
            f"{prefix}.e50_{h}d": self.e50,
            f"{prefix}.e90_{h}d": self.e90,
            f"{prefix}.slope_{h}d": self.slope,
            f"{prefix}.observed_risk_{h}d": self.observed_risk,
            f"{prefix}.expected_risk_{h}d": self.expected_risk,
        }
        return {k: float(v) for k, v in values.items() if np.isfinite(v)}

    def deciles_json(self) -> list[dict[str, Any]]:
        """The decile table as plain JSON rows (for a JSONB column)."""
        return [
            {
                "group": int(g),
                "n": int(n),
                "n_events": int(k),
                "predicted": float(p),
                "observed": float(o),
            }
            for g, n, k, p, o in zip(
                self.deciles["group"].to_numpy(int),
                self.deciles["n"].to_numpy(int),
                self.deciles["n_events"].to_numpy(int),
                self.deciles["predicted"].to_numpy(float),
                self.deciles["observed"].to_numpy(float),
                strict=True,
            )
        ]


def cloglog(p: npt.ArrayLike) -> FloatArray:
    """``log(-log(1 - p))`` with ``p`` clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.asarray(np.log(-np.log1p(-q)), dtype=np.float64)


def rcs_basis(x: npt.ArrayLike, knots: npt.ArrayLike) -> FloatArray:
    """Restricted cubic spline basis (Harrell's parametrisation, normalised by the squared knot
    range): ``x`` itself plus ``len(knots) - 2`` non-linear terms, linear beyond the outer knots."""
    v = np.asarray(x, dtype=np.float64)
    k = np.asarray(knots, dtype=np.float64)
    if k.ndim != 1 or k.size < 3 or (np.diff(k) <= 0).any():
        raise ValueError(f"knots must be at least 3 strictly increasing values, got {k}")
    scale = (k[-1] - k[0]) ** 2
    cols = [v]
    last, before = k[-1], k[-2]
    for j in range(k.size - 2):

        def pos3(u: FloatArray) -> FloatArray:
            return np.asarray(np.maximum(u, 0.0) ** 3, dtype=np.float64)

        term = (
            pos3(v - k[j])
            - pos3(v - before) * (last - k[j]) / (last - before)
            + pos3(v - last) * (before - k[j]) / (last - before)
        )
        cols.append(term / scale)
    return np.column_stack(cols)


def _km_risk(duration: FloatArray, event: FloatArray, horizon: float) -> float:
    return float(1.0 - km_survival_at(duration, event, [horizon])[0])


def _deciles(
    p: FloatArray, duration: FloatArray, event: FloatArray, horizon: float, n_groups: int
) -> pd.DataFrame:
    ranks = pd.Series(p).rank(method="min").to_numpy()
    group = np.minimum((ranks - 1) * n_groups // p.size, n_groups - 1).astype(int) + 1
    rows = []
    for g in np.unique(group):
        m = group == g
        rows.append(
            {
                "group": int(g),
                "n": int(m.sum()),
                "n_events": int(((event[m] == 1) & (duration[m] <= horizon)).sum()),
                "predicted": float(p[m].mean()),
                "observed": _km_risk(duration[m], event[m], horizon),
            }
        )
    return pd.DataFrame(rows, columns=list(DECILE_COLUMNS))


def _cox_fit(design: pd.DataFrame, duration: FloatArray, event: FloatArray) -> Any:
    from lifelines import CoxPHFitter

    frame = design.assign(_duration=duration, _event=event)
    fitter = CoxPHFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter.fit(frame, duration_col="_duration", event_col="_event")
    return fitter


def _step_h0(fitter: Any, horizon: float) -> float:
    h0 = fitter.baseline_cumulative_hazard_.iloc[:, 0]
    times = h0.index.to_numpy(dtype=np.float64)
    idx = int(np.searchsorted(times, horizon, side="right")) - 1
    return float(h0.to_numpy()[idx]) if idx >= 0 else 0.0


def _nan_result(
    horizon: int, n: int, n_events: int, expected: float, observed: float, reason: str
) -> CalibrationResult:
    nan = float("nan")
    return CalibrationResult(horizon, n, n_events, expected, observed, nan, nan, nan, nan,
                             undefined=reason)  # fmt: skip


def calibration_at(
    predicted_risk: npt.ArrayLike,
    duration: npt.ArrayLike,
    event: npt.ArrayLike,
    horizon: int,
    *,
    n_groups: int = 10,
    max_customers: int = 50_000,
    seed: int = 0,
) -> CalibrationResult:
    """Calibration of predicted ``P(churn within horizon days)`` against matured labels.

    ``predicted_risk[i]`` is customer ``i``'s predicted churn probability at ``horizon``;
    ``duration`` (days from the scoring week) and ``event`` (1 churned, 0 censored) are the
    labels known now. Outcomes are censored at ``horizon`` (later churns are not churns by
    ``horizon``). Returns NaN metrics with ``undefined`` set when the horizon has not matured.
    """
    p = np.asarray(predicted_risk, dtype=np.float64)
    d = np.asarray(duration, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    if not (p.shape == d.shape == e.shape) or p.ndim != 1 or p.size == 0:
        raise ValueError(
            f"predicted_risk, duration and event must be 1-d of equal length, got "
            f"{p.shape}, {d.shape}, {e.shape}"
        )
    if not np.isfinite(p).all() or ((p < 0) | (p > 1)).any():
        raise ValueError("predicted_risk must hold probabilities in [0, 1]")
    if not np.isfinite(d).all() or (d <= 0).any():
        raise ValueError("duration must be finite and > 0 days")
    h = int(horizon)
    if h <= 0:
        raise ValueError(f"horizon must be a positive number of days, got {horizon!r}")
    if n_groups < 2:
        raise ValueError(f"n_groups must be at least 2, got {n_groups}")
    # outcomes by the horizon only
    d_h = np.minimum(d, float(h))
    e_h = np.where(d <= h, e, 0.0)
    n, n_events = int(p.size), int(e_h.sum())
    expected = float(p.mean())
    longest = float(d.max())
    if longest < h:
        return _nan_result(
            h, n, n_events, expected, float("nan"),
            f"calibration at {h} days: no customer was followed up to the horizon (longest "
            f"observed duration {longest:g} days)",
        )  # fmt: skip
    observed = _km_risk(d_h, e_h, float(h))
    if n_events < 2:
        return _nan_result(
            h, n, n_events, expected, observed,
            f"calibration at {h} days: {n_events} churn(s) by the horizon, too few to fit",
        )  # fmt: skip
    deciles = _deciles(p, d_h, e_h, float(h), n_groups)

    if n > max_customers:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(n, size=max_customers, replace=False))
        ps, ds, es = p[idx], d_h[idx], e_h[idx]
    else:
        ps, ds, es = p, d_h, e_h
    if np.ptp(ps) < 1e-12:  # one prediction for everyone (KM null): no curve, no slope
        err_const = np.abs(observed - p)
        return CalibrationResult(
            h, n, n_events, expected, observed, float(err_const.mean()),
            float(np.median(err_const)), float(np.quantile(err_const, 0.9)), float("nan"),
            deciles,
        )  # fmt: skip
    x = cloglog(ps)
    knots = np.unique(np.quantile(x, [0.1, 0.5, 0.9]))
    if knots.size == 3:
        basis = rcs_basis(x, knots)
        design = pd.DataFrame({"cll": basis[:, 0], "cll_rcs1": basis[:, 1]})
    else:  # (nearly) constant predictions: no room for a spline
        design = pd.DataFrame({"cll": x})
    try:
        smooth = _cox_fit(design, ds, es)
        lp = np.asarray(smooth.predict_log_partial_hazard(design), dtype=np.float64)
        obs_i = 1.0 - np.exp(-_step_h0(smooth, float(h)) * np.exp(lp))
        err = np.abs(obs_i - ps)
        linear = _cox_fit(pd.DataFrame({"cll": x}), ds, es)
        slope = float(linear.params_.iloc[0])
    except Exception as exc:  # lifelines convergence failures on degenerate data
        return _nan_result(
            h, n, n_events, expected, observed,
            f"calibration at {h} days: the smoothing Cox model did not fit ({exc})",
        )  # fmt: skip
    return CalibrationResult(
        horizon_days=h,
        n=n,
        n_events=n_events,
        expected_risk=expected,
        observed_risk=observed,
        ici=float(err.mean()),
        e50=float(np.median(err)),
        e90=float(np.quantile(err, 0.9)),
        slope=slope,
        deciles=deciles,
    )


def calibration_by_horizon(
    predicted_risk: Mapping[int, npt.ArrayLike],
    duration: npt.ArrayLike,
    event: npt.ArrayLike,
    **kwargs: Any,
) -> dict[int, CalibrationResult]:
    """:func:`calibration_at` for every horizon in ``predicted_risk``."""
    return {
        int(h): calibration_at(p, duration, event, int(h), **kwargs)
        for h, p in sorted(predicted_risk.items())
    }


@dataclass(frozen=True)
class EventCountTest:
    """Observed churners in a window against the sum of predicted churn probabilities.

    Under the model, the number of churners is a sum of independent Bernoulli(``p_i``) draws
    (Poisson-binomial) with mean ``expected = sum p_i`` and variance ``sum p_i (1 - p_i)``;
    ``z`` is the standardised difference and ``p_value`` its two-sided normal tail. With
    hundreds of thousands of customers a tiny relative miss is "significant", so a warning
    needs both ``p_value < alpha`` and ``|observed / expected - 1| >= min_relative``
    (:meth:`warns`), like the drift gate's p-value-and-effect rule.
    """

    observed: int
    expected: float
    variance: float
    z: float
    p_value: float

    @property
    def ratio(self) -> float:
        """Observed / expected churners (1 = as predicted; > 1 the model under-predicts)."""
        return self.observed / self.expected if self.expected > 0 else float("nan")

    def warns(self, alpha: float, min_relative: float) -> bool:
        return bool(self.p_value < alpha and abs(self.ratio - 1.0) >= min_relative)


def observed_vs_expected(observed: int, predicted_prob: npt.ArrayLike) -> EventCountTest:
    """Test ``observed`` churners against predicted probabilities of churning in the same
    window (the partially observed label window, before the delayed evaluation is due)."""
    import math

    p = np.asarray(predicted_prob, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.isfinite(p).all() or ((p < 0) | (p > 1)).any():
        raise ValueError("predicted_prob must be a non-empty 1-d array of probabilities")
    if observed < 0 or observed > p.size:
        raise ValueError(f"observed churners must be within [0, {p.size}], got {observed}")
    expected = float(p.sum())
    variance = float(np.sum(p * (1.0 - p)))
    if variance <= 0:
        z = 0.0 if observed == expected else math.copysign(math.inf, observed - expected)
    else:
        z = (observed - expected) / math.sqrt(variance)
    p_value = float(math.erfc(abs(z) / math.sqrt(2.0)))
    return EventCountTest(int(observed), expected, variance, float(z), p_value)
