"""Weekly scoring at scale through the product's code path: 1M customers read, scored, written.

Everything measured is what the ``churn_scores`` asset runs, on a real PostgreSQL:

* features: the product's simulator (``CustomerSimulator(...).features_for_week``), loaded once
  into ``bench.customer_features`` (binary COPY through ADBC; setup, not measured);
* model: the product's ``train_models`` on ``make_training_frame(20_000, seed=1)`` (validated with
  the contract), i.e. the ``XGBCoxModel`` the MLflow pyfunc wraps; saved with ``XGBCoxModel.save``
  and loaded by each measured child process;
* **ours** end-to-end: keyset-paged ADBC reads → ``DEFAULT_CONTRACT.validate(chunk)`` →
  :func:`churn_platform.app.scoring.score_and_write` (score each chunk once with
  ``predict_frame(..., top_drivers=3)``, spool, rank, one COPY-based ``replace_week``);
* **naive** end-to-end: ``pandas.read_sql`` → validate → ``predict_frame`` with XGBoost's
  per-row TreeSHAP (``booster.predict(pred_contribs=True)``, the reference the product's
  pattern-deduplicated TreeSHAP is bit-identical to) → ranks in pandas → the fastest naive
  writer: ``DataFrame.to_csv`` into psycopg 3 ``COPY ... FROM STDIN`` (about 2.5x psycopg2's
  ``to_sql``, which earlier versions of this benchmark used) into the same table with the same
  lineage columns; both must leave the same rows (checksum);
* the same two paths without top drivers (``top_drivers=0``), which isolates the I/O path;
* the write step alone: ``replace_week`` vs raw bulk loads of the same rows into the same
  (truncated) table: ADBC ``adbc_ingest`` of one Arrow table and server-side ``COPY ... FROM``;
* ``top_drivers`` at scale: where its time goes in the 1M run (TreeSHAP contributions vs JSON
  text), and the JSON building alone, vectorised vs one ``json.dumps`` per customer;
* peak RSS (``VmHWM``) of ours at several sizes, each in a fresh process.

Usage: ``uv run python -m benchmarks.bench_scoring [--rows 1000000] [--quick]``. Connects to
``CHURN_BENCH_PG_URL`` or creates (and drops) a throwaway database on 127.0.0.1:5432.
Times are compared as ratios measured in the same run; no absolute claims.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
import xgboost as xgb

import churn_platform
from churn_platform.app.scoring import Lineage, now_utc, prediction_rows, score_and_write
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.domain.simulator import (
    CustomerSimulator,
    SimulatorConfig,
    make_training_frame,
)
from churn_platform.io.db import libpq_url, make_engine
from churn_platform.io.embedded import database_url, ensure_database
from churn_platform.io.partitions import ensure_week_partition
from churn_platform.io.predictions import PredictionsRepository, arrow_schema
from churn_platform.model.train import TrainConfig, train_models
from churn_platform.model.xgb_cox import XGBCoxModel, model_matrix

from .common import add_common_args, finish, format_table, peak_rss_mib, row

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
SCHEMA = "churn"
FEATURES_SCHEMA = "bench"
FEATURES_TABLE = "customer_features"
MODEL_NAME = "churn_model"
SIM_SEED = 0
TRAIN_ROWS = 20_000
TRAIN_SEED = 1
WEEK: date = SimulatorConfig(n_customers=1, seed=SIM_SEED).start_week
ID = DEFAULT_CONTRACT.id_column
FEATURES = list(DEFAULT_CONTRACT.feature_names)
NAIVE_LABEL = "read_sql→pred_contribs→to_csv+COPY"


# ---------------------------------------------------------------------------- the two paths


def bench_lineage(run: str) -> Lineage:
    """The same lineage for both paths (only ``dagster_run_id``/``scored_at`` differ, and the
    checksum ignores those two)."""
    return Lineage(
        model_name=MODEL_NAME,
        model_version=1,
        model_run_id="bench-mlflow-run",
        model_alias="production",
        feature_snapshot_id="bench-snapshot",
        dagster_run_id=run,
        code_version=churn_platform.__version__,
        scored_at=now_utc(),
    )


def read_feature_chunks(url: str, n: int, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream the first ``n`` customers from Postgres in DataFrames of ``chunk_rows``.

    Keyset pagination on the primary key (one indexed query per chunk, all in one repeatable-read
    snapshot): memory stays at one chunk. A single ``fetch_record_batch`` stream was measured to
    buffer ahead of the consumer (peak RSS 287 MB at 250k rows, 706 MB at 1M).
    """
    sql = (
        f'SELECT * FROM "{FEATURES_SCHEMA}"."{FEATURES_TABLE}" '  # noqa: S608 - constant names
        f'WHERE "{ID}" > $1 AND "{ID}" < $2 ORDER BY "{ID}" LIMIT $3'
    )
    with adbc.connect(libpq_url(url)) as conn, conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        last = -(2**63)
        while True:
            cur.execute(sql, parameters=(last, n, chunk_rows))
            table = cur.fetch_arrow_table()
            if table.num_rows == 0:
                break
            last = int(table[ID][-1].as_py())
            yield table.to_pandas()
            del table
        conn.rollback()


class Stopwatch:
    """Accumulated seconds per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - start)

        return timed

    def stream(self, name: str, items: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        while True:
            start = time.perf_counter()
            item = next(items, None)
            self.add(name, time.perf_counter() - start)
            if item is None:
                return
            yield item


def reference_contributions(model: XGBCoxModel, df: pd.DataFrame) -> pd.DataFrame:
    """The old path: XGBoost's exact TreeSHAP row by row over the whole model."""
    dm = xgb.DMatrix(model_matrix(df, model.contract), enable_categorical=True, nthread=-1)
    contribs = model.booster.predict(
        dm, pred_contribs=True, iteration_range=(0, model.best_iteration + 1)
    )
    names = list(model.contract.feature_names)
    return pd.DataFrame(contribs[:, : len(names)], columns=names, index=df.index)


def naive_copy_csv(url: str, frame: pd.DataFrame, table: str) -> None:
    """The fastest naive writer: the whole frame as CSV text through psycopg 3 ``COPY``."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False)
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)"
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
        copy.write(buf.getvalue())


def instrument(model: XGBCoxModel, watch: Stopwatch) -> None:
    """Time the model's phases on this instance (the class is untouched)."""
    for name in ("predict_frame", "top_drivers", "contributions"):
        setattr(model, name, watch.wrap(name, getattr(model, name)))


def ours_end_to_end(
    url: str, n: int, model: XGBCoxModel, chunk_rows: int, top_drivers: int, watch: Stopwatch
) -> int:
    """What the ``churn_scores`` asset runs, fed by keyset-paged ADBC reads."""
    repo = PredictionsRepository(url, SCHEMA, model.horizons)
    try:
        raw = watch.stream("read", read_feature_chunks(url, n, chunk_rows))
        validate = watch.wrap("validate", DEFAULT_CONTRACT.validate)
        chunks = (validate(chunk) for chunk in raw)
        scored = score_and_write(
            chunks,
            lambda frame, k: model.predict_frame(frame, top_drivers=k),
            repo,
            id_column=ID,
            feature_columns=FEATURES,
            scoring_week=WEEK,
            lineage=bench_lineage("bench-ours"),
            top_drivers=top_drivers,
        )
        return scored.rows_written
    finally:
        repo.dispose()


def naive_end_to_end(
    url: str, n: int, model: XGBCoxModel, to_sql_chunk: int, top_drivers: int, watch: Stopwatch
) -> int:
    """What a first version usually does: whole-table pandas read, per-row TreeSHAP, and the
    best naive writer (``to_csv`` into psycopg 3 ``COPY``; ``to_sql`` with ``--naive-to-sql``)."""
    engine = sa.create_engine(url)
    try:
        start = time.perf_counter()
        customers = pd.read_sql(
            sa.text(
                f'SELECT * FROM "{FEATURES_SCHEMA}"."{FEATURES_TABLE}" '  # noqa: S608
                f'WHERE "{ID}" < :n ORDER BY "{ID}"'
            ),
            engine,
            params={"n": n},
        )
        watch.add("read", time.perf_counter() - start)
        valid = watch.wrap("validate", DEFAULT_CONTRACT.validate)(customers)
        del customers
        scored = model.predict_frame(valid[FEATURES], top_drivers=top_drivers)
        frame = prediction_rows(
            valid[ID].to_numpy(), scored.reset_index(drop=True), WEEK, bench_lineage("bench-naive")
        )
        frame["risk_rank"] = frame["risk_score"].rank(ascending=False, method="min").astype("int32")
        frame["risk_decile"] = (10 - (frame["risk_rank"] - 1) * 10 // len(frame)).astype("int16")
        start = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f'DELETE FROM "{SCHEMA}".predictions '  # noqa: S608
                    "WHERE scoring_week = :w AND model_name = :m"
                ),
                {"w": WEEK, "m": MODEL_NAME},
            )
        if to_sql_chunk > 0:
            frame.to_sql(
                "predictions",
                engine,
                schema=SCHEMA,
                if_exists="append",
                index=False,
                chunksize=to_sql_chunk,
                method=None,
            )
        else:
            naive_copy_csv(url, frame, f'"{SCHEMA}".predictions')
        watch.add("write", time.perf_counter() - start)
        return len(frame)
    finally:
        engine.dispose()


def child_main(args: argparse.Namespace) -> None:
    """One measured run in a fresh process; prints a JSON line with seconds and peak RSS."""
    model = XGBCoxModel.load(Path(args.model_dir))
    if args.child == "naive":
        setattr(model, "contributions", lambda df: reference_contributions(model, df))  # noqa: B010
    watch = Stopwatch()
    instrument(model, watch)
    start = time.perf_counter()
    if args.child == "ours":
        rows = ours_end_to_end(args.url, args.rows, model, args.chunk_rows, args.top, watch)
    else:
        to_sql_chunk = args.to_sql_chunk if args.naive_to_sql else 0
        rows = naive_end_to_end(args.url, args.rows, model, to_sql_chunk, args.top, watch)
    seconds = time.perf_counter() - start
    out = {"rows": rows, "seconds": seconds, "rss_mb": peak_rss_mib(), "phases": watch.seconds}
    print(json.dumps(out))


# ---------------------------------------------------------------------------- orchestration


def run_child(
    args: argparse.Namespace, mode: str, rows: int, url: str, model_dir: Path, top: int
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.bench_scoring", "--child", mode]
    cmd += ["--rows", str(rows), "--url", url, "--model-dir", str(model_dir), "--top", str(top)]
    cmd += ["--chunk-rows", str(args.chunk_rows), "--to-sql-chunk", str(args.to_sql_chunk)]
    if args.naive_to_sql:
        cmd.append("--naive-to-sql")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} run with {rows} rows failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def admin_exec(url: str, sql: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def truncate_predictions(url: str) -> None:
    admin_exec(url, f'TRUNCATE "{SCHEMA}".predictions')
    admin_exec(url, "CHECKPOINT")


SETUP_BLOCK = 1_000_000  # customers simulated and loaded at a time (10M fits in memory so)


def setup_features(url: str, n: int) -> int:
    """The simulator's start-week snapshot of ``n`` customers as ``bench.customer_features``.

    Simulated in blocks of 1M customers (block k with seed ``SIM_SEED + k``, ids shifted by
    k * 1M), so the first 1M customers are the same whatever ``n`` and memory stays at one block.
    """
    admin_exec(url, f'CREATE SCHEMA IF NOT EXISTS "{FEATURES_SCHEMA}"')
    admin_exec(url, f'DROP TABLE IF EXISTS "{FEATURES_SCHEMA}"."{FEATURES_TABLE}"')
    loaded = 0
    for k, start in enumerate(range(0, n, SETUP_BLOCK)):
        size = min(SETUP_BLOCK, n - start)
        sim = CustomerSimulator(SimulatorConfig(n_customers=size, seed=SIM_SEED + k))
        frame = sim.features_for_week(sim.config.start_week).drop(columns=["true_log_hazard"])
        frame[ID] = frame[ID].to_numpy(dtype=np.int64) + start
        table = pa.Table.from_pandas(frame, preserve_index=False)
        del frame, sim
        with adbc.connect(libpq_url(url)) as conn, conn.cursor() as cur:
            mode = "create" if k == 0 else "append"
            cur.adbc_ingest(FEATURES_TABLE, table, mode=mode, db_schema_name=FEATURES_SCHEMA)
            conn.commit()
        loaded += table.num_rows
        del table
    admin_exec(url, f'ALTER TABLE "{FEATURES_SCHEMA}"."{FEATURES_TABLE}" ADD PRIMARY KEY ("{ID}")')
    admin_exec(url, f'VACUUM ANALYZE "{FEATURES_SCHEMA}"."{FEATURES_TABLE}"')
    return loaded


def train_product_model() -> XGBCoxModel:
    frame = DEFAULT_CONTRACT.validate(
        make_training_frame(TRAIN_ROWS, seed=TRAIN_SEED), with_target=True
    )
    return train_models(frame, DEFAULT_CONTRACT, TrainConfig()).model


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def write_step(
    url: str, frame: pd.DataFrame, horizons: Sequence[int], chunk_rows: int, repeats: int
) -> dict[str, float | None]:
    """Best-of-``repeats`` seconds to load the same rows into the truncated table: ours, two raw
    bulk loads and the naive writer."""
    repo = PredictionsRepository(url, SCHEMA, horizons)
    table = pa.Table.from_pandas(frame, preserve_index=False).cast(arrow_schema(repo.table))
    csv_dir = Path(tempfile.mkdtemp(prefix="churn_bench_", dir="/tmp"))
    csv_path = csv_dir / "predictions.csv"
    pacsv.write_csv(table, csv_path)
    os.chmod(csv_dir, 0o755)
    os.chmod(csv_path, 0o644)
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    literal = str(csv_path).replace("'", "''")
    copy_sql = (
        f"COPY \"{SCHEMA}\".predictions ({columns}) FROM '{literal}' WITH (FORMAT csv, HEADER true)"
    )

    def ours() -> None:
        parts = (frame.iloc[i : i + chunk_rows] for i in range(0, len(frame), chunk_rows))
        repo.replace_week(WEEK, MODEL_NAME, parts, expected_rows=len(frame))

    def raw_adbc() -> None:
        with adbc.connect(libpq_url(url)) as conn, conn.cursor() as cur:
            cur.adbc_ingest("predictions", table, mode="append", db_schema_name=SCHEMA)
            conn.commit()

    def raw_copy_file() -> None:
        admin_exec(url, copy_sql)

    def naive_writer() -> None:
        naive_copy_csv(url, frame, f'"{SCHEMA}".predictions')

    best: dict[str, float | None] = {
        "ours": None,
        "adbc": None,
        "copy_file": None,
        "naive_copy_csv": None,
    }
    runs: list[tuple[str, Callable[[], None]]] = [
        ("ours", ours),
        ("adbc", raw_adbc),
        ("copy_file", raw_copy_file),
        ("naive_copy_csv", naive_writer),
    ]
    try:
        for _ in range(repeats):
            for name, fn in runs:
                truncate_predictions(url)
                try:
                    seconds = timed(fn)
                except Exception as exc:  # e.g. a remote server cannot read our file
                    print(f"  {name}: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
                    continue
                prev = best[name]
                best[name] = seconds if prev is None else min(prev, seconds)
    finally:
        csv_path.unlink(missing_ok=True)
        csv_dir.rmdir()
        repo.dispose()
    return best


def reference_top_drivers(contrib: pd.DataFrame, k: int) -> list[str]:
    """The per-customer construction ``top_drivers`` replaced (one ``json.dumps`` per row)."""
    values = contrib.to_numpy()
    names = np.asarray(contrib.columns)
    k = min(k, values.shape[1])
    top = np.argsort(-values, axis=1)[:, :k]
    picked = np.take_along_axis(values, top, axis=1)
    return [
        json.dumps(
            [
                {"feature": str(name), "contribution": round(float(v), 4)}
                for name, v in zip(names[idx], vals, strict=True)
                if v > 0
            ]
        )
        for idx, vals in zip(top, picked, strict=True)
    ]


def json_building(url: str, model: XGBCoxModel, rows: int, sample: int) -> dict[str, Any]:
    """JSON text of the top drivers at ``rows`` customers: loop vs vectorised, same output.

    TreeSHAP contributions of ``sample`` real customers are tiled up to ``rows`` (TreeSHAP
    itself is measured in the end-to-end run), then both constructions build the documents.
    """
    first = next(read_feature_chunks(url, sample, sample))
    features = DEFAULT_CONTRACT.validate(first)[FEATURES]
    start = time.perf_counter()
    contrib = model.contributions(features)
    shap_seconds = time.perf_counter() - start
    reps = -(-rows // len(contrib))
    tiled = pd.DataFrame(
        np.tile(contrib.to_numpy(), (reps, 1))[:rows], columns=contrib.columns
    ).set_axis(pd.RangeIndex(rows))
    vectorised = dataclasses.replace(model)  # a copy whose contributions we can patch
    setattr(vectorised, "contributions", lambda df: tiled)  # noqa: B010 - instance patch
    start = time.perf_counter()
    loop = reference_top_drivers(tiled, 3)
    loop_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ours = vectorised.top_drivers(tiled, 3)
    ours_seconds = time.perf_counter() - start
    same = ours.tolist() == loop
    return {
        "rows": rows,
        "loop_seconds": loop_seconds,
        "vectorised_seconds": ours_seconds,
        "identical": same,
        "treeshap_seconds_per_100k": shap_seconds * 100_000 / len(contrib),
    }


def checksum(url: str, horizons: Sequence[int]) -> str:
    repo = PredictionsRepository(url, SCHEMA, horizons)
    try:
        return repo.checksum_week(WEEK, MODEL_NAME)
    finally:
        repo.dispose()


def read_back(url: str, horizons: Sequence[int]) -> pd.DataFrame:
    repo = PredictionsRepository(url, SCHEMA, horizons)
    try:
        return repo.read_week(WEEK, MODEL_NAME)
    finally:
        repo.dispose()


def rate(rows: int, seconds: float | None) -> str:
    return "-" if not seconds else f"{rows / seconds:,.0f}"


def scale_run(
    args: argparse.Namespace, url: str, n: int, model_dir: Path, sizes: list[int]
) -> dict[str, Any]:
    """Ours alone at ``n`` customers (top 3 drivers and none) and at ``sizes``: time, peak RSS."""
    runs: dict[str, dict[str, Any]] = {}
    for size in sorted({*sizes, n}):
        for top in (3, 0) if size == n else (3,):
            truncate_predictions(url)
            print(f"ours end-to-end, top_drivers={top}, {size:,} rows ...", flush=True)
            r = run_child(args, "ours", size, url, model_dir, top)
            runs[f"ours_top{top}_{size}"] = r
            print(f"  {r['seconds']:.1f}s, peak RSS {r['rss_mb']:.0f} MiB, {r['phases']}")
    lines = [
        [
            key,
            f"{r['rows']:,}",
            f"{r['seconds']:.1f}",
            rate(r["rows"], r["seconds"]),
            f"{r['rss_mb']:.0f}",
        ]
        for key, r in runs.items()
    ]
    print()
    print(format_table(["run", "rows", "seconds", "rows/s", "peak RSS MiB"], lines))
    base = runs[f"ours_top3_{min(sizes)}"]
    big3, big0 = runs[f"ours_top3_{n}"], runs[f"ours_top0_{n}"]
    summary = [
        row(
            f"scoring {n:,} customers, top drivers 3",
            "-",
            f"{big3['seconds']:.0f} s, {big3['rows'] / big3['seconds']:,.0f} rows/s",
            None,
            peak_rss=big3["rss_mb"],
        ),
        row(
            f"scoring {n:,} customers, no top drivers",
            "-",
            f"{big0['seconds']:.0f} s, {big0['rows'] / big0['seconds']:,.0f} rows/s",
            None,
            peak_rss=big0["rss_mb"],
        ),
        row(
            f"scoring peak RSS {n:,} vs {min(sizes):,}",
            f"ours at {min(sizes):,}: {base['rss_mb']:.0f} MiB",
            f"ours at {n:,}: {big3['rss_mb']:.0f} MiB",
            big3["rss_mb"] / base["rss_mb"],
            at_most=2.0,
            peak_rss=big3["rss_mb"],
        ),
    ]
    result = {
        "name": "scoring_scale",
        "params": {"rows": n, "sizes": sizes},
        "rows": summary,
        "details": {"runs": runs},
    }
    return finish(result, args.json)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_common_args(parser)
    parser.add_argument("--rows", type=int, default=None, help="default 1M (100k with --quick)")
    parser.add_argument("--chunk-rows", type=int, default=None, help="default 100k (25k quick)")
    parser.add_argument("--to-sql-chunk", type=int, default=10_000)
    parser.add_argument(
        "--naive-to-sql", action="store_true", help="naive writer: to_sql, not to_csv + COPY"
    )
    parser.add_argument("--repeats", type=int, default=None, help="write step, best of (3)")
    parser.add_argument("--rss-sizes", default=None, help="extra sizes for peak RSS (+ --rows)")
    parser.add_argument("--no-io-only", action="store_true", help="skip the top_drivers=0 pair")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="only ours at --rows (top 3 and none) and at the --rss-sizes, each in a fresh "
        "process: time and peak RSS at e.g. 10M vs 1M",
    )
    parser.add_argument("--child", choices=["ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--top", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.rows = args.rows or (100_000 if quick else 1_000_000)
    args.chunk_rows = args.chunk_rows or (25_000 if quick else 100_000)
    args.repeats = args.repeats or (1 if quick else 3)
    if args.rss_sizes is None:
        args.rss_sizes = ",".join(str(args.rows * f // 4) for f in (1, 2))
    if args.child:
        child_main(args)
        return {}

    url = os.environ.get("CHURN_BENCH_PG_URL")
    throwaway: str | None = None
    if not url:
        throwaway = f"churn_bench_{uuid.uuid4().hex[:8]}"
        ensure_database(ADMIN_URL, throwaway)
        url = database_url(ADMIN_URL, throwaway)
    n = args.rows
    rss_sizes = [int(s) for s in args.rss_sizes.split(",") if s]
    model_dir = Path(tempfile.mkdtemp(prefix="churn_bench_model_"))
    try:
        make_engine(url).dispose()
        print(f"setup: simulator snapshot of {max(n, *rss_sizes):,} customers ...", flush=True)
        t = timed(lambda: setup_features(url, max(n, *rss_sizes)))
        print(f"  loaded into {FEATURES_SCHEMA}.{FEATURES_TABLE} in {t:.1f}s", flush=True)
        model = train_product_model()
        model.save(model_dir)
        horizons = model.horizons
        print(f"  model: XGBCoxModel, {model.best_iteration + 1} trees, horizons {horizons}")
        PredictionsRepository(url, SCHEMA, horizons).dispose()  # creates the tables
        engine = make_engine(url)
        ensure_week_partition(engine, SCHEMA, WEEK)  # the naive writers do not create it
        engine.dispose()
        if args.scale:
            return scale_run(args, url, n, model_dir, rss_sizes)

        runs: dict[str, dict[str, Any]] = {}
        checks: dict[str, bool] = {}
        pairs = [3] if args.no_io_only else [0, 3]  # ours top 3 last: its rows stay
        for top in pairs:
            for mode in ("naive", "ours"):
                truncate_predictions(url)
                print(f"{mode} end-to-end, top_drivers={top}, {n:,} rows ...", flush=True)
                runs[f"{mode}_top{top}"] = run_child(args, mode, n, url, model_dir, top)
                runs[f"{mode}_top{top}"]["checksum"] = checksum(url, horizons)
                r = runs[f"{mode}_top{top}"]
                print(f"  {r['seconds']:.1f}s, peak RSS {r['rss_mb']:.0f} MiB, {r['phases']}")
            same = runs[f"naive_top{top}"]["checksum"] == runs[f"ours_top{top}"]["checksum"]
            checks[f"same_rows_top{top}"] = same
            print(f"  naive and ours wrote {'identical' if same else 'DIFFERENT'} rows")

        print("write step alone (best of repeats) ...", flush=True)
        frame = read_back(url, horizons)  # the rows ours (top 3) just wrote
        best = write_step(url, frame, horizons, args.chunk_rows, args.repeats)
        written = len(frame)
        del frame

        rss: dict[int, float] = {n: runs["ours_top3"]["rss_mb"]}
        for size in rss_sizes:
            truncate_predictions(url)
            print(f"ours end-to-end at {size:,} rows (fresh process) ...", flush=True)
            rss[size] = run_child(args, "ours", size, url, model_dir, 3)["rss_mb"]

        print(f"top_drivers JSON text at {n:,} rows: loop vs vectorised ...", flush=True)
        jb = json_building(url, model, n, min(n, 100_000))
        checks["top_drivers_json_identical"] = jb["identical"]
    finally:
        for f in model_dir.iterdir():
            f.unlink()
        model_dir.rmdir()
        if throwaway:
            engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{throwaway}" WITH (FORCE)'))
            engine.dispose()

    # ------------------------------------------------------------------------ report
    lines: list[list[str]] = []
    for key, label in [
        ("naive_top3", "naive: read_sql→validate→pred_contribs(top 3)→to_csv+COPY"),
        ("ours_top3", "ours: ADBC pages→validate→score_and_write(top 3)"),
        ("naive_top0", "naive, no top drivers"),
        ("ours_top0", "ours, no top drivers"),
    ]:
        if key not in runs:
            continue
        r = runs[key]
        base = runs[key.replace("ours", "naive")]
        lines.append(
            [
                label,
                f"{r['rows']:,}",
                f"{r['seconds']:.1f}",
                rate(r["rows"], r["seconds"]),
                f"{base['seconds'] / r['seconds']:.2f}",
                "",
                f"{r['rss_mb']:.0f}",
            ]
        )
    raw_times = [s for k, s in best.items() if k in ("adbc", "copy_file") and s]
    fastest_raw = min(raw_times) if raw_times else None
    for key, label in [
        ("ours", "write only: replace_week (ADBC COPY, 1 txn)"),
        ("adbc", "write only: raw adbc_ingest, one Arrow table"),
        ("copy_file", "write only: raw server COPY FROM file"),
        ("naive_copy_csv", "write only: naive to_csv + psycopg 3 COPY"),
    ]:
        s = best[key]
        lines.append(
            [
                label,
                f"{written:,}",
                f"{s:.2f}" if s else "skipped",
                rate(written, s),
                "",
                f"{fastest_raw / s:.2f}" if s and fastest_raw else "",
                "",
            ]
        )
    for size in sorted(rss):
        label = f"ours peak RSS at {size:,}"
        lines.append([label, f"{size:,}", "", "", "", "", f"{rss[size]:.0f}"])
    headers = ["path", "rows", "seconds", "rows/s", "vs naive", "vs raw bulk", "peak RSS MiB"]
    print()
    print(format_table(headers, lines))
    phases = runs["ours_top3"]["phases"]
    total = runs["ours_top3"]["seconds"]
    shap = phases.get("contributions", 0.0)
    text = phases.get("top_drivers", 0.0) - shap
    print(
        f"\nours at {n:,} rows, top_drivers=3: {total:.1f}s of which TreeSHAP contributions "
        f"{shap:.1f}s ({shap / total:.0%}), JSON text {text:.1f}s ({text / total:.0%}), "
        f"rest of predict {phases.get('predict_frame', 0.0) - phases.get('top_drivers', 0.0):.1f}s,"
        f" read {phases.get('read', 0.0):.1f}s, validate {phases.get('validate', 0.0):.1f}s"
    )
    print(
        f"top_drivers JSON text at {n:,} rows: json.dumps per customer {jb['loop_seconds']:.1f}s, "
        f"vectorised {jb['vectorised_seconds']:.1f}s "
        f"({jb['loop_seconds'] / jb['vectorised_seconds']:.1f}x), identical: {jb['identical']}"
    )
    print(
        f"chunk_rows={args.chunk_rows:,}, to_sql chunksize={args.to_sql_chunk:,}; "
        "'vs raw bulk' = faster raw load's time / this path's time (target >= 0.9)."
    )

    small, large = min(rss), max(rss)
    naive3, ours3 = runs["naive_top3"], runs["ours_top3"]
    summary = [
        row(
            f"scoring end-to-end {n:,}, top drivers 3",
            NAIVE_LABEL,
            "ADBC pages→score_and_write",
            naive3["seconds"] / ours3["seconds"],
            at_least=5.0,
            peak_rss=ours3["rss_mb"],
        )
    ]
    if "ours_top0" in runs:
        summary.append(
            row(
                f"scoring end-to-end {n:,}, no top drivers",
                NAIVE_LABEL,
                "ADBC pages→score_and_write",
                runs["naive_top0"]["seconds"] / runs["ours_top0"]["seconds"],
                at_least=5.0,
                peak_rss=runs["ours_top0"]["rss_mb"],
            )
        )
    if best["ours"] and fastest_raw:
        summary.append(
            row(
                f"scoring write step {written:,}",
                "raw bulk (fastest of COPY file, adbc_ingest)",
                "replace_week",
                fastest_raw / best["ours"],
                at_least=0.9,
            )
        )
    summary.append(
        row(
            f"scoring peak RSS {large:,} vs {small:,}",
            f"ours at {small:,}: {rss[small]:.0f} MiB",
            f"ours at {large:,}: {rss[large]:.0f} MiB",
            rss[large] / rss[small],
            at_most=1.25,
            peak_rss=rss[large],
        )
    )
    summary.append(
        row(
            f"top_drivers JSON text {n:,}",
            "json.dumps per customer",
            "array string ops",
            jb["loop_seconds"] / jb["vectorised_seconds"],
        )
    )
    result = {
        "name": "scoring",
        "params": {
            "rows": n,
            "chunk_rows": args.chunk_rows,
            "to_sql_chunk": args.to_sql_chunk,
            "repeats": args.repeats,
            "rss_sizes": sorted(rss),
        },
        "rows": summary,
        "details": {
            "runs": runs,
            "write_step_seconds": best,
            "peak_rss_mib": {str(k): v for k, v in sorted(rss.items())},
            "top_drivers_json": jb,
            "checks": checks,
        },
    }
    return finish(result, args.json)


if __name__ == "__main__":
    main()
