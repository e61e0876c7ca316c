"""Survival metrics: how well do our churn risk scores rank and calibrate who leaves first?

Sign convention (the one place it is written down)
--------------------------------------------------
Every ``risk`` argument in this module is a score where **higher = churns sooner**, which is what
the XGBoost ``survival:cox`` model returns (a hazard ratio, ``exp(margin)``). lifelines'
``concordance_index`` expects the opposite orientation (higher = survives longer), so
:func:`harrell_c` passes ``-risk`` to it. Survival probabilities (``surv_prob*``) are
``P(customer still active at t)``; churn probability is ``1 - surv_prob``.

Conventions shared by all metrics
---------------------------------
* Durations are in days and must be > 0; ``event`` is 1 when the customer churned, 0 when the
  customer was still active at the end of follow-up (censored). A censored customer never counts
  as a churner.
* Ties in time follow Harrell/lifelines/scikit-survival: two churns on the same day are not a
  comparable pair; a churn and a censoring on the same day are (the censored customer is taken to
  have stayed longer). Ties in risk count one half.
* Inverse-probability-of-censoring weights (IPCW) use the Kaplan-Meier estimate ``G`` of the
  censoring distribution fitted on the *training* data (for the delayed evaluation: on the
  evaluated cohort itself). At a day where churns and censorings coincide, churns are taken to
  happen first, so they leave the censoring risk set before the censorings are counted (the
  "reverse Kaplan-Meier" used by scikit-survival, pec and survAUC). ``KaplanMeierFitter`` on
  ``1 - event`` keeps the churns in the risk set and gives a different ``G`` whenever durations
  tie, which with day-resolution data is always; both agree exactly on tie-free data (tested).
  ``G`` is a right-continuous step function; beyond the last training day it is carried forward.
* Which ``G`` weighs a churn (``censoring_weights``):

  - ``"left_limit"`` (default): a churn at ``T_i`` is weighted ``1 / G(T_i-)``, the censoring
    survival just *before* ``T_i`` (Graf et al. 1999; Gerds and Schumacher 2006; R's pec and
    riskRegression). A customer censored on the churn day was still under observation when the
    churn happened, so that censoring must not inflate the churn's weight. This is the unbiased
    choice with day-resolution ties, and a churn on the last day of follow-up keeps a finite weight.
  - ``"at_time"``: ``1 / G(T_i)`` as in scikit-survival (0.28) and earlier versions of this
    module. Identical to ``"left_limit"`` when no censoring falls on a churn day (continuous
    times); with day ties at ~50% censoring it biases the Brier score upwards (~+0.009 measured,
    see the tests). Kept selectable so numbers can be compared with scikit-survival.

  Customers still active after ``t`` (Brier and AUC controls) are always weighted ``1 / G(t)``.
* Horizon metrics (Brier, AUC, IBS) are **undefined**, and raise :class:`UndefinedMetricError`
  (a ``ValueError``) naming the reason, where no customer of the test data was followed up to the
  horizon (longest observed duration < ``t``; scikit-survival refuses these too) or where
  ``G(t) = 0`` (every customer still followed at ``t`` was censored by then). Reporting a number
  there is what made a model predicting "everyone churns" score a perfect 0.0 beyond follow-up.
  :func:`evaluate_survival` turns them into NaN and records the reason in
  :attr:`SurvivalEvaluation.undefined`, so callers can log why a horizon is absent.
* Uno's C ties: a pair (i, j) is comparable when ``T_i < T_j``, or ``T_i == T_j`` with i a churn
  and j censored (the censored customer is taken to have stayed longer); two churns on the same
  day are not comparable. Tied risks count one half (exact equality, where scikit-survival uses a
  1e-8 tolerance). Only churns with ``T_i < tau`` anchor pairs, each weighted ``G(T_i-)^-2``
  (``"left_limit"``) or ``G(T_i)^-2`` (``"at_time"``, scikit-survival's
  ``concordance_index_ipcw``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt
from lifelines.utils import concordance_index

__all__ = [
    "CensoringWeights",
    "SurvivalEvaluation",
    "UndefinedMetricError",
    "brier_score",
    "cumulative_dynamic_auc",
    "evaluate_survival",
    "fast_harrell_c",
    "harrell_c",
    "integrated_brier_score",
    "km_survival_at",
    "uno_c",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

CensoringWeights = Literal["left_limit", "at_time"]
"""Which censoring survival weighs a churn at ``T_i``: ``G(T_i-)`` (default) or ``G(T_i)``."""

_CONVENTIONS: tuple[str, ...] = ("left_limit", "at_time")


class UndefinedMetricError(ValueError):
    """A metric that the data cannot define (horizon beyond follow-up, ``G(t) = 0``, no pairs).

    ``reason`` is a sentence a caller can log next to the missing number.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _check_convention(censoring_weights: str) -> None:
    if censoring_weights not in _CONVENTIONS:
        raise ValueError(
            f"censoring_weights must be one of {list(_CONVENTIONS)}, got {censoring_weights!r}"
        )


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _as_1d_float(values: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf); "
            f"first at position {first}: {arr[first]!r}"
        )
    return arr


def _survival_target(
    duration: ArrayLike, event: ArrayLike, prefix: str
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Validate one (duration, event) pair and return float durations and boolean events."""
    d = _as_1d_float(duration, f"{prefix}duration")
    e_raw = _as_1d_float(event, f"{prefix}event")
    if d.shape != e_raw.shape:
        raise ValueError(
            f"{prefix}duration and {prefix}event must have equal lengths, "
            f"got {d.size} and {e_raw.size}"
        )
    nonpos = d <= 0
    if nonpos.any():
        first = int(np.flatnonzero(nonpos)[0])
        raise ValueError(
            f"{prefix}duration must be > 0 days; {int(nonpos.sum())} value(s) are not, "
            f"first at position {first}: {d[first]!r}"
        )
    not_binary = (e_raw != 0) & (e_raw != 1)
    if not_binary.any():
        first = int(np.flatnonzero(not_binary)[0])
        raise ValueError(
            f"{prefix}event must be 0 (censored) or 1 (churned); {int(not_binary.sum())} "
            f"value(s) are not, first at position {first}: {e_raw[first]!r}"
        )
    return d, e_raw == 1


def _scores(values: ArrayLike, name: str, n: int) -> FloatArray:
    arr = _as_1d_float(values, name)
    if arr.size != n:
        raise ValueError(f"{name} must have one value per customer: expected {n}, got {arr.size}")
    return arr


# --------------------------------------------------------------------------------------------
# Concordance kernel (shared by Harrell and Uno)
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _concordance_kernel(
    time_sorted: np.ndarray,
    event_sorted: np.ndarray,
    rank_sorted: np.ndarray,
    weight_sorted: np.ndarray,
    n_ranks: int,
) -> tuple[int, int, int, float, float]:
    """Count concordant/tied/comparable pairs in O(n log n) with a Fenwick tree over risk ranks.

    Inputs are sorted by time ascending. We sweep from the latest time to the earliest. For the
    group of customers sharing a time ``t``: censored ones are added to the tree first (they are
    comparable to churns at ``t``), then every churn at ``t`` queries the tree (everyone in it left
    later or was censored at ``t``), then the churns are added (same-day churns are not
    comparable to each other). A pair is concordant when the earlier churner has the higher risk.
    Weighted sums use the churner's weight (1 for Harrell, ``G(T_i)^-2`` for Uno).
    """
    n = time_sorted.size
    tree = np.zeros(n_ranks + 1, dtype=np.int64)
    inserted = 0
    correct = 0
    tied = 0
    pairs = 0
    w_num = 0.0
    w_den = 0.0
    hi = n
    while hi > 0:
        lo = hi - 1
        t = time_sorted[lo]
        while lo > 0 and time_sorted[lo - 1] == t:
            lo -= 1
        # 1) censored at t join the pool
        for k in range(lo, hi):
            if not event_sorted[k]:
                r = rank_sorted[k] + 1
                while r <= n_ranks:
                    tree[r] += 1
                    r += r & (-r)
                inserted += 1
        # 2) churns at t are compared with the pool
        for k in range(lo, hi):
            if event_sorted[k]:
                r = rank_sorted[k]  # number of strictly lower ranks = prefix(r)
                below = 0
                q = r
                while q > 0:
                    below += tree[q]
                    q -= q & (-q)
                upto = 0
                q = r + 1
                while q > 0:
                    upto += tree[q]
                    q -= q & (-q)
                same = upto - below
                correct += below
                tied += same
                pairs += inserted
                w = weight_sorted[k]
                if w != 0.0:
                    w_num += w * below + 0.5 * w * same
                    w_den += w * inserted
        # 3) churns at t join the pool
        for k in range(lo, hi):
            if event_sorted[k]:
                r = rank_sorted[k] + 1
                while r <= n_ranks:
                    tree[r] += 1
                    r += r & (-r)
                inserted += 1
        hi = lo
    return correct, tied, pairs, w_num, w_den


def _concordance_counts(
    duration: FloatArray,
    event: npt.NDArray[np.bool_],
    risk: FloatArray,
    weight: FloatArray,
) -> tuple[int, int, int, float, float]:
    order = np.argsort(duration, kind="stable")
    uniq, inverse = np.unique(risk, return_inverse=True)
    ranks = inverse.astype(np.int64)
    counts: tuple[int, int, int, float, float] = _concordance_kernel(
        np.ascontiguousarray(duration[order]),
        np.ascontiguousarray(event[order]),
        np.ascontiguousarray(ranks[order]),
        np.ascontiguousarray(weight[order]),
        int(uniq.size),
    )
    return counts


def _no_pairs_error(what: str) -> UndefinedMetricError:
    return UndefinedMetricError(
        f"{what}: no comparable pair (needs at least one churn followed by a later exit, "
        "or a churn and a censoring on the same day)"
    )


def harrell_c(duration: ArrayLike, event: ArrayLike, risk: ArrayLike) -> float:
    """Harrell's C: share of comparable customer pairs that the risk score puts in churn order.

    Reference implementation through ``lifelines.utils.concordance_index(duration, -risk, event)``
    (see the sign convention at the top of this module). 1.0 = perfect ranking, 0.5 = random,
    0.0 = perfectly reversed.
    """
    d, e = _survival_target(duration, event, "")
    r = _scores(risk, "risk", d.size)
    if not _has_comparable_pair(d, e):
        raise _no_pairs_error("harrell_c")
    return float(concordance_index(d, -r, e.astype(np.float64)))


def _has_comparable_pair(d: FloatArray, e: npt.NDArray[np.bool_]) -> bool:
    if not e.any():
        return False
    first_event = d[e].min()
    # a churn at the earliest churn day is comparable to anyone later, or censored that day
    return bool((d > first_event).any() or ((d == first_event) & ~e).any())


def fast_harrell_c(duration: ArrayLike, event: ArrayLike, risk: ArrayLike) -> float:
    """Harrell's C in O(n log n), numerically identical to :func:`harrell_c` (lifelines).

    Same pair definition, same 0.5 credit for tied risks and the same final formula
    ``(correct + tied / 2) / pairs`` on exact integer counts, so the result equals lifelines
    bit for bit. Used for the delayed evaluation of a million predictions, where lifelines'
    pure-Python tree is too slow.
    """
    d, e = _survival_target(duration, event, "")
    r = _scores(risk, "risk", d.size)
    correct, tied, pairs, _, _ = _concordance_counts(d, e, r, np.zeros(d.size))
    if pairs == 0:
        raise _no_pairs_error("fast_harrell_c")
    return float((np.int64(correct) + np.int64(tied) / 2) / np.int64(pairs))


# --------------------------------------------------------------------------------------------
# Kaplan-Meier (customers) and reverse Kaplan-Meier (censoring)
# --------------------------------------------------------------------------------------------


def _km_curve(
    duration: FloatArray, event: npt.NDArray[np.bool_], reverse: bool
) -> tuple[FloatArray, FloatArray]:
    """Distinct times and the right-continuous KM step values at them.

    ``reverse=True`` estimates the censoring survival ``G`` (churns leave the risk set first).
    """
    times, inverse = np.unique(duration, return_inverse=True)
    n_total = np.bincount(inverse, minlength=times.size).astype(np.float64)
    n_events: FloatArray = np.bincount(
        inverse, weights=event.astype(np.float64), minlength=times.size
    ).astype(np.float64)
    at_risk: FloatArray = np.cumsum(n_total[::-1])[::-1]
    if reverse:
        at_risk = at_risk - n_events
        n_events = n_total - n_events
    with np.errstate(divide="ignore", invalid="ignore"):
        factor: FloatArray = np.where(at_risk > 0, 1.0 - n_events / at_risk, 1.0).astype(np.float64)
    surv = np.cumprod(factor, dtype=np.float64)
    return times, surv


def _step_at(
    times: FloatArray, values: FloatArray, at: FloatArray, left_limit: bool = False
) -> FloatArray:
    """Right-continuous step function at ``at`` (1 before the first time); with
    ``left_limit=True`` its value just before ``at`` (steps at ``at`` itself not yet taken)."""
    idx = np.searchsorted(times, at, side="left" if left_limit else "right") - 1
    out = np.ones(at.shape, dtype=np.float64)
    inside = idx >= 0
    out[inside] = values[idx[inside]]
    return out


def km_survival_at(duration: ArrayLike, event: ArrayLike, times: ArrayLike) -> FloatArray:
    """Kaplan-Meier probability that a customer is still active at each of ``times``.

    This is the "KM null model": the same prediction for everyone, the baseline any churn model
    must beat on Brier score.
    """
    d, e = _survival_target(duration, event, "")
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if not np.isfinite(t).all():
        raise ValueError("times must be finite")
    km_t, km_s = _km_curve(d, e, reverse=False)
    return _step_at(km_t, km_s, t)


class _CensoringModel:
    """Censoring survival ``G(t)`` fitted on training data, for IPCW weights."""

    def __init__(self, duration_train: FloatArray, event_train: npt.NDArray[np.bool_]) -> None:
        self.times, self.values = _km_curve(duration_train, event_train, reverse=True)

    def at(self, t: FloatArray) -> FloatArray:
        """``G(t)``, right-continuous (censorings at ``t`` counted)."""
        return _step_at(self.times, self.values, np.asarray(t, dtype=np.float64))

    def before(self, t: FloatArray) -> FloatArray:
        """``G(t-)``: the censoring survival just before ``t``."""
        return _step_at(self.times, self.values, np.asarray(t, dtype=np.float64), left_limit=True)

    def checked(self, t: FloatArray, what: str) -> FloatArray:
        """``G(t)`` for controls at a horizon; zero means the horizon is undefined."""
        return self._nonzero(self.at(t), t, what, "")

    def event_weights_g(
        self, t: FloatArray, what: str, censoring_weights: CensoringWeights
    ) -> FloatArray:
        """The ``G`` that weighs churns at days ``t`` under the chosen convention."""
        if censoring_weights == "left_limit":
            return self._nonzero(self.before(t), t, what, "-")
        return self._nonzero(self.at(t), t, what, "")

    @staticmethod
    def _nonzero(g: FloatArray, t: FloatArray, what: str, side: str) -> FloatArray:
        zero = g <= 0
        if zero.any():
            first = float(np.min(np.asarray(t)[zero]))
            raise UndefinedMetricError(
                f"{what}: the censoring survival G(t{side}) estimated on the training data is zero "
                f"at t={first:g} days, so inverse-probability weights are undefined; truncate the "
                "evaluation below that time (tau / horizons)"
            )
        return g


def _check_followed_up(d: FloatArray, t: float, what: str) -> None:
    """A horizon metric needs at least one test customer observed up to ``t``."""
    longest = float(d.max())
    if longest < t:
        raise UndefinedMetricError(
            f"{what} at t={t:g} days: no customer was followed up to the horizon (longest "
            f"observed duration {longest:g} days); outcomes at t are unknown"
        )


def _train_test(
    duration_train: ArrayLike,
    event_train: ArrayLike,
    duration_test: ArrayLike,
    event_test: ArrayLike,
) -> tuple[_CensoringModel, FloatArray, npt.NDArray[np.bool_]]:
    dtr, etr = _survival_target(duration_train, event_train, "train ")
    dte, ete = _survival_target(duration_test, event_test, "test ")
    return _CensoringModel(dtr, etr), dte, ete


# --------------------------------------------------------------------------------------------
# IPCW metrics
# --------------------------------------------------------------------------------------------


def uno_c(
    duration_train: ArrayLike,
    event_train: ArrayLike,
    duration_test: ArrayLike,
    event_test: ArrayLike,
    risk: ArrayLike,
    tau: float | None = None,
    censoring_weights: CensoringWeights = "left_limit",
) -> float:
    """Uno's C: concordance reweighted by ``G(T_i-)^-2`` so it does not depend on test censoring.

    Only churns before ``tau`` (days) anchor a pair; ``tau`` keeps the weights finite when
    follow-up is short. Pair definition and tie handling as in the module docstring (same as
    :func:`harrell_c`); with no censoring in training it equals Harrell's C restricted to churns
    before ``tau``. Follows Uno et al. (2011); ``censoring_weights="at_time"`` reproduces
    scikit-survival's ``concordance_index_ipcw`` (ties in risk by exact equality rather than a
    1e-8 tolerance).
    """
    _check_convention(censoring_weights)
    cens, d, e = _train_test(duration_train, event_train, duration_test, event_test)
    r = _scores(risk, "risk", d.size)
    if tau is not None and not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a positive number of days, got {tau!r}")
    return _uno_with(cens, d, e, r, tau, censoring_weights)


def brier_score(
    duration_train: ArrayLike,
    event_train: ArrayLike,
    duration_test: ArrayLike,
    event_test: ArrayLike,
    surv_prob_at_t: ArrayLike,
    t: float,
    censoring_weights: CensoringWeights = "left_limit",
) -> float:
    """IPCW Brier score at day ``t`` (Graf et al., 1999): mean squared error of ``P(active at t)``.

    Customers who churned by ``t`` should have predicted 0 (weight ``1/G(T_i-)``); customers
    still active after ``t`` should have predicted 1 (weight ``1/G(t)``); customers censored at or
    before ``t`` carry no information and count zero. Lower is better; the KM null model is the
    baseline. Raises :class:`UndefinedMetricError` where no test customer was followed up to
    ``t`` or ``G(t) = 0``.
    """
    _check_convention(censoring_weights)
    cens, d, e = _train_test(duration_train, event_train, duration_test, event_test)
    s = _scores(surv_prob_at_t, "surv_prob_at_t", d.size)
    if ((s < 0) | (s > 1)).any():
        raise ValueError("surv_prob_at_t must be probabilities in [0, 1]")
    return _brier(cens, d, e, s, float(t), censoring_weights)


def _check_t(t: float) -> None:
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"t must be a positive number of days, got {t!r}")


def _brier(
    cens: _CensoringModel,
    d: FloatArray,
    e: npt.NDArray[np.bool_],
    s: FloatArray,
    t: float,
    censoring_weights: CensoringWeights = "left_limit",
) -> float:
    _check_t(t)
    _check_followed_up(d, t, "brier_score")
    g_t = cens.checked(np.array([t]), f"brier_score at t={t:g}")[0]
    case = e & (d <= t)
    control = d > t
    total = np.zeros(d.size)
    if case.any():
        g_case = cens.event_weights_g(d[case], "brier_score", censoring_weights)
        total[case] = np.square(s[case]) / g_case
    if control.any():
        total[control] = np.square(1.0 - s[control]) / g_t
    return float(np.mean(total))


def integrated_brier_score(
    duration_train: ArrayLike,
    event_train: ArrayLike,
    duration_test: ArrayLike,
    event_test: ArrayLike,
    surv_prob: ArrayLike,
    times: ArrayLike,
    censoring_weights: CensoringWeights = "left_limit",
) -> float:
    """Brier score averaged over days ``times`` (trapezoid rule divided by ``t_max - t_min``).

    ``surv_prob`` has one row per customer and one column per time in ``times``. Undefined
    (:class:`UndefinedMetricError`) as soon as one of ``times`` is: an integral over a shorter
    range would be a different quantity under the same name.
    """
    _check_convention(censoring_weights)
    cens, d, e = _train_test(duration_train, event_train, duration_test, event_test)
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size < 2:
        raise ValueError("times must be a one-dimensional sequence of at least two days")
    if not np.isfinite(t).all() or (np.diff(t) <= 0).any():
        raise ValueError("times must be finite and strictly increasing")
    sp = np.asarray(surv_prob, dtype=np.float64)
    if sp.shape != (d.size, t.size):
        raise ValueError(
            f"surv_prob must have shape (n_customers, n_times) = ({d.size}, {t.size}), "
            f"got {sp.shape}"
        )
    if not np.isfinite(sp).all() or ((sp < 0) | (sp > 1)).any():
        raise ValueError("surv_prob must be finite probabilities in [0, 1]")
    scores = np.array(
        [_brier(cens, d, e, sp[:, k], float(tk), censoring_weights) for k, tk in enumerate(t)]
    )
    return float(np.trapezoid(scores, t) / (t[-1] - t[0]))


def cumulative_dynamic_auc(
    duration_train: ArrayLike,
    event_train: ArrayLike,
    duration_test: ArrayLike,
    event_test: ArrayLike,
    risk: ArrayLike,
    t: float,
    censoring_weights: CensoringWeights = "left_limit",
) -> float:
    """Time-dependent AUC at day ``t``: does the score separate churners-by-``t`` from stayers?

    Cumulative cases are churns at or before ``t`` (weighted ``1/G(T_i-)``), dynamic controls are
    customers still active after ``t``. The AUC is the weighted share of (case, control) pairs
    where the case has the higher risk, ties counting one half (Uno et al. 2007,
    Hung & Chiang 2010; scikit-survival's ``cumulative_dynamic_auc`` with
    ``censoring_weights="at_time"``). O(n log n). Undefined beyond follow-up and where
    ``G(t) = 0``, like the Brier score.
    """
    _check_convention(censoring_weights)
    cens, d, e = _train_test(duration_train, event_train, duration_test, event_test)
    r = _scores(risk, "risk", d.size)
    return _auc(cens, d, e, r, float(t), censoring_weights)


def _auc(
    cens: _CensoringModel,
    d: FloatArray,
    e: npt.NDArray[np.bool_],
    r: FloatArray,
    t: float,
    censoring_weights: CensoringWeights = "left_limit",
) -> float:
    _check_t(t)
    _check_followed_up(d, t, "cumulative_dynamic_auc")
    cens.checked(np.array([t]), f"cumulative_dynamic_auc at t={t:g}")
    case = e & (d <= t)
    control = d > t
    if not case.any() or not control.any():
        raise UndefinedMetricError(
            f"cumulative_dynamic_auc at t={t:g}: needs at least one churn on or before t "
            f"(got {int(case.sum())}) and one customer active after t (got {int(control.sum())})"
        )
    w = 1.0 / cens.event_weights_g(d[case], "cumulative_dynamic_auc", censoring_weights)
    ctrl = np.sort(r[control])
    below = np.searchsorted(ctrl, r[case], side="left")
    upto = np.searchsorted(ctrl, r[case], side="right")
    credit = below + 0.5 * (upto - below)
    return float(np.sum(w * credit) / (np.sum(w) * ctrl.size))


# --------------------------------------------------------------------------------------------
# One-call evaluation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurvivalEvaluation:
    """Everything we log about a model's predictions once their churn labels are known.

    ``brier`` and ``auc`` are keyed by horizon in days. ``uno_c`` is truncated at the longest
    horizon. A metric the data cannot define (horizon beyond follow-up, ``G(t) = 0``, no churn
    yet, nobody still active) is NaN and ``undefined`` maps its name (``brier_90d``, ``auc_90d``,
    ``uno_c``, ``ibs``) to the reason; ``ibs`` is NaN with fewer than two horizons or when any
    horizon is undefined. ``followed_up_days`` is the longest observed duration.
    """

    n: int
    n_events: int
    c_index: float
    uno_c: float
    brier: dict[int, float]
    auc: dict[int, float]
    ibs: float
    undefined: dict[str, str] = field(default_factory=dict)
    followed_up_days: float = float("nan")

    @property
    def reported_horizons(self) -> list[int]:
        """Horizons with a defined Brier score: the only ones to store, log or chart."""
        return [h for h, v in self.brier.items() if np.isfinite(v)]


def evaluate_survival(
    duration_train: ArrayLike,
    event_train: ArrayLike,
    duration_test: ArrayLike,
    event_test: ArrayLike,
    risk: ArrayLike,
    surv_at_horizons: Mapping[int, ArrayLike],
    horizons: Sequence[int],
    censoring_weights: CensoringWeights = "left_limit",
) -> SurvivalEvaluation:
    """Score predictions against labels: Harrell C (fast), Uno C, Brier and AUC per horizon, IBS.

    ``surv_at_horizons[h]`` is each customer's predicted ``P(active at h days)``.
    """
    _check_convention(censoring_weights)
    cens, d, e = _train_test(duration_train, event_train, duration_test, event_test)
    r = _scores(risk, "risk", d.size)
    hs = [int(h) for h in horizons]
    if not hs:
        raise ValueError("horizons must name at least one horizon in days")
    if any(h <= 0 for h in hs) or len(set(hs)) != len(hs):
        raise ValueError(f"horizons must be distinct positive days, got {hs}")
    hs.sort()
    missing = [h for h in hs if h not in surv_at_horizons]
    if missing:
        raise ValueError(f"surv_at_horizons has no predictions for horizon(s) {missing}")
    surv = {h: _scores(surv_at_horizons[h], f"surv_at_horizons[{h}]", d.size) for h in hs}
    for h, s in surv.items():
        if ((s < 0) | (s > 1)).any():
            raise ValueError(f"surv_at_horizons[{h}] must be probabilities in [0, 1]")

    undefined: dict[str, str] = {}
    c_index = fast_harrell_c(d, e, r)
    uno = _or_nan(
        partial(_uno_with, cens, d, e, r, float(hs[-1]), censoring_weights), "uno_c", undefined
    )
    brier = {
        h: _or_nan(
            partial(_brier, cens, d, e, surv[h], float(h), censoring_weights),
            f"brier_{h}d",
            undefined,
        )
        for h in hs
    }
    auc = {
        h: _or_nan(
            partial(_auc, cens, d, e, r, float(h), censoring_weights), f"auc_{h}d", undefined
        )
        for h in hs
    }
    if len(hs) < 2:
        ibs = float("nan")
        undefined["ibs"] = "ibs needs at least two horizons"
    elif any(not np.isfinite(brier[h]) for h in hs):
        ibs = float("nan")
        absent = [h for h in hs if not np.isfinite(brier[h])]
        undefined["ibs"] = (
            f"ibs over {hs[0]}-{hs[-1]} days: Brier undefined at horizon(s) {absent} "
            f"(longest follow-up {float(d.max()):g} days)"
        )
    else:
        bs = np.array([brier[h] for h in hs])
        ibs = float(np.trapezoid(bs, np.array(hs, dtype=np.float64)) / (hs[-1] - hs[0]))
    return SurvivalEvaluation(
        n=int(d.size),
        n_events=int(e.sum()),
        c_index=c_index,
        uno_c=uno,
        brier=brier,
        auc=auc,
        ibs=ibs,
        undefined=undefined,
        followed_up_days=float(d.max()),
    )


def _or_nan(compute: Callable[[], float], name: str, undefined: dict[str, str]) -> float:
    """Undefined metric (beyond follow-up, no pairs, no cases/controls, G = 0) -> NaN + reason."""
    try:
        return compute()
    except UndefinedMetricError as exc:
        undefined[name] = exc.reason
        return float("nan")


def _uno_with(
    cens: _CensoringModel,
    d: FloatArray,
    e: npt.NDArray[np.bool_],
    r: FloatArray,
    tau: float | None,
    censoring_weights: CensoringWeights = "left_limit",
) -> float:
    anchor = e if tau is None else e & (d < tau)
    weight = np.zeros(d.size)
    if anchor.any():
        g = cens.event_weights_g(d[anchor], "uno_c", censoring_weights)
        weight[anchor] = 1.0 / np.square(g)
    _, _, _, num, den = _concordance_counts(d, e, r, weight)
    if den <= 0:
        raise _no_pairs_error("uno_c" + ("" if tau is None else f" (tau={tau:g})"))
    return float(num / den)
