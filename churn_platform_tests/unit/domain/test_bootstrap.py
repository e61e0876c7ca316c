"""Bootstrap intervals for Harrell's C: centred on the exact C, paired differences detect a
better model and do not invent one."""

from __future__ import annotations

import numpy as np
import pytest

from churn_platform.domain.bootstrap import c_index_interval, paired_c_index
from churn_platform.domain.metrics import harrell_c


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-x))
    c = rng.exponential(2.0, size=n)
    return np.minimum(t, c), (t <= c).astype(int), x


def test_interval_contains_the_exact_c_and_shrinks_with_n() -> None:
    d, e, x = _data(4_000, 1)
    small = c_index_interval(d[:400], e[:400], x[:400], resamples=300)
    big = c_index_interval(d, e, x, resamples=300)
    assert big.estimate == pytest.approx(harrell_c(d, e, x), abs=1e-12)
    assert big.low < big.estimate < big.high
    assert (big.high - big.low) < (small.high - small.low)


def test_paired_difference_detects_a_better_model_and_not_a_copy() -> None:
    d, e, x = _data(3_000, 2)
    rng = np.random.default_rng(3)
    noisy = x + rng.normal(scale=2.0, size=x.size)
    better = paired_c_index(d, e, noisy, x, resamples=300)
    assert better.difference.estimate > 0 and better.difference.low > 0
    assert better.b.estimate == pytest.approx(harrell_c(d, e, x))
    same = paired_c_index(d, e, x, x * 3.0, resamples=100)  # same ranking: difference exactly 0
    assert same.difference.estimate == 0 and same.difference.low == same.difference.high == 0
    assert "difference +0.0000" in same.describe("v1", "v2")


def test_no_comparable_pair_is_named() -> None:
    with pytest.raises(ValueError, match="no comparable pair"):
        c_index_interval([1.0, 2.0], [0, 0], [0.1, 0.2])
