"""Bounded load test of /v1/score on loopback: fixed request count, prints p50/p99 and throughput.

Run it alone to read the numbers (docs/realtime.md):

    uv run pytest churn_platform_tests/integration/serving/test_load.py -s -q

No assertion on wall time (machines differ); it asserts every request succeeded.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import requests

from churn_platform_tests.support.serving import AUTH, LiveServer, customers

N_REQUESTS = int(os.environ.get("CHURN_LOAD_REQUESTS", "300"))
BATCH = int(os.environ.get("CHURN_LOAD_BATCH", "100"))
THREADS = int(os.environ.get("CHURN_LOAD_THREADS", "4"))


def test_bounded_load_on_loopback(server: LiveServer, frame: pd.DataFrame) -> None:
    bodies = [
        json.dumps({"customers": customers(frame, BATCH, start=(i * BATCH) % 5_000)}).encode()
        for i in range(8)
    ]
    session_per_thread: dict[int, requests.Session] = {}

    def one(i: int) -> tuple[float, int]:
        import threading

        session = session_per_thread.setdefault(threading.get_ident(), requests.Session())
        start = time.perf_counter()
        resp = session.post(
            f"{server.url}/v1/score",
            data=bodies[i % len(bodies)],
            headers={"content-type": "application/json", **AUTH},
            timeout=60,
        )
        elapsed = time.perf_counter() - start
        ok = resp.status_code == 200 and len(resp.json()["predictions"]) == BATCH
        return elapsed, int(ok)

    for i in range(THREADS * 2):  # warm-up: connections, threadpool, first predict
        one(i)
    wall_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(one, range(N_REQUESTS)))
    wall = time.perf_counter() - wall_start
    for session in session_per_thread.values():
        session.close()

    latencies = np.array([r[0] for r in results]) * 1000.0
    assert sum(r[1] for r in results) == N_REQUESTS
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    print(
        f"\nrealtime load: {N_REQUESTS} requests x {BATCH} customers, {THREADS} client threads, "
        f"{os.cpu_count()} CPUs\n"
        f"  latency ms: p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  max {latencies.max():.1f}\n"
        f"  throughput: {N_REQUESTS / wall:.1f} requests/s = "
        f"{N_REQUESTS * BATCH / wall:,.0f} customers/s (wall {wall:.2f} s)"
    )
