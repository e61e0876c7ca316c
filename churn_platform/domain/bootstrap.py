"""Bootstrap confidence intervals for Harrell's C, alone or paired (two models, same customers).

A C-index without an interval invites reading noise as signal: on a few hundred churners a
difference of 0.01 is well within sampling error. We resample *customers* with replacement
(percentile bootstrap) and recompute C with the O(n log n) Fenwick kernel of
:mod:`churn_platform.domain.metrics`. For a comparison both models are scored on the same
resamples (paired bootstrap), so the interval is for the difference itself, which is much
narrower than the two separate intervals suggest when the models agree on most pairs.

Duplicated customers inside a resample are handled by the pair definition: copies share the
time and the event, so they are never comparable to each other.

Speed: the data are sorted by time and the scores ranked once; each resample is a sorted index
draw (sorted indices keep the time order), so B resamples cost B kernel calls and no sort of the
data. 1,000 resamples of 20,000 customers take well under a second per model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from churn_platform.domain.metrics import (
    _concordance_kernel,
    _has_comparable_pair,
    _scores,
    _survival_target,
)

ArrayLike = npt.ArrayLike
DEFAULT_RESAMPLES = 500
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval at ``level``."""

    estimate: float
    low: float
    high: float
    level: float = DEFAULT_LEVEL

    def __str__(self) -> str:
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}]"

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class PairedComparison:
    """Two models on the same customers: each C-index and the difference ``b - a``."""

    a: Interval
    b: Interval
    difference: Interval  # C(b) - C(a)
    n: int
    n_events: int
    resamples: int

    def describe(self, name_a: str = "a", name_b: str = "b") -> str:
        pct = round(self.difference.level * 100)
        return (
            f"C-index {name_b} {self.b.estimate:.4f} vs {name_a} {self.a.estimate:.4f} on the "
            f"same {self.n} customers ({self.n_events} churns): difference "
            f"{self.difference.estimate:+.4f}, {pct}% CI [{self.difference.low:+.4f}, "
            f"{self.difference.high:+.4f}]"
        )


def _c(counts: tuple[int, int, int, float, float]) -> float:
    correct, tied, pairs, _, _ = counts
    return (correct + tied / 2) / pairs if pairs else math.nan


def _prepared(
    duration: ArrayLike, event: ArrayLike, risks: list[ArrayLike]
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, int]]]:
    d, e = _survival_target(duration, event, "")
    if not _has_comparable_pair(d, e):
        raise ValueError(
            "bootstrap C-index: no comparable pair (needs at least one churn followed by a later "
            "exit)"
        )
    order = np.argsort(d, kind="stable")
    ranked = []
    for i, risk in enumerate(risks):
        r = _scores(risk, f"risk[{i}]", d.size)
        uniq, inverse = np.unique(r, return_inverse=True)
        ranked.append((np.ascontiguousarray(inverse.astype(np.int64)[order]), int(uniq.size)))
    return np.ascontiguousarray(d[order]), np.ascontiguousarray(e[order]), ranked


def _boot(
    d: np.ndarray,
    e: np.ndarray,
    ranked: list[tuple[np.ndarray, int]],
    resamples: int,
    seed: int,
) -> np.ndarray:
    """(resamples, n_models) C-indices, the same customer draws for every model."""
    rng = np.random.default_rng(seed)
    n = d.size
    zeros = np.zeros(n)
    out = np.full((resamples, len(ranked)), np.nan)
    for b in range(resamples):
        idx = np.sort(rng.integers(0, n, n))
        db, eb, wb = d[idx], e[idx], zeros
        for j, (rank, n_ranks) in enumerate(ranked):
            out[b, j] = _c(_concordance_kernel(db, eb, rank[idx], wb, n_ranks))
    return out


def _interval(estimate: float, draws: np.ndarray, level: float) -> Interval:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return Interval(estimate, math.nan, math.nan, level)
    alpha = (1 - level) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return Interval(float(estimate), float(low), float(high), level)


def c_index_interval(
    duration: ArrayLike,
    event: ArrayLike,
    risk: ArrayLike,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Interval:
    """Harrell's C (higher risk = churns sooner) with a percentile bootstrap interval."""
    d, e, ranked = _prepared(duration, event, [risk])
    zeros = np.zeros(d.size)
    estimate = _c(_concordance_kernel(d, e, ranked[0][0], zeros, ranked[0][1]))
    draws = _boot(d, e, ranked, resamples, seed)[:, 0]
    return _interval(estimate, draws, level)


def paired_c_index(
    duration: ArrayLike,
    event: ArrayLike,
    risk_a: ArrayLike,
    risk_b: ArrayLike,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> PairedComparison:
    """C-index of two models on the same customers and the paired bootstrap interval of
    ``C(b) - C(a)`` (b: the challenger, a: the champion, by convention)."""
    d, e, ranked = _prepared(duration, event, [risk_a, risk_b])
    zeros = np.zeros(d.size)
    est = [_c(_concordance_kernel(d, e, r, zeros, k)) for r, k in ranked]
    draws = _boot(d, e, ranked, resamples, seed)
    return PairedComparison(
        a=_interval(est[0], draws[:, 0], level),
        b=_interval(est[1], draws[:, 1], level),
        difference=_interval(est[1] - est[0], draws[:, 1] - draws[:, 0], level),
        n=int(d.size),
        n_events=int(e.sum()),
        resamples=resamples,
    )
