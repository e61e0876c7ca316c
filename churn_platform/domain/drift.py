"""Drift statistics at scale: has this week's customer data (or score distribution) moved?

Why an effect-size gate
-----------------------
With a million customers every test is significant: the two-sample KS test flags a 0.02σ mean
shift at p≈1e-24. So a *breach* requires both statistical evidence and a material change:
``p < alpha AND effect >= min_effect``, where the effect is the KS distance ``D`` for numeric
features and the Population Stability Index (PSI) for categorical ones. Both numbers are reported
so a person can see why a feature did or did not breach. A categorical level never seen in the
reference (a new plan, a new country) is always reported and always a breach: the model has never
seen it.

Exactness
---------
:func:`ks_2samp_fast` and :func:`ks_many` return the same ``D`` as ``scipy.stats.ks_2samp`` (bit
for bit: same integer counts, same float divisions) and the p-value of its **asymptotic** method
(``method="asymp"``, two-sided: ``kstwo.sf(D, round(n1*n2/(n1+n2)))``, computed by the same scipy
call). scipy's default ``method="auto"`` switches to that method as soon as either sample has more
than 10 000 rows, so on our weekly data both agree with the default too. Missing values (NaN) are
dropped before testing; ``n_reference``/``n_current`` report the rows actually compared.

Exact p-values only where they decide
-------------------------------------
The gate's verdict is ``p < alpha AND effect >= min_effect``. scipy's exact Smirnov tail
(``kstwo.sf``) costs up to a second per column when a shift is mild, yet it only matters where it
can change the verdict. :func:`feature_drift` and :func:`score_drift` (``p_values="decisive"``,
the default) therefore compute it only for columns whose effect reaches the minimum and whose
p-value is not already proven below ``alpha`` by the Dvoretzky-Kiefer-Wolfowitz-Massart bound
``kstwo.sf(D, N) <= 2 exp(-2 N D^2)`` (``N = round(n1 n2 / (n1 + n2))``, the same ``N`` scipy
uses). Elsewhere ``p_value`` holds that bound and ``p_value_is_bound`` is True: read it as
"p <= p_value". Verdicts are identical to the all-exact gate (``p_values="exact"``) by
construction: below ``min_ks`` no p-value can breach; where the bound is below ``alpha`` so is
the exact p-value.

How it is fast
--------------
scipy sorts both samples and binary-searches every value (O(n log n)). We find ``D`` exactly
without a full sort: values are dropped into ~n/16 equal-width buckets (one pass, a monotone map
so bucket order is value order), the CDF gap is known exactly at every bucket boundary, and the
gap inside a bucket can differ from its left boundary by at most the bucket's counts. Only the few
buckets that could still beat the best boundary gap are opened (sorted, or bucketed again when
large) and walked value by value. The answer is the same maximum over the same points; only the
work differs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

__all__ = [
    "DriftThresholds",
    "FeatureDrift",
    "chi2_categorical",
    "drift_frame",
    "feature_drift",
    "ks_2samp_fast",
    "ks_gate",
    "ks_many",
    "psi",
    "psi_categorical",
    "score_drift",
]

FloatArray = npt.NDArray[np.float64]

#: Proportion substituted for an empty bin / unseen level so PSI stays finite.
PSI_EPSILON = 1e-4

_MISSING_LEVEL = "<missing>"


@dataclass(frozen=True)
class DriftThresholds:
    """When does a shift count as a breach? ``p < alpha`` AND the effect reaches its minimum.

    ``min_ks`` is the KS distance (largest gap between the two cumulative distributions, 0..1)
    for numeric features; ``min_psi`` the Population Stability Index for categorical features
    (0.1 = moderate, 0.2 = significant shift by the usual credit-risk rule of thumb).
    """

    alpha: float = 0.01
    min_ks: float = 0.1
    min_psi: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if not 0 <= self.min_ks <= 1:
            raise ValueError(f"min_ks must be in [0, 1], got {self.min_ks!r}")
        if not self.min_psi >= 0:
            raise ValueError(f"min_psi must be >= 0, got {self.min_psi!r}")


@dataclass(frozen=True)
class FeatureDrift:
    """Drift verdict for one feature (or the model score) between reference and current data.

    ``statistic`` is the test statistic (KS ``D`` or chi-square), ``effect`` the effect size the
    gate uses (KS ``D`` for numeric and score, PSI for categorical), ``psi`` is always the PSI.
    """

    column: str
    kind: Literal["numeric", "categorical", "score"]
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    effect: float
    psi: float
    breached: bool
    new_levels: tuple[str, ...]
    n_reference: int
    n_current: int
    #: True when ``p_value`` is an upper bound (DKW-Massart), not scipy's exact tail: the
    #: exact value could not change the verdict (see "Exact p-values only where they decide").
    p_value_is_bound: bool = False


PValues = Literal["decisive", "exact"]


# --------------------------------------------------------------------------------------------
# KS distance kernels
# --------------------------------------------------------------------------------------------

_SMALL = 512  # below this many values a bucket is simply sorted and walked
_MAX_DEPTH = 4


@numba.njit(cache=True, nogil=True)
def _walk_sorted(
    sa: np.ndarray, sb: np.ndarray, i0: int, j0: int, n1: int, n2: int
) -> tuple[float, float]:
    """Max and min of F1 - F2 at every distinct value of two sorted chunks (counts offset)."""
    m1 = sa.size
    m2 = sb.size
    i = 0
    j = 0
    dmax = -np.inf
    dmin = np.inf
    while i < m1 or j < m2:
        v = sa[i] if j >= m2 or (i < m1 and sa[i] <= sb[j]) else sb[j]
        while i < m1 and sa[i] <= v:
            i += 1
        while j < m2 and sb[j] <= v:
            j += 1
        diff = (i0 + i) / n1 - (j0 + j) / n2
        if diff > dmax:
            dmax = diff
        if diff < dmin:
            dmin = diff
    return dmax, dmin


@numba.njit(cache=True, nogil=True, inline="always")
def _bucket(
    x: float, x_bits: int, lo: float, hi: float, base: float, scale: float, nb: int, bits: bool
) -> int:
    """Monotone map value -> bucket, so bucket order is value order.

    Linear mode: ``(x - lo) * scale`` (monotone under round-to-nearest). ``bits`` mode (positive
    ranges spanning several octaves, e.g. spend): the IEEE bit pattern of a positive double is
    an integer increasing with its value, so equal-width buckets in bit space are log-spaced.
    """
    if bits:
        if x <= lo:
            return 0
        if x >= hi:
            return nb - 1
        f = (x_bits - base) * scale
    else:
        f = (x - base) * scale
    if f <= 0.0:
        return 0
    if f >= nb - 1:
        return nb - 1
    return int(f)


@numba.njit(cache=True, nogil=True)
def _extrema(
    a: np.ndarray, b: np.ndarray, i0: int, j0: int, n1: int, n2: int, depth: int
) -> tuple[float, float]:
    """Max and min over distinct values v in a ∪ b of (i0 + #a<=v)/n1 - (j0 + #b<=v)/n2.

    ``a`` and ``b`` are unsorted; ``i0``/``j0`` count the values below this chunk.
    """
    m1 = a.size
    m2 = b.size
    if m1 + m2 <= _SMALL or depth >= _MAX_DEPTH:
        return _walk_sorted(np.sort(a), np.sort(b), i0, j0, n1, n2)
    # Bucket range at the top: robust quantiles of a strided sample, so a long tail (spend,
    # tenure) does not squeeze the bulk of the data into a few buckets. Values outside go to the
    # end buckets, which are opened (and re-bucketed on their exact range) only if they can hold
    # an extreme. Opened buckets use their exact min/max.
    lo = 0.0
    hi = 0.0
    discrete = False
    if depth == 0:
        step_a = max(1, m1 // 2048)
        step_b = max(1, m2 // 2048)
        sample = np.sort(np.concatenate((a[::step_a], b[::step_b])))
        lo = sample[int(0.005 * (sample.size - 1))]
        hi = sample[int(np.ceil(0.995 * (sample.size - 1)))]
        distinct = 1
        for q in range(1, sample.size):
            if sample[q] != sample[q - 1]:
                distinct += 1
        # counts, flags, ratings: most buckets hold one repeated value; track each bucket's
        # min/max so such buckets are known to hide nothing and are never opened
        discrete = distinct <= 1024
    if not (lo < hi and np.isfinite(hi - lo)):
        lo = np.inf
        hi = -np.inf
        for x in a:
            lo = min(lo, x)
            hi = max(hi, x)
        for x in b:
            lo = min(lo, x)
            hi = max(hi, x)
        if lo == hi:  # a single distinct value
            d = (i0 + m1) / n1 - (j0 + m2) / n2
            return d, d
    width = hi - lo
    if not np.isfinite(width):
        return _walk_sorted(np.sort(a), np.sort(b), i0, j0, n1, n2)
    nb = max(16, min((m1 + m2) // 16, 1 << 16))
    bits = depth == 0 and lo > 0.0 and hi > 8.0 * lo
    a_bits = a.view(np.int64)
    b_bits = b.view(np.int64)
    if bits:
        lo_bits = np.array([lo]).view(np.int64)[0]
        hi_bits = np.array([hi]).view(np.int64)[0]
        base = float(lo_bits)
        scale = nb / float(hi_bits - lo_bits)
    else:
        base = lo
        scale = nb / width
    if not np.isfinite(scale):
        return _walk_sorted(np.sort(a), np.sort(b), i0, j0, n1, n2)
    ca = np.zeros(nb, dtype=np.int64)
    cb = np.zeros(nb, dtype=np.int64)
    bmin = np.empty(0)
    bmax = np.empty(0)
    if discrete:
        bmin = np.full(nb, np.inf)
        bmax = np.full(nb, -np.inf)
        for q in range(m1):
            k = _bucket(a[q], a_bits[q], lo, hi, base, scale, nb, bits)
            ca[k] += 1
            bmin[k] = min(bmin[k], a[q])
            bmax[k] = max(bmax[k], a[q])
        for q in range(m2):
            k = _bucket(b[q], b_bits[q], lo, hi, base, scale, nb, bits)
            cb[k] += 1
            bmin[k] = min(bmin[k], b[q])
            bmax[k] = max(bmax[k], b[q])
    else:
        for q in range(m1):
            ca[_bucket(a[q], a_bits[q], lo, hi, base, scale, nb, bits)] += 1
        for q in range(m2):
            cb[_bucket(b[q], b_bits[q], lo, hi, base, scale, nb, bits)] += 1
    # exact gaps at the last value of every non-empty bucket
    best_max = -np.inf
    best_min = np.inf
    ia = i0
    jb = j0
    for k in range(nb):
        if ca[k] + cb[k] > 0:
            ia += ca[k]
            jb += cb[k]
            d = ia / n1 - jb / n2
            if d > best_max:
                best_max = d
            if d < best_min:
                best_min = d
    # Buckets whose interior could beat the boundaries. A bucket holding values of one sample
    # only moves the gap monotonically between two attained values (its boundaries, or the
    # final gap 0), and a bucket holding a single distinct value has no interior, so only
    # buckets holding both samples and several values can hide an extreme.
    cand = np.zeros(nb, dtype=np.bool_)
    n_cand_a = 0
    n_cand_b = 0
    ia = i0
    jb = j0
    for k in range(nb):
        if ca[k] > 0 and cb[k] > 0 and not (discrete and bmin[k] == bmax[k]):
            upper = (ia + ca[k]) / n1 - jb / n2
            lower = ia / n1 - (jb + cb[k]) / n2
            if upper > best_max or lower < best_min:
                cand[k] = True
                n_cand_a += ca[k]
                n_cand_b += cb[k]
        ia += ca[k]
        jb += cb[k]
    if n_cand_a + n_cand_b == 0:
        return best_max, best_min
    # gather candidate buckets contiguously
    off_a = np.zeros(nb + 1, dtype=np.int64)
    off_b = np.zeros(nb + 1, dtype=np.int64)
    for k in range(nb):
        off_a[k + 1] = off_a[k] + (ca[k] if cand[k] else 0)
        off_b[k + 1] = off_b[k] + (cb[k] if cand[k] else 0)
    buf_a = np.empty(n_cand_a, dtype=np.float64)
    buf_b = np.empty(n_cand_b, dtype=np.float64)
    pos_a = off_a[:-1].copy()
    pos_b = off_b[:-1].copy()
    for q in range(m1):
        k = _bucket(a[q], a_bits[q], lo, hi, base, scale, nb, bits)
        if cand[k]:
            buf_a[pos_a[k]] = a[q]
            pos_a[k] += 1
    for q in range(m2):
        k = _bucket(b[q], b_bits[q], lo, hi, base, scale, nb, bits)
        if cand[k]:
            buf_b[pos_b[k]] = b[q]
            pos_b[k] += 1
    ia = i0
    jb = j0
    for k in range(nb):
        if cand[k]:
            upper = (ia + ca[k]) / n1 - jb / n2
            lower = ia / n1 - (jb + cb[k]) / n2
            if upper > best_max or lower < best_min:
                sub_max, sub_min = _extrema(
                    buf_a[off_a[k] : off_a[k + 1]],
                    buf_b[off_b[k] : off_b[k + 1]],
                    ia,
                    jb,
                    n1,
                    n2,
                    depth + 1,
                )
                if sub_max > best_max:
                    best_max = sub_max
                if sub_min < best_min:
                    best_min = sub_min
        ia += ca[k]
        jb += cb[k]
    return best_max, best_min


def _ks_distance(reference: FloatArray, current: FloatArray) -> float:
    """KS distance exactly as scipy computes it (``max(max gap, clip(-min gap, 0, 1))``)."""
    n1 = int(reference.size)
    n2 = int(current.size)
    dmax, dmin = _extrema(reference, current, 0, 0, n1, n2, 0)
    min_s = float(np.clip(-dmin, 0, 1))
    return min_s if min_s > dmax else float(dmax)


def _ks_pvalue(d: FloatArray, n1: npt.NDArray[np.int64], n2: npt.NDArray[np.int64]) -> FloatArray:
    """scipy's two-sided asymptotic p-value: ``kstwo.sf(D, round(m*n/(m+n)))``, m >= n."""
    m = np.maximum(n1, n2).astype(np.float64)
    n = np.minimum(n1, n2).astype(np.float64)
    en = m * n / (m + n)
    with np.errstate(divide="ignore", invalid="ignore"):  # n1 = n2 = 1 rounds to N = 0
        p = np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1)
    return np.asarray(p, dtype=np.float64)


def _ks_bound(d: FloatArray, n1: npt.NDArray[np.int64], n2: npt.NDArray[np.int64]) -> FloatArray:
    """Upper bound on :func:`_ks_pvalue`: ``min(1, 2 exp(-2 N D^2))`` with scipy's ``N``.

    Massart's tight constant for the Dvoretzky-Kiefer-Wolfowitz inequality bounds the one-sample
    two-sided Kolmogorov tail, which is what ``kstwo.sf(D, N)`` is.
    """
    m = np.maximum(n1, n2).astype(np.float64)
    n = np.minimum(n1, n2).astype(np.float64)
    big_n = np.round(m * n / (m + n))
    return np.asarray(np.minimum(1.0, 2.0 * np.exp(-2.0 * big_n * d * d)), dtype=np.float64)


def _gate_pvalues(
    d: FloatArray,
    n1: npt.NDArray[np.int64],
    n2: npt.NDArray[np.int64],
    effect_reached: npt.NDArray[np.bool_],
    alpha: float,
    mode: PValues,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """(p-values, is-bound flags): exact only where the p-value can change the verdict."""
    if mode == "exact":
        return _ks_pvalue(d, n1, n2), np.zeros(d.shape, dtype=bool)
    if mode != "decisive":
        raise ValueError(f"p_values must be 'decisive' or 'exact', got {mode!r}")
    bound = _ks_bound(d, n1, n2)
    # proven below alpha (with a margin far above the rounding error of either computation)
    exact = effect_reached & ~(bound < alpha * (1 - 1e-9))
    p = bound.copy()
    if exact.any():
        p[exact] = _ks_pvalue(d[exact], n1[exact], n2[exact])
    return p, ~exact


def _clean(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    missing = np.isnan(arr)
    if missing.any():
        arr = arr[~missing]
    if arr.size == 0:
        raise ValueError(f"{name} has no non-missing values to compare")
    return np.ascontiguousarray(arr)


def ks_2samp_fast(reference: npt.ArrayLike, current: npt.ArrayLike) -> tuple[float, float]:
    """Two-sample KS test: (D, p-value), equal to ``scipy.stats.ks_2samp(method="asymp")``.

    ``D`` is the largest gap between the reference and current cumulative distributions; the
    p-value is scipy's two-sided asymptotic one (see module docstring). NaNs are dropped.
    """
    ref = _clean(reference, "reference")
    cur = _clean(current, "current")
    d = _ks_distance(ref, cur)
    p = _ks_pvalue(
        np.array([d]), np.array([ref.size], dtype=np.int64), np.array([cur.size], dtype=np.int64)
    )
    return d, float(p[0])


def _ks_distances(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str]
) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(D, n_reference, n_current) per column; columns in parallel threads (GIL released)."""
    _require_columns(reference, current, columns)
    ds = np.empty(len(columns))
    n1 = np.empty(len(columns), dtype=np.int64)
    n2 = np.empty(len(columns), dtype=np.int64)

    def one(k: int) -> None:
        col = columns[k]
        ref = _clean(reference[col].to_numpy(dtype=np.float64), f"reference[{col!r}]")
        cur = _clean(current[col].to_numpy(dtype=np.float64), f"current[{col!r}]")
        ds[k] = _ks_distance(ref, cur)
        n1[k] = ref.size
        n2[k] = cur.size

    workers = min(len(columns), os.cpu_count() or 1)
    if workers > 1 and len(reference) + len(current) >= 200_000:
        # the kernel releases the GIL: columns run on all cores
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(len(columns))))
    else:
        for k in range(len(columns)):
            one(k)
    return ds, n1, n2


def ks_many(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str]
) -> dict[str, tuple[float, float]]:
    """KS (D, p-value) for many numeric columns at once; same numbers as :func:`ks_2samp_fast`.

    Columns are processed in parallel threads (the kernel releases the GIL); the p-values of all
    columns are computed in one vectorised scipy call. Every p-value is scipy's exact tail; the
    gate (:func:`ks_gate`) computes it only where it decides the verdict.
    """
    ds, n1, n2 = _ks_distances(reference, current, columns)
    ps = _ks_pvalue(ds, n1, n2)
    return {col: (float(ds[k]), float(ps[k])) for k, col in enumerate(columns)}


def ks_gate(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    thresholds: DriftThresholds,
    p_values: PValues = "decisive",
) -> dict[str, tuple[float, float, bool, bool]]:
    """KS drift verdicts for many numeric columns: column -> (D, p, p_is_bound, breached).

    ``breached = p < alpha and D >= min_ks``, identical whether ``p_values`` is ``"decisive"``
    (exact tail only where it decides; elsewhere the DKW-Massart bound, flagged) or ``"exact"``.
    """
    ds, n1, n2 = _ks_distances(reference, current, columns)
    ps, bound = _gate_pvalues(ds, n1, n2, ds >= thresholds.min_ks, thresholds.alpha, p_values)
    breached = (ps < thresholds.alpha) & (ds >= thresholds.min_ks)
    return {
        col: (float(ds[k]), float(ps[k]), bool(bound[k]), bool(breached[k]))
        for k, col in enumerate(columns)
    }


def _require_columns(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str]
) -> None:
    for frame, name in ((reference, "reference"), (current, "current")):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} data has no column(s) {missing}")


# --------------------------------------------------------------------------------------------
# PSI
# --------------------------------------------------------------------------------------------


def _psi_from_props(p_ref: FloatArray, p_cur: FloatArray) -> float:
    a = np.maximum(p_ref, PSI_EPSILON)
    b = np.maximum(p_cur, PSI_EPSILON)
    return float(np.sum((b - a) * np.log(b / a)))


def _psi_sorted(ref_sorted: FloatArray, cur_sorted: FloatArray, bins: int) -> float:
    q = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    edges = np.unique(np.quantile(ref_sorted, q))
    # bins (-inf, e1], (e1, e2], ..., (e_k, inf): values outside the reference range land in
    # the end bins
    cum_ref = np.searchsorted(ref_sorted, edges, side="right")
    cum_cur = np.searchsorted(cur_sorted, edges, side="right")
    c_ref = np.diff(np.concatenate(([0], cum_ref, [ref_sorted.size])))
    c_cur = np.diff(np.concatenate(([0], cum_cur, [cur_sorted.size])))
    return _psi_from_props(c_ref / ref_sorted.size, c_cur / cur_sorted.size)


def psi(reference: npt.ArrayLike, current: npt.ArrayLike, bins: int = 10) -> float:
    """Population Stability Index of a numeric feature over reference-quantile bins.

    Bin edges are the reference deciles (for ``bins=10``); repeated edges of discrete features
    are merged, and the outer bins are open so out-of-range current values still count. Empty
    bins use a proportion of ``PSI_EPSILON``. PSI = Σ (cur - ref) · ln(cur / ref); identical
    distributions give 0. NaNs are dropped.
    """
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    ref = np.sort(_clean(reference, "reference"))
    cur = np.sort(_clean(current, "current"))
    return _psi_sorted(ref, cur, bins)


def psi_categorical(
    reference_counts: Mapping[str, int] | pd.Series, current_counts: Mapping[str, int] | pd.Series
) -> float:
    """PSI over categorical levels given level → count for each side.

    Levels absent on one side get a proportion of ``PSI_EPSILON``.
    """
    ref = pd.Series(reference_counts, dtype=np.float64)
    cur = pd.Series(current_counts, dtype=np.float64)
    if (ref < 0).any() or (cur < 0).any():
        raise ValueError("level counts must be >= 0")
    if ref.sum() <= 0 or cur.sum() <= 0:
        raise ValueError("both reference and current need at least one counted row")
    levels = ref.index.union(cur.index)
    r = ref.reindex(levels, fill_value=0.0).to_numpy()
    c = cur.reindex(levels, fill_value=0.0).to_numpy()
    return _psi_from_props(r / r.sum(), c / c.sum())


# --------------------------------------------------------------------------------------------
# Categorical test
# --------------------------------------------------------------------------------------------


def _level_counts(values: pd.Series) -> pd.Series:
    counts = values.astype("object").where(values.notna(), _MISSING_LEVEL).astype(str)
    return counts.value_counts(sort=False)


def chi2_categorical(
    reference: pd.Series, current: pd.Series
) -> tuple[float, float, tuple[str, ...]]:
    """Chi-square test of homogeneity of level frequencies: (chi2, p-value, new levels).

    Levels are compared as strings; missing values form their own level ``"<missing>"``. New
    levels are those present in ``current`` but never seen in ``reference`` (sorted).
    """
    if len(reference) == 0 or len(current) == 0:
        raise ValueError("chi2_categorical needs at least one reference and one current row")
    ref = _level_counts(reference)
    cur = _level_counts(current)
    levels = ref.index.union(cur.index)
    table = np.vstack(
        [ref.reindex(levels, fill_value=0).to_numpy(), cur.reindex(levels, fill_value=0).to_numpy()]
    ).astype(np.float64)
    new_levels = tuple(sorted(str(x) for x in cur.index.difference(ref.index)))
    if table.shape[1] < 2:
        return 0.0, 1.0, new_levels
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue), new_levels


# --------------------------------------------------------------------------------------------
# Gate
# --------------------------------------------------------------------------------------------


def _numeric_drift(
    column: str,
    kind: Literal["numeric", "score"],
    ref: FloatArray,
    cur: FloatArray,
    d: float,
    p: float,
    breached: bool | None,
    thresholds: DriftThresholds,
    p_is_bound: bool = False,
    value_psi: float | None = None,
) -> FeatureDrift:
    if value_psi is None:
        value_psi = _psi_sorted(np.sort(ref), np.sort(cur), 10)
    if breached is None:
        breached = p < thresholds.alpha and d >= thresholds.min_ks
    return FeatureDrift(
        column=column,
        kind=kind,
        test="ks",
        statistic=d,
        p_value=p,
        effect=d,
        psi=value_psi,
        breached=bool(breached),
        new_levels=(),
        n_reference=int(ref.size),
        n_current=int(cur.size),
        p_value_is_bound=p_is_bound,
    )


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    thresholds: DriftThresholds,
    p_values: PValues = "decisive",
) -> list[FeatureDrift]:
    """Drift verdict per feature: KS + PSI for numeric, chi-square + PSI for categorical.

    Numeric breach: ``p < alpha and D >= min_ks``. Categorical breach: ``p < alpha and
    PSI >= min_psi``, or any level never seen in the reference. Results follow the order
    ``numeric`` then ``categorical``. ``p_values="decisive"`` computes scipy's exact KS tail
    only where it can change the verdict (see the module docstring); the verdicts equal those
    of ``p_values="exact"``.
    """
    overlap = set(numeric) & set(categorical)
    if overlap:
        raise ValueError(f"column(s) {sorted(overlap)} listed as both numeric and categorical")
    _require_columns(reference, current, [*numeric, *categorical])
    results: list[FeatureDrift] = []
    ks = ks_gate(reference, current, numeric, thresholds, p_values)
    for col in numeric:
        ref = _clean(reference[col].to_numpy(dtype=np.float64), f"reference[{col!r}]")
        cur = _clean(current[col].to_numpy(dtype=np.float64), f"current[{col!r}]")
        d, p, is_bound, breached = ks[col]
        results.append(
            _numeric_drift(col, "numeric", ref, cur, d, p, breached, thresholds, is_bound)
        )
    for col in categorical:
        chi2, p, new_levels = chi2_categorical(reference[col], current[col])
        value_psi = psi_categorical(_level_counts(reference[col]), _level_counts(current[col]))
        breached = bool(new_levels) or (p < thresholds.alpha and value_psi >= thresholds.min_psi)
        results.append(
            FeatureDrift(
                column=col,
                kind="categorical",
                test="chi2",
                statistic=chi2,
                p_value=p,
                effect=value_psi,
                psi=value_psi,
                breached=breached,
                new_levels=new_levels,
                n_reference=len(reference),
                n_current=len(current),
            )
        )
    return results


def score_drift(
    reference_scores: npt.ArrayLike,
    current_scores: npt.ArrayLike,
    thresholds: DriftThresholds,
    p_values: PValues = "decisive",
) -> FeatureDrift:
    """Has the model's risk-score distribution moved? KS and PSI on the scores.

    Breach when ``p < alpha and (D >= min_ks or PSI >= min_psi)``. Reported as column
    ``"risk_score"``, kind ``"score"``; ``p_values`` as in :func:`feature_drift`.
    """
    ref = _clean(reference_scores, "reference_scores")
    cur = _clean(current_scores, "current_scores")
    d = _ks_distance(ref, cur)
    value_psi = _psi_sorted(np.sort(ref), np.sort(cur), 10)
    effect = d >= thresholds.min_ks or value_psi >= thresholds.min_psi
    ps, bound = _gate_pvalues(
        np.array([d]),
        np.array([ref.size], dtype=np.int64),
        np.array([cur.size], dtype=np.int64),
        np.array([effect]),
        thresholds.alpha,
        p_values,
    )
    p = float(ps[0])
    breached = p < thresholds.alpha and effect
    return _numeric_drift(
        "risk_score", "score", ref, cur, d, p, breached, thresholds, bool(bound[0]), value_psi
    )


_FRAME_COLUMNS = [
    "column",
    "kind",
    "test",
    "statistic",
    "p_value",
    "effect",
    "psi",
    "breached",
    "new_levels",
    "n_reference",
    "n_current",
    "p_value_is_bound",
]


def drift_frame(results: Sequence[FeatureDrift]) -> pd.DataFrame:
    """One row per feature, ready for the ``drift_results`` table and asset metadata.

    ``new_levels`` is joined into one comma-separated string (empty when none).
    """
    rows = []
    for r in results:
        row = asdict(r)
        row["new_levels"] = ", ".join(r.new_levels)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=_FRAME_COLUMNS)
    return frame.astype(
        {
            "column": "object",
            "kind": "object",
            "test": "object",
            "statistic": "float64",
            "p_value": "float64",
            "effect": "float64",
            "psi": "float64",
            "breached": "bool",
            "new_levels": "object",
            "n_reference": "int64",
            "n_current": "int64",
            "p_value_is_bound": "bool",
        }
    )
