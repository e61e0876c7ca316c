"""Delayed evaluation at scale: ``fast_harrell_c`` vs ``lifelines.utils.concordance_index``.

Usage: ``uv run python -m benchmarks.bench_metrics [--rows 1000000] [--small 200000] [--quick]``.

Predictions look like a week of churn scores whose labels arrived later: durations in whole days
(many ties), about a third churned, risk scores rounded to 4 decimals (tied risks too). lifelines
is run on ``-risk`` (its orientation, see ``churn_platform.domain.metrics``). Both values are
asserted equal to 1e-9 (in practice bit-identical). Times are ratios measured in the same run;
peak RSS is the process high-water mark after each step.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from lifelines.utils import concordance_index

from churn_platform.domain.metrics import fast_harrell_c

from .common import SummaryRow, add_common_args, finish, row
from .common import peak_rss_mib as _peak_rss_mib


def _predictions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rng.normal(size=n)
    churn_day = rng.exponential(365 * np.exp(-0.8 * x))
    censor_day = rng.uniform(7, 180, n)  # labels observed so far
    duration = np.ceil(np.minimum(churn_day, censor_day))
    event = (churn_day <= censor_day).astype(np.int64)
    risk = np.round(np.exp(0.8 * x + rng.normal(0, 0.5, n)), 4)
    return duration, event, risk


def _timed(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    best = float("inf")
    value = float("nan")
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_args(parser)
    parser.add_argument("--rows", type=int, default=None, help="default 1M (200k with --quick)")
    parser.add_argument("--small", type=int, default=None, help="default 200k (50k with --quick)")
    args = parser.parse_args(argv)
    args.rows = args.rows or (200_000 if args.quick else 1_000_000)
    args.small = args.small or (50_000 if args.quick else 200_000)
    rng = np.random.default_rng(7)
    fast_harrell_c(*_predictions(rng, 1000))  # numba compile outside the timing
    print(f"{'rows':>10} {'events':>9} {'C-index':>10} {'lifelines/ours':>15} {'peak RSS MiB':>13}")
    rows: list[SummaryRow] = []
    details: dict[str, Any] = {}
    for n in sorted({args.small, args.rows}):
        d, e, r = _predictions(rng, n)

        def ours(d: np.ndarray = d, e: np.ndarray = e, r: np.ndarray = r) -> float:
            return fast_harrell_c(d, e, r)

        def lifelines(d: np.ndarray = d, e: np.ndarray = e, r: np.ndarray = r) -> float:
            return float(concordance_index(d, -r, e))

        t_fast, c_fast = _timed(ours, 3)
        rss_fast = _peak_rss_mib()
        t_ll, c_ll = _timed(lifelines, 1)
        assert abs(c_fast - c_ll) <= 1e-9, (c_fast, c_ll)
        print(
            f"{n:>10,} {int(e.sum()):>9,} {c_fast:>10.6f} {t_ll / t_fast:>14.1f}x "
            f"{rss_fast:>13.0f}   |ours - lifelines| = {abs(c_fast - c_ll):.1e}"
        )
        details[str(n)] = {"c_index": c_fast, "abs_diff": abs(c_fast - c_ll), "seconds": t_fast}
        rows.append(
            row(
                f"delayed C-index {n:,} predictions",
                "lifelines concordance_index",
                "fast_harrell_c",
                t_ll / t_fast,
                at_least=10.0,
                peak_rss=rss_fast,
            )
        )
    print(f"peak RSS of the whole run (lifelines included): {_peak_rss_mib():.0f} MiB")
    result = {
        "name": "metrics",
        "params": {"rows": args.rows, "small": args.small},
        "rows": rows,
        "details": details,
    }
    return finish(result, args.json)


if __name__ == "__main__":
    main()
