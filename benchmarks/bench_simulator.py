"""How fast the synthetic base produces a weekly snapshot of 1M customers, and at what memory cost.

Run: ``uv run python -m benchmarks.bench_simulator [--customers 1000000] [--naive-customers 20000]``

Prints:
* time to build the base (profiles + one latent churn time per customer),
* time of ``features_for_week`` on the start week and 26 weeks later (the latter includes
  simulating 26 weeks of sign-ups), and of a repeated call,
* peak resident memory of the process (``resource.getrusage``, Linux reports KiB),
* the ratio to a naive per-customer Python loop producing the same snapshot. The naive loop is
  measured on ``--naive-customers`` customers and linearly EXTRAPOLATED to the full size (it
  would take minutes to run for real); it reads the same latent profiles and only re-does the
  weekly part (noise, counts, labels, row dicts), so the ratio covers the snapshot, not the
  build.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from churn_platform.domain.simulator import (
    CATEGORIES,
    DAYS_PER_MONTH,
    CustomerSimulator,
    SimulatorConfig,
    log_tenure_effect,
)

from .common import add_common_args, finish, peak_rss_mib, row


def _poisson(rng: random.Random, rate: float) -> int:
    limit, k, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def naive_snapshot(sim: CustomerSimulator, week_index: int) -> pd.DataFrame:
    """The weekly snapshot written the obvious way: one Python iteration per customer."""
    pop = sim._pop
    day = 7.0 * week_index
    rng = random.Random(week_index)
    rows: list[dict[str, Any]] = []
    profiles = pop.before_drift
    for i in range(pop.n_signed_up_by_week[week_index]):
        if pop.churn_day[i] <= day:
            continue
        tenure = day - float(pop.signup_day[i])
        charges = float(profiles.monthly_charges[i])
        months = min(12, int(tenure / DAYS_PER_MONTH) + 1)
        late_rate = float(profiles.late_rate[i])
        rows.append(
            {
                "customer_id": i,
                "tenure_days": tenure,
                "contract": CATEGORIES["contract"][profiles.contract[i]],
                "payment_method": CATEGORIES["payment_method"][profiles.payment[i]],
                "internet_service": CATEGORIES["internet_service"][profiles.internet[i]],
                "region": CATEGORIES["region"][profiles.region[i]],
                "monthly_charges": charges,
                "total_charges": float(pop.billing_factor[i]) * charges * tenure / DAYS_PER_MONTH,
                "data_usage_gb": float(profiles.usage_level_gb[i]) * rng.lognormvariate(0, 0.15),
                "usage_change_pct": min(
                    500.0, max(-100.0, float(profiles.usage_trend_pct[i]) + rng.gauss(0, 6))
                ),
                "support_calls_90d": _poisson(rng, float(profiles.support_rate_90d[i])),
                "late_payments_12m": sum(rng.random() < late_rate for _ in range(months)),
                "num_products": int(profiles.num_products[i]),
                "is_senior": int(profiles.is_senior[i]),
                "has_partner": int(profiles.has_partner[i]),
                "true_log_hazard": float(pop.eta[0, i])
                + float(log_tenure_effect(np.array([tenure]), True)[0]),
            }
        )
    return pd.DataFrame(rows)


def _timed(label: str, fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<66} {seconds:8.3f} s")
    return seconds, result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Measure and print the simulator's throughput, memory and speed-up over a naive loop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--customers", type=int, default=None, help="1M (200k with --quick)")
    parser.add_argument("--naive-customers", type=int, default=None, help="20k (5k with --quick)")
    args = parser.parse_args(argv)
    args.customers = args.customers or (200_000 if args.quick else 1_000_000)
    args.naive_customers = args.naive_customers or (5_000 if args.quick else 20_000)

    config = SimulatorConfig(n_customers=args.customers, seed=0)
    start_week = config.start_week
    print(f"simulator benchmark: {args.customers:,} customers, seed {config.seed}")
    build_s, sim = _timed(
        "build base (profiles + latent churn times)", lambda: CustomerSimulator(config)
    )
    first_s, frame = _timed(
        "features_for_week(start_week)", lambda: sim.features_for_week(start_week)
    )
    _timed("features_for_week(start_week) again", lambda: sim.features_for_week(start_week))
    later = start_week + timedelta(weeks=26)
    _, later_frame = _timed(
        "features_for_week(start + 26 weeks), incl. 26 weeks of sign-ups",
        lambda: sim.features_for_week(later),
    )
    print(f"rows: {len(frame):,} on start week, {len(later_frame):,} 26 weeks later")
    rss = peak_rss_mib()
    print(f"peak RSS: {rss:,.0f} MiB")

    small = CustomerSimulator(SimulatorConfig(n_customers=args.naive_customers, seed=0))
    naive_s, naive = _timed(
        f"naive per-customer loop, {args.naive_customers:,} customers (measured)",
        lambda: naive_snapshot(small, 0),
    )
    vector_small_s, _ = _timed(
        f"features_for_week, {args.naive_customers:,} customers (measured)",
        lambda: small.features_for_week(start_week),
    )
    assert len(naive) == len(small.features_for_week(start_week))
    extrapolated = naive_s * args.customers / args.naive_customers
    print(
        f"naive loop EXTRAPOLATED linearly to {args.customers:,} customers: "
        f"{extrapolated:,.1f} s (not run)"
    )
    print(
        f"speed-up of features_for_week over the naive loop: "
        f"{extrapolated / first_s:,.0f}x at {args.customers:,} "
        f"(extrapolated naive / measured vectorised), "
        f"{naive_s / vector_small_s:,.0f}x at {args.naive_customers:,} (both measured)"
    )
    print(f"build + first snapshot: {build_s + first_s:.2f} s")
    result = {
        "name": "simulator",
        "params": {"customers": args.customers, "naive_customers": args.naive_customers},
        "rows": [
            row(
                f"simulator snapshot {args.naive_customers:,} customers",
                "per-customer Python loop",
                "features_for_week",
                naive_s / vector_small_s,
                peak_rss=rss,
            ),
            row(
                f"simulator snapshot {args.customers:,} customers",
                "per-customer loop, EXTRAPOLATED",
                "features_for_week",
                extrapolated / first_s,
                peak_rss=rss,
            ),
        ],
        "details": {"build_seconds": build_s, "first_snapshot_seconds": first_s},
    }
    return finish(result, args.json)


if __name__ == "__main__":
    main()
