"""Sharded scoring on this machine: time per shard and end to end vs K (shards) and N (customers).

For each N: simulator snapshot of N customers (setup), the product's ``XGBCoxModel`` (trained
once, saved, loaded by each worker), then

* ``unsharded``: :func:`churn_platform.app.scoring.score_and_write` in one process;
* for each K: K worker processes (spawned, ``OMP_NUM_THREADS=1`` so one worker = one core) each
  stage their hash shard with :meth:`ShardStager.stage_shard`, then one
  :meth:`ShardStager.swap_week`. Reported: wall time of the staging phase, slowest shard, rows/s
  per worker, swap time, and that the final table's checksum equals the unsharded one.

Usage: ``uv run python -m benchmarks.bench_sharding [--sizes 100000,200000] [--shards 1,2,4]``.
Numbers go to stdout and ``benchmarks/results/sharding.json``; docs/scaling.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from churn_platform.app.scoring import Lineage, chunks, now_utc, score_and_write, stage_shard
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.domain.simulator import CustomerSimulator, SimulatorConfig, make_training_frame
from churn_platform.io.embedded import database_url, ensure_database
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.sharding import ShardStager, ShardTask, shard_slice
from churn_platform.model.train import TrainConfig, train_models
from churn_platform.model.xgb_cox import XGBCoxModel

ADMIN_URL = os.environ.get(
    "CHURN_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
SCHEMA = "churn"
MODEL = "churn_model"
ID = DEFAULT_CONTRACT.id_column
FEATURES = list(DEFAULT_CONTRACT.feature_names)
WEEK = date(2025, 1, 6)
CHUNK = 50_000
RESULTS = Path(__file__).resolve().parent / "results" / "sharding.json"


def _lineage(run: str) -> Lineage:
    return Lineage(MODEL, 1, "bench-run", "production", "bench-snap", run, "bench", now_utc())


def _worker(args: tuple[str, str, str, int, int, str]) -> dict[str, float]:
    """One shard in its own process: load model + features, score, stage. Times the staging."""
    url, model_dir, features_path, shard, shards, stage_id = args
    model = XGBCoxModel.load(Path(model_dir))
    part = shard_slice(pd.read_parquet(features_path), ID, shard, shards)
    stager = ShardStager(url, SCHEMA, model.horizons)
    start = time.perf_counter()
    staged = stage_shard(
        stager,
        ShardTask(stage_id, shard, shards, WEEK, _lineage(stage_id)),
        chunks(part, CHUNK),
        lambda frame, k: model.predict_frame(frame, top_drivers=k),
        id_column=ID,
        feature_columns=FEATURES,
    )
    seconds = time.perf_counter() - start
    stager.dispose()
    return {"shard": shard, "rows": staged.rows, "seconds": seconds}


def bench_size(url: str, n: int, shard_counts: list[int], model_dir: Path) -> dict[str, Any]:
    model = XGBCoxModel.load(model_dir)
    features = DEFAULT_CONTRACT.validate(
        CustomerSimulator(SimulatorConfig(n_customers=n, seed=0)).features_for_week(WEEK),
        with_target=False,
    )
    n = len(features)
    features_path = str(model_dir / f"features_{n}.parquet")
    features.to_parquet(features_path)
    repo = PredictionsRepository(url, SCHEMA, model.horizons)
    start = time.perf_counter()
    score_and_write(
        chunks(features, CHUNK),
        lambda frame, k: model.predict_frame(frame, top_drivers=k),
        repo,
        id_column=ID,
        feature_columns=FEATURES,
        scoring_week=WEEK,
        lineage=_lineage("unsharded"),
        top_drivers=3,
    )
    out: dict[str, Any] = {"n": n, "unsharded_s": time.perf_counter() - start, "sharded": []}
    reference = repo.checksum_week(WEEK, MODEL)
    print(f"N={n:,}: unsharded score_and_write {out['unsharded_s']:.1f}s", flush=True)
    ctx = mp.get_context("spawn")
    for k in shard_counts:
        stage_id = f"bench-{n}-{k}-{uuid.uuid4().hex[:6]}"
        jobs = [(url, str(model_dir), features_path, s, k, stage_id) for s in range(k)]
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=k, mp_context=ctx) as pool:
            shards = list(pool.map(_worker, jobs))
        stage_s = time.perf_counter() - start
        stager = ShardStager(url, SCHEMA, model.horizons)
        start = time.perf_counter()
        stager.swap_week(stage_id, WEEK, MODEL, k)
        swap_s = time.perf_counter() - start
        stager.dispose()
        same = repo.checksum_week(WEEK, MODEL) == reference
        slowest = max(s["seconds"] for s in shards)
        per_worker = sum(s["rows"] / s["seconds"] for s in shards) / k
        row = {
            "k": k,
            "stage_wall_s": stage_s,
            "slowest_shard_s": slowest,
            "mean_shard_s": sum(s["seconds"] for s in shards) / k,
            "rows_per_s_per_worker": per_worker,
            "swap_s": swap_s,
            "end_to_end_s": stage_s + swap_s,
            "checksum_equals_unsharded": same,
        }
        out["sharded"].append(row)
        print(
            f"  K={k}: staging wall {stage_s:.1f}s (slowest shard {slowest:.1f}s, "
            f"{per_worker:,.0f} rows/s/worker), swap {swap_s:.1f}s, same checksum: {same}",
            flush=True,
        )
    repo.dispose()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,200000")
    parser.add_argument("--shards", default="1,2,4")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers: 1 worker = 1 core
    name = f"churn_bench_shard_{uuid.uuid4().hex[:8]}"
    ensure_database(ADMIN_URL, name)
    url = database_url(ADMIN_URL, name)
    results: dict[str, Any] = {"cores": os.cpu_count(), "chunk_rows": CHUNK, "sizes": []}
    try:
        with tempfile.TemporaryDirectory(prefix="churn_bench_shard_") as tmp:
            frame = DEFAULT_CONTRACT.validate(make_training_frame(20_000, seed=1), with_target=True)
            model = train_models(frame, DEFAULT_CONTRACT, TrainConfig()).model
            model.save(Path(tmp))
            for n in (int(s) for s in args.sizes.split(",")):
                results["sizes"].append(
                    bench_size(url, n, [int(k) for k in args.shards.split(",")], Path(tmp))
                )
    finally:
        engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
