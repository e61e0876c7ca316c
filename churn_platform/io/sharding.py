"""Sharded weekly scoring: split a very large customer base over K workers, publish it at once.

A week of predictions for tens of millions of customers is scored by K independent workers
(Dagster dynamic ops, ECS tasks, ...). Each takes the customers whose ``customer_id`` hashes to
its shard and writes its slice into a **staging** table; only when every shard is staged does
one final transaction **swap** the week: the live ``predictions`` rows of that week and model
are replaced by the staged ones, with rank and decile recomputed over the whole week. So:

* readers of ``predictions`` (call lists, dashboards) see the old week or the new week, never a
  mix, and never a week missing the customers of a shard that failed;
* a shard that fails and is retried replaces only its own staged slice (its write is one
  transaction: delete the slice, COPY, record it in the shard manifest);
* the swap checks the manifest (every shard 0..K-1 staged, row counts agree) before touching
  the live rows, so a lost slice fails the run instead of publishing a partial week.

Ranks follow :func:`churn_platform.app.scoring.ranks_among` exactly: ``risk_rank`` = 1 + number of
customers with a strictly higher score (SQL ``rank() over (order by risk_score desc)``) and
``risk_decile`` = 10 - (rank - 1) * 10 // n, so sharded and unsharded scoring of the same week
give byte-identical rows (same :meth:`PredictionsRepository.checksum_week`).

The staging table is UNLOGGED (COPY into it writes no WAL): a database crash empties it, which
the manifest check turns into a failed swap and a re-run, never into a partial week.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import adbc_driver_postgresql.dbapi as adbc
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from churn_platform.errors import EmptyPartitionError, StorageError
from churn_platform.io.db import (
    DEFAULT_HORIZONS,
    DEFAULT_SCHEMA,
    DatabaseLike,
    adbc_uri,
    describe_url,
    engine_of,
    tables_for,
    url_of,
)
from churn_platform.io.partitions import ensure_week_partition
from churn_platform.io.prediction_rows import DEFAULT_CHUNK_ROWS, Lineage
from churn_platform.io.predictions import (
    adbc_transaction,
    arrow_schema,
    compile_for_adbc,
    week_lock,
)

STAGING_TABLE = "predictions_staging"
MANIFEST_TABLE = "predictions_stage_shards"
APPLICATION_NAME = "churn_platform.io.sharding"
RANK_COLUMNS = ("risk_rank", "risk_decile")

_DIALECT = pg.dialect(paramstyle="numeric_dollar")
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


# ---------------------------------------------------------------------------- shard assignment


def shard_of(customer_ids: np.ndarray | pd.Series | Sequence[int], shards: int) -> np.ndarray:
    """Shard (0..shards-1) of each customer: splitmix64 hash of ``customer_id`` mod ``shards``.

    Stable across processes, machines and Python versions (unlike ``hash()``), so a customer
    always lands in the same shard for a given K, whichever worker asks. Consecutive ids are
    spread evenly, so shards get about N/K customers each.
    """
    if shards < 1:
        raise ValueError(f"the number of shards must be at least 1, got {shards}")
    z = np.asarray(customer_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(shards)).astype(np.int32)


_U64 = 2**64


def _unsigned(expr: str) -> str:
    return f"((({expr})::numeric + {_U64}) % {_U64})"


def _signed(expr: str) -> str:
    return f"(case when ({expr}) >= {2**63} then ({expr}) - {_U64} else ({expr}) end)::bigint"


def _xor_shift(col: str, bits: int) -> str:
    # logical right shift of a signed bigint: arithmetic shift, then mask off the sign bits
    return f"({col} # (({col} >> {bits}) & {(1 << (64 - bits)) - 1}::bigint))"


def shard_sql(id_sql: str, shards: int) -> str:
    """PostgreSQL scalar expression of :func:`shard_of` for the bigint id ``id_sql``.

    Bit-for-bit the same splitmix64 as :func:`shard_of`, so a source can push a shard filter
    into its query (``WHERE <shard_sql(id)> = :shard``) and read only its slice. PostgreSQL's
    bigint arithmetic raises on overflow, so the wrapping multiplications are done in
    ``numeric`` modulo 2^64 and the xor-shifts on the two's-complement bigint (``#``; ``>>`` is
    arithmetic, so the shifted-in sign bits are masked off). ``id_sql`` is SQL text the caller
    controls (a quoted column reference), never user input; it is evaluated once.
    """
    if shards < 1:
        raise ValueError(f"the number of shards must be at least 1, got {shards}")
    step1 = _signed(f"({_unsigned(id_sql)} + {0x9E3779B97F4A7C15}) % {_U64}")
    step2 = _signed(f"({_unsigned(_xor_shift('s1.v', 30))} * {0xBF58476D1CE4E5B9}) % {_U64}")
    step3 = _signed(f"({_unsigned(_xor_shift('s2.v', 27))} * {0x94D049BB133111EB}) % {_U64}")
    final = _unsigned(_xor_shift("s3.v", 31))
    # shards is an int and id_sql is the caller's column reference: nothing user-typed is spliced
    return (
        f"(select ({final} % {int(shards)})::int from (select {step1} as v) s1"  # noqa: S608
        f" cross join lateral (select {step2} as v) s2"
        f" cross join lateral (select {step3} as v) s3)"
    )


def shard_slice(features: pd.DataFrame, id_column: str, shard: int, shards: int) -> pd.DataFrame:
    """The customers of ``features`` that belong to ``shard`` (of ``shards``)."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is outside 0..{shards - 1}")
    return features[shard_of(features[id_column].to_numpy(), shards) == shard]


# ---------------------------------------------------------------------------- staging DDL


@dataclass(frozen=True)
class StagingTables:
    """The live predictions table and the two staging tables next to it in one schema."""

    predictions: sa.Table
    staging: sa.Table
    manifest: sa.Table


def staging_tables_for(
    schema: str = DEFAULT_SCHEMA, horizons: Sequence[int] = DEFAULT_HORIZONS
) -> StagingTables:
    """Table definitions: ``predictions_staging`` has every predictions column plus
    ``stage_id``/``shard``; ``predictions_stage_shards`` records each staged slice."""
    predictions = tables_for(schema, horizons).predictions
    md = sa.MetaData(schema=schema)
    staging = sa.Table(
        STAGING_TABLE,
        md,
        sa.Column("stage_id", sa.Text, nullable=False, comment="one sharded scoring of a week"),
        sa.Column("shard", sa.Integer, nullable=False),
        *[sa.Column(c.name, c.type, nullable=c.nullable) for c in predictions.columns],
        sa.PrimaryKeyConstraint(
            "stage_id", "shard", "customer_id", name="predictions_staging_pkey"
        ),
        prefixes=["UNLOGGED"],
        comment="slices of a week being scored in shards; emptied by the swap",
    )
    manifest = sa.Table(
        MANIFEST_TABLE,
        md,
        sa.Column("stage_id", sa.Text, nullable=False),
        sa.Column("shard", sa.Integer, nullable=False),
        sa.Column("shards", sa.Integer, nullable=False),
        sa.Column("scoring_week", sa.Date, nullable=False),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("staged_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("stage_id", "shard", name="predictions_stage_shards_pkey"),
    )
    return StagingTables(predictions=predictions, staging=staging, manifest=manifest)


def ensure_staging(
    engine: sa.Engine, schema: str = DEFAULT_SCHEMA, horizons: Sequence[int] = DEFAULT_HORIZONS
) -> StagingTables:
    """Create the staging tables if missing (idempotent, safe concurrently).

    The live ``predictions`` table must already exist (``ensure_schema``); a staging table left
    with other horizon columns is rebuilt when empty, otherwise :class:`StorageError`.
    """
    tables = staging_tables_for(schema, horizons)
    wanted = [c.name for c in tables.staging.columns]
    try:
        with engine.begin() as conn:
            lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("k"), 0))
            conn.execute(sa.select(lock), {"k": f"churn_platform.ensure_staging:{schema}"})
            conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            inspector = sa.inspect(conn)
            if inspector.has_table(STAGING_TABLE, schema=schema):
                found = [c["name"] for c in inspector.get_columns(STAGING_TABLE, schema=schema)]
                if found != wanted:
                    rows = conn.execute(sa.select(sa.func.count()).select_from(tables.staging))
                    if rows.scalar_one():
                        raise StorageError(
                            f"{schema}.{STAGING_TABLE} holds staged rows with columns {found}, "
                            f"but the platform now writes {wanted} (churn horizons changed?). "
                            "Let the running sharded scoring finish or empty the table."
                        )
                    tables.staging.drop(conn)
            tables.staging.metadata.create_all(conn, checkfirst=True)
    except sa.exc.DBAPIError as exc:
        raise StorageError(
            f"Could not create the staging tables in {schema!r} on "
            f"{describe_url(engine.url)}: {exc.orig}"
        ) from exc
    return tables


# ---------------------------------------------------------------------------- plan / results


@dataclass(frozen=True)
class ShardTask:
    """One shard's share of a sharded scoring: what to score and where to stage it."""

    stage_id: str
    shard: int
    shards: int
    scoring_week: date
    lineage: Lineage
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    top_drivers: int = 3


@dataclass(frozen=True)
class StagedShard:
    """A shard's slice is staged: ``rows`` customers are waiting for the swap."""

    stage_id: str
    shard: int
    shards: int
    rows: int


@dataclass(frozen=True)
class SwappedWeek:
    """The week is live: ``rows`` predictions from ``shards`` shards replaced the old ones."""

    scoring_week: date
    model_name: str
    rows: int
    shards: int
    replaced_rows: int


class ShardStager:
    """Stages shard slices of a week's predictions and swaps the complete week in.

    ``db`` is the process's :class:`~churn_platform.io.db.Database` (or an engine; a URL maps to
    the shared pool of that URL); the live ``predictions`` table and the staging
    tables are created if missing.
    """

    def __init__(
        self,
        db: DatabaseLike,
        schema: str = DEFAULT_SCHEMA,
        horizons: Sequence[int] = DEFAULT_HORIZONS,
    ) -> None:
        from churn_platform.io.db import ensure_schema

        url = url_of(db)
        self.url = url
        self.schema = schema
        self.engine = engine_of(db)  # the process's shared pool, never a new one
        ensure_schema(self.engine, schema, horizons)
        self.tables = ensure_staging(self.engine, schema, horizons)
        self.staging_schema = arrow_schema(self.tables.staging)
        self.live_schema = arrow_schema(self.tables.predictions)
        self._adbc_uri = adbc_uri(url, APPLICATION_NAME)

    # ------------------------------------------------------------------ plan

    def open_stage(self, stage_id: str, scoring_week: date, model_name: str) -> int:
        """Start a sharded scoring of a week: drop slices left by earlier, unfinished stagings of
        the same week and model (a run that failed for good); returns the rows dropped."""
        s, m = self.tables.staging, self.tables.manifest
        stale = (
            sa.select(m.c.stage_id)
            .where(
                m.c.scoring_week == scoring_week,
                m.c.model_name == model_name,
                m.c.stage_id != stage_id,
            )
            .distinct()
        )
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(stale)]
            ids += [
                r[0]
                for r in conn.execute(
                    sa.select(s.c.stage_id)
                    .where(
                        s.c.scoring_week == scoring_week,
                        s.c.model_name == model_name,
                        s.c.stage_id != stage_id,
                    )
                    .distinct()
                )
            ]
            if not ids:
                return 0
            dropped = conn.execute(sa.delete(s).where(s.c.stage_id.in_(ids))).rowcount
            conn.execute(sa.delete(m).where(m.c.stage_id.in_(ids)))
        return int(dropped or 0)

    # ------------------------------------------------------------------ shard

    def stage_shard(self, task: ShardTask, rows: Iterable[pd.DataFrame]) -> StagedShard:
        """Stage one shard's prediction rows, replacing that shard's previous slice.

        One transaction (:func:`~churn_platform.io.predictions.adbc_transaction`): delete the
        shard's staged rows, COPY each batch of prediction rows (binary, via ADBC, one batch in
        memory; ``rows`` is consumed lazily, so a scoring loop can feed it chunk by chunk),
        record the slice in the manifest, commit. Any failure rolls back, so a retry starts
        from a clean slice; the live week is never touched here. Every row must belong to this
        shard (checked).
        """
        where = f"shard {task.shard}/{task.shards} of week {task.scoring_week}"
        s, m = self.tables.staging, self.tables.manifest
        total = 0
        try:
            with (
                adbc_transaction(self._adbc_uri, self.url, f"stage {where}") as conn,
                conn.cursor() as cur,
            ):
                sql, params = compile_for_adbc(
                    sa.delete(s).where(s.c.stage_id == task.stage_id, s.c.shard == task.shard)
                )
                cur.execute(sql, parameters=params)
                for batch in rows:
                    if batch.empty:
                        continue
                    ids = batch["customer_id"].to_numpy(dtype=np.int64)
                    wrong = shard_of(ids, task.shards) != task.shard
                    if wrong.any():
                        raise StorageError(
                            f"{where}: {int(wrong.sum())} customer(s) belong to another shard "
                            f"(e.g. customer_id {int(ids[wrong][0])}); slice with shard_slice()."
                        )
                    live = pa.Table.from_pandas(
                        batch, schema=self.live_schema, preserve_index=False
                    )
                    staged = pa.Table.from_arrays(
                        [
                            pa.array(np.full(len(batch), task.stage_id, dtype=object), pa.string()),
                            pa.array(np.full(len(batch), task.shard, dtype=np.int32)),
                            *live.columns,
                        ],
                        schema=self.staging_schema,
                    )
                    cur.adbc_ingest(s.name, staged, mode="append", db_schema_name=self.schema)
                    total += len(batch)
                upsert = pg.insert(m).values(
                    stage_id=task.stage_id,
                    shard=task.shard,
                    shards=task.shards,
                    scoring_week=task.scoring_week,
                    model_name=task.lineage.model_name,
                    rows=total,
                )
                upsert = upsert.on_conflict_do_update(
                    constraint="predictions_stage_shards_pkey",
                    set_={
                        "shards": upsert.excluded.shards,
                        "rows": upsert.excluded.rows,
                        "staged_at": sa.func.now(),
                    },
                )
                sql, params = compile_for_adbc(upsert)
                cur.execute(sql, parameters=params)
        except adbc.Error as exc:
            raise StorageError(
                f"Staging {where} failed after {total} rows and was rolled back (the live week "
                f"is untouched; retry the shard): {str(exc).strip().splitlines()[0]}"
            ) from exc
        # anything else (a domain error, the model crashing mid-shard) is re-raised as is:
        # the transaction was rolled back, nothing of this slice is kept
        return StagedShard(task.stage_id, task.shard, task.shards, total)

    # ------------------------------------------------------------------ swap

    def swap_week(
        self, stage_id: str, scoring_week: date, model_name: str, shards: int
    ) -> SwappedWeek:
        """Publish a fully staged week in one transaction; the staging rows are removed.

        Takes the same advisory lock as ``replace_week`` (:func:`week_lock`), checks that shards
        0..shards-1 are all in the manifest and that the staged row count matches it, then
        deletes the live week's rows for the model and inserts the staged ones with
        ``risk_rank``/``risk_decile`` computed over the whole week. On any problem nothing
        changes and StorageError says why.
        """
        t = self.tables
        live, s, m = t.predictions, t.staging, t.manifest
        where = f"week {scoring_week.isoformat()}, model {model_name!r} (stage {stage_id})"
        # the week's partition, committed before the swap transaction opens (io.partitions)
        ensure_week_partition(self.engine, self.schema, scoring_week)
        try:
            with self.engine.begin() as conn:
                conn.execute(week_lock(self.schema, scoring_week, model_name))
                manifest = conn.execute(
                    sa.select(m.c.shard, m.c.shards, m.c.rows, m.c.scoring_week, m.c.model_name)
                    .where(m.c.stage_id == stage_id)
                    .with_for_update()
                ).all()
                staged = {int(r.shard): int(r.rows) for r in manifest}
                missing = sorted(set(range(shards)) - set(staged))
                if missing:
                    raise StorageError(
                        f"Cannot publish {where}: shard(s) {missing} of {shards} are not staged; "
                        "the live week is unchanged. Re-run the missing shards."
                    )
                foreign = [
                    r.shard
                    for r in manifest
                    if r.shards != shards
                    or r.scoring_week != scoring_week
                    or r.model_name != model_name
                ]
                if foreign or set(staged) != set(range(shards)):
                    raise StorageError(
                        f"Cannot publish {where}: the stage holds slices of another plan "
                        f"(shards {sorted(set(staged) - set(range(shards))) or foreign}); "
                        "the live week is unchanged."
                    )
                expected = sum(staged.values())
                found = conn.execute(
                    sa.select(sa.func.count()).select_from(s).where(s.c.stage_id == stage_id)
                ).scalar_one()
                if int(found) != expected:
                    raise StorageError(
                        f"Cannot publish {where}: the manifest lists {expected} staged rows but "
                        f"the staging table holds {found} (the unlogged staging table is emptied "
                        "by a database crash); re-run the sharded scoring. Live week unchanged."
                    )
                if expected == 0:
                    raise EmptyPartitionError(
                        f"no active customers in any of the {shards} shards for week "
                        f"{scoring_week}; nothing to score (check the source for that week)"
                    )
                replaced = conn.execute(
                    sa.delete(live).where(
                        live.c.scoring_week == scoring_week, live.c.model_name == model_name
                    )
                ).rowcount
                inserted = conn.execute(_insert_ranked(live, s, stage_id)).rowcount
                if inserted != expected:
                    raise StorageError(
                        f"Publishing {where} inserted {inserted} rows instead of {expected}; "
                        "rolled back, live week unchanged."
                    )
                conn.execute(sa.delete(s).where(s.c.stage_id == stage_id))
                conn.execute(sa.delete(m).where(m.c.stage_id == stage_id))
        except sa.exc.DBAPIError as exc:
            raise StorageError(
                f"Publishing {where} failed and was rolled back (live week unchanged): "
                f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
            ) from exc
        return SwappedWeek(scoring_week, model_name, expected, shards, int(replaced or 0))

    # ------------------------------------------------------------------ inspection

    def staged_rows(self, stage_id: str, shard: int | None = None) -> int:
        """Rows currently staged for ``stage_id`` (optionally one shard)."""
        s = self.tables.staging
        stmt = sa.select(sa.func.count()).select_from(s).where(s.c.stage_id == stage_id)
        if shard is not None:
            stmt = stmt.where(s.c.shard == shard)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def _insert_ranked(live: sa.Table, staging: sa.Table, stage_id: str) -> sa.Insert:
    """``INSERT INTO predictions (...) SELECT ...`` with rank and decile over the whole week.

    ``rank() over (order by risk_score desc)`` is 1 + the number of strictly higher scores (ties
    share a rank), exactly :func:`churn_platform.app.scoring.ranks_among`; decile = 10 - (rank-1)*10
    // n with integer division.
    """
    names = [c.name for c in live.columns]
    rank = sa.func.rank().over(order_by=staging.c.risk_score.desc().nulls_last())
    inner = (
        sa.select(
            *[staging.c[n] for n in names if n not in RANK_COLUMNS],
            rank.label("risk_rank"),
            sa.func.count().over().label("n_week"),
        )
        .where(staging.c.stage_id == stage_id)
        .subquery("ranked")
    )
    decile = sa.literal(10, sa.BigInteger) - (inner.c.risk_rank - 1) * 10 // inner.c.n_week
    select = sa.select(
        *[
            inner.c.risk_rank
            if n == "risk_rank"
            else decile.label("risk_decile")
            if n == "risk_decile"
            else inner.c[n]
            for n in names
        ]
    )
    return sa.insert(live).from_select(names, select)
