"""How good will this week's churn scores turn out to be? A label-free performance estimate.

Churn labels arrive months after scoring (``label_lag_weeks``). Until then we can still say
what C-index and Brier score the model *expects* to reach, by taking its own predicted survival
curves at face value: if every customer really churned according to the curve the model gave
them, how often would the model's ranking put the earlier churner first, and how far would its
probabilities be from the outcomes? This is the survival analogue of confidence-based
performance estimation (CBPE) for classifiers.

The estimate is only as good as the model's calibration. That is the point: when the world
changes in a way the features cannot see (concept drift), the model keeps expecting its old
performance while the realised C-index drops, so the *gap* between the estimate and the
realised value (first on the partial labels available within the lag window, then on the full
window) is itself a monitored signal.

Definitions
-----------
Customer ``i`` has a predicted survival curve ``S_i(t)`` (probability of still being a customer
``t`` days after the scoring week) and a risk score ``r_i`` (higher = churns sooner, as in
:mod:`churn_platform.domain.metrics`). Outcomes are observed up to ``tau`` days, the label
window: ``label_lag_weeks * 7`` days minus the label delay (a churn becomes known only
``label_delay_weeks`` after it happens), so everyone still active at ``tau`` is censored there.

* **Expected concordance.** In Harrell's C with censoring at ``tau``, a pair is comparable when
  the earlier of the two churns before ``tau``, and concordant when that earlier churner has the
  higher risk (ties in risk count one half). Treating churn times as independent draws from the
  predicted curves,

  ``E[comparable(i, j)] = 1 - S_i(tau) S_j(tau)`` and
  ``P(T_i < T_j, T_i < tau) = integral_0^tau f_i(t) S_j(t) dt``.

  The expected C-index is ``sum_{r_i > r_j} P(T_i < T_j, T_i < tau)`` (+ half of the tied pairs)
  divided by ``sum_{i<j} E[comparable(i, j)]``: the ratio of expected counts, which is what
  Harrell's C is at the population level. The integral is taken on a time grid with the
  midpoint rule (``S_j`` averaged over each step), for which the two orderings of a pair add up
  *exactly* to ``1 - S_i(tau) S_j(tau)``. Sorting customers by risk turns the sum over pairs
  into prefix sums, so the cost is O(n x grid) instead of O(n^2); a seeded sample of at most
  ``max_customers`` customers bounds memory on large bases.
* **Expected Brier score at h.** If churn by ``h`` is Bernoulli(``1 - S_i(h)``), the expected
  squared error of the prediction ``S_i(h)`` is its variance, ``S_i(h) (1 - S_i(h))``; the
  estimate is the mean over customers. It is comparable with the realised IPCW Brier score only
  for horizons inside the label window (``h < tau``).

For a Cox model (XGBoost ``survival:cox`` + Breslow baseline) ``S_i(t) = exp(-H0(t) r_i)``;
:func:`cox_survival_grid` builds the curves. Under proportional hazards the exact answer is
``P(T_i < T_j, T_i < tau) = r_i / (r_i + r_j) (1 - exp(-(r_i + r_j) H0(tau)))``, which the
tests use to check the grid computation.

This module is pure numpy: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from churn_platform.domain.calibration import EventCountTest, observed_vs_expected
from churn_platform.domain.metrics import brier_score, fast_harrell_c
from churn_platform.domain.survival import BreslowBaseline

__all__ = [
    "DEFAULT_MAX_CUSTOMERS",
    "EstimateComparison",
    "PerformanceEstimate",
    "brier_horizons_in_window",
    "compare_with_labels",
    "cox_survival_grid",
    "estimate_cox_performance",
    "estimate_gap",
    "expected_brier",
    "expected_concordance",
    "flat_brier",
    "label_window_days",
    "observed_window_days",
    "sample_positions",
    "truncate_at",
]

FloatArray = npt.NDArray[np.float64]

DEFAULT_MAX_CUSTOMERS = 50_000
"""Customers used for the expected C-index (a seeded sample above this; memory ~ n x grid)."""

DEFAULT_GRID_STEP_DAYS = 1.0
"""Resolution of the time grid on which the predicted curves are integrated."""


def label_window_days(label_lag_weeks: int, label_delay_weeks: int = 0) -> float:
    """Days of outcome a delayed evaluation sees: the lag minus the label delay.

    Predictions are evaluated ``label_lag_weeks`` after scoring, but a churn only becomes known
    ``label_delay_weeks`` after it happens, so outcomes are known for the first
    ``7 * (label_lag_weeks - label_delay_weeks)`` days after the scoring week.
    """
    days = 7.0 * (int(label_lag_weeks) - int(label_delay_weeks))
    if days <= 0:
        raise ValueError(
            f"label window is empty: label_lag_weeks={label_lag_weeks} must exceed "
            f"label_delay_weeks={label_delay_weeks}"
        )
    return days


def sample_positions(
    n: int, max_customers: int, seed: int = 0, ids: npt.ArrayLike | None = None
) -> npt.NDArray[np.int64]:
    """Positions of a seeded sample of at most ``max_customers`` of ``n`` customers.

    With ``ids`` the sample depends only on the set of customer ids, not on the row order the
    database returned them in, so re-running a week gives the same estimate.
    """
    if max_customers < 2:
        raise ValueError(f"max_customers must be at least 2, got {max_customers}")
    if n <= max_customers:
        return np.arange(n, dtype=np.int64)
    order = np.arange(n) if ids is None else np.argsort(np.asarray(ids), kind="stable")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, size=max_customers, replace=False))
    return np.sort(order[chosen]).astype(np.int64)


def _grid(tau: float, step: float) -> FloatArray:
    if not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a positive number of days, got {tau!r}")
    if not step > 0:
        raise ValueError(f"grid step must be > 0 days, got {step!r}")
    k = max(1, int(np.ceil(tau / step)))
    return np.linspace(tau / k, tau, k)


def cox_survival_grid(
    baseline: BreslowBaseline, risk: npt.ArrayLike, tau: float, step_days: float = 1.0
) -> tuple[FloatArray, FloatArray]:
    """Predicted survival curves ``S_i(t) = exp(-H0(t) r_i)`` on a grid ending at ``tau``.

    ``risk`` is the hazard ratio ``exp(margin)`` stored as ``risk_score``. Returns
    ``(times, surv)`` with ``surv`` of shape (n_customers, n_times); ``times[-1] == tau``.
    """
    r = np.asarray(risk, dtype=np.float64)
    if r.ndim != 1 or r.size == 0 or not np.isfinite(r).all() or (r <= 0).any():
        raise ValueError("risk must be a non-empty 1-d array of positive, finite hazard ratios")
    times = _grid(tau, step_days)
    h0 = baseline.at(times)
    return times, np.exp(-np.outer(r, h0))


def expected_concordance(risk: npt.ArrayLike, times: npt.ArrayLike, surv: npt.ArrayLike) -> float:
    """Expected Harrell C-index under the predicted curves, censored at ``times[-1]``.

    ``surv[i, k]`` is ``S_i(times[k])``; ``S_i(0) = 1`` is implied. See the module docstring
    for the definition. O(n x n_times) time and memory.
    """
    r = np.asarray(risk, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    s = np.asarray(surv, dtype=np.float64)
    n = r.size
    if r.ndim != 1 or n < 2:
        raise ValueError("risk must be one-dimensional with at least two customers")
    if t.ndim != 1 or t.size == 0 or (np.diff(t) <= 0).any() or t[0] <= 0:
        raise ValueError("times must be positive and strictly increasing")
    if s.shape != (n, t.size):
        raise ValueError(f"surv must have shape ({n}, {t.size}), got {s.shape}")
    if not np.isfinite(s).all() or ((s < 0) | (s > 1)).any():
        raise ValueError("surv must hold probabilities in [0, 1]")
    order = np.argsort(r, kind="stable")
    r_sorted = r[order]
    full = np.concatenate([np.ones((n, 1)), s[order]], axis=1)
    dens = full[:, :-1] - full[:, 1:]  # P(churn in step k)
    mid = 0.5 * (full[:, :-1] + full[:, 1:])  # S averaged over step k
    # Groups of tied risk: everyone in a lower group is "below"; others in the group tie.
    starts = np.flatnonzero(np.r_[True, r_sorted[1:] != r_sorted[:-1]])
    group = np.cumsum(np.r_[True, r_sorted[1:] != r_sorted[:-1]]) - 1
    csum = np.vstack([np.zeros((1, t.size)), np.cumsum(mid, axis=0)])
    ends = np.r_[starts[1:], n]
    below = csum[starts[group]]  # sum of mid over strictly lower risk
    same = csum[ends[group]] - below - mid  # sum over tied others
    concordant = float(np.sum(dens * (below + 0.5 * same)))
    s_tau = full[:, -1]
    comparable = n * (n - 1) / 2 - (s_tau.sum() ** 2 - np.square(s_tau).sum()) / 2
    if comparable <= 0:
        raise ValueError("no comparable pair expected: every customer survives the window")
    return concordant / comparable


def expected_brier(surv_at_h: npt.ArrayLike) -> float:
    """Expected Brier score at a horizon if the predicted probabilities are right:
    the mean Bernoulli variance ``S_i(h) (1 - S_i(h))``."""
    s = np.asarray(surv_at_h, dtype=np.float64)
    if s.size == 0 or not np.isfinite(s).all() or ((s < 0) | (s > 1)).any():
        raise ValueError("surv_at_h must be a non-empty array of probabilities in [0, 1]")
    return float(np.mean(s * (1.0 - s)))


@dataclass(frozen=True)
class PerformanceEstimate:
    """What the model expects of one week's scores once ``tau_days`` of outcomes are known.

    ``brier`` is keyed by horizon (days); ``expected_events`` is the number of churns the model
    expects within the window among all ``n`` customers.
    """

    n: int
    n_sampled: int
    tau_days: float
    c_index: float
    expected_events: float
    brier: dict[int, float] = field(default_factory=dict)


def estimate_cox_performance(
    risk: npt.ArrayLike,
    baseline: BreslowBaseline,
    tau_days: float,
    horizons: Sequence[int],
    *,
    ids: npt.ArrayLike | None = None,
    max_customers: int = DEFAULT_MAX_CUSTOMERS,
    step_days: float = DEFAULT_GRID_STEP_DAYS,
    seed: int = 0,
) -> PerformanceEstimate:
    """Expected C-index (censored at ``tau_days``) and Brier score at each horizon of a Cox
    model's scores, from its own survival curves; no labels needed.

    The C-index uses a seeded sample of at most ``max_customers`` (chosen by customer id when
    ``ids`` is given); the Brier estimate and the expected churn count use everyone.
    """
    r = np.asarray(risk, dtype=np.float64)
    pos = sample_positions(r.size, max_customers, seed, ids)
    times, surv = cox_survival_grid(baseline, r[pos], tau_days, step_days)
    c = expected_concordance(r[pos], times, surv)
    brier: dict[int, float] = {}
    for h in sorted({int(h) for h in horizons}):
        brier[h] = expected_brier(np.exp(-float(baseline.at(float(h))) * r))
    events = float(np.sum(1.0 - np.exp(-float(baseline.at(tau_days)) * r)))
    return PerformanceEstimate(
        n=int(r.size),
        n_sampled=int(pos.size),
        tau_days=float(tau_days),
        c_index=c,
        expected_events=events,
        brier=brier,
    )


def estimate_gap(estimated: float, realised: float) -> float:
    """Realised minus estimated (negative = the model does worse than it expects)."""
    return float(realised) - float(estimated)


def brier_horizons_in_window(horizons: Sequence[int], tau_days: float) -> list[int]:
    """Horizons whose realised Brier score is defined within the label window (``h < tau``)."""
    return [int(h) for h in horizons if int(h) < tau_days]


def flat_brier(brier: Mapping[int, float]) -> dict[str, float]:
    """``{"30": 0.05, ...}``: JSON-friendly keys for storage."""
    return {str(int(h)): float(v) for h, v in brier.items()}


@dataclass(frozen=True)
class EstimateComparison:
    """The estimate and the realised values over the same customers and the same window."""

    estimate: PerformanceEstimate
    realised_c_index: float
    realised_brier: dict[int, float]
    n_events: int
    event_test: EventCountTest | None = None  # observed vs expected churners within tau

    @property
    def gap_c_index(self) -> float:
        """Realised minus estimated C-index (negative: worse than the model expects)."""
        return estimate_gap(self.estimate.c_index, self.realised_c_index)


def observed_window_days(duration: npt.ArrayLike, event: npt.ArrayLike) -> float:
    """Days of outcome the labels cover: the follow-up of the customers still active (all
    censored at the same date in a cohort), or the last churn day if nobody is censored."""
    d = np.asarray(duration, dtype=np.float64)
    e = np.asarray(event).astype(bool)
    if d.size == 0:
        raise ValueError("no labels")
    return float(d[~e].max() if (~e).any() else d.max())


def truncate_at(
    duration: npt.ArrayLike, event: npt.ArrayLike, tau: float
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Labels as if follow-up had ended at ``tau`` days: later exits become censored at ``tau``.

    The estimated C-index counts pairs whose earlier churn falls within ``tau``; the realised
    one must count the same pairs, or a ``tau`` shorter than the labels' window compares two
    different quantities.
    """
    d = np.asarray(duration, dtype=np.float64)
    e = np.asarray(event).astype(np.int64)
    return np.minimum(d, tau), np.where(d <= tau, e, 0).astype(np.int64)


def compare_with_labels(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    baseline: BreslowBaseline,
    horizons: Sequence[int],
    *,
    tau_days: float | None = None,
    max_customers: int = DEFAULT_MAX_CUSTOMERS,
    seed: int = 0,
) -> EstimateComparison:
    """Estimated vs realised C-index (and Brier at horizons inside the window) of one cohort.

    ``predictions``: customer_id, risk_score. ``labels``: customer_id, duration_days, event, as
    known today (partial labels within the lag window, or the full window). Both sides use the
    customers present in both and the same window ``tau_days`` (default: the window the labels
    cover, :func:`observed_window_days`): the realised C-index is computed on the labels
    truncated at ``tau`` (:func:`truncate_at`), exactly the pairs the estimate counts. The
    realised Brier uses IPCW weights from the cohort itself, like the delayed evaluation.
    """
    joined = predictions[["customer_id", "risk_score"]].merge(
        labels[["customer_id", "duration_days", "event"]],
        on="customer_id",
        how="inner",
        validate="one_to_one",
    )
    if joined.empty:
        raise ValueError("no scored customer has a label")
    d = joined["duration_days"].to_numpy(np.float64)
    e = joined["event"].to_numpy(np.int64)
    risk = joined["risk_score"].to_numpy(np.float64)
    tau = observed_window_days(d, e) if tau_days is None else float(tau_days)
    inside = brier_horizons_in_window(horizons, tau)
    est = estimate_cox_performance(
        risk,
        baseline,
        tau,
        inside,
        ids=joined["customer_id"].to_numpy(),
        max_customers=max_customers,
        seed=seed,
    )
    d_tau, e_tau = truncate_at(d, e, tau)
    realised_c = fast_harrell_c(d_tau, e_tau, risk)
    realised_brier: dict[int, float] = {}
    for h in inside:
        s_h = np.exp(-float(baseline.at(float(h))) * risk)
        try:
            realised_brier[h] = brier_score(d, e, d, e, s_h, float(h))
        except ValueError:
            continue
    p_tau = 1.0 - np.exp(-float(baseline.at(tau)) * risk)
    event_test = observed_vs_expected(int(e_tau.sum()), p_tau)
    return EstimateComparison(est, realised_c, realised_brier, int(e.sum()), event_test)
