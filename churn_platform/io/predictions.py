"""The weekly predictions table: atomic, idempotent replacement of a scoring week, and reads.

Re-running the scoring of a week (a retry, a backfill, a new model) must leave exactly one
consistent set of rows for that week and model: never a mix, never a gap that a dashboard or a
call-list export could read half-way. :meth:`PredictionsRepository.replace_week` therefore works
in one transaction:

1. ``pg_advisory_xact_lock`` on (schema, week, model): two concurrent runs of the same week queue
   behind each other instead of interleaving; the last to commit wins with its complete rows.
2. ``DELETE`` the week's rows for that model (readers keep seeing them until commit: MVCC).
3. Bulk-load every batch with binary ``COPY`` through ADBC (``adbc_ingest`` from Arrow), one batch
   in memory at a time; each batch is checked against the table first.
4. Check the total against ``expected_rows`` and ``COMMIT``.

Anything that goes wrong (a failing batch source, a killed connection, duplicate customers) rolls
back, so last good rows of the week stay exactly as they were.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any, TypeAlias

import adbc_driver_postgresql.dbapi as adbc
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from churn_platform.errors import ChurnPlatformError, StorageError
from churn_platform.io.db import (
    DEFAULT_HORIZONS,
    DEFAULT_SCHEMA,
    DatabaseLike,
    Tables,
    adbc_uri,
    describe_url,
    engine_of,
    ensure_schema,
    url_of,
)
from churn_platform.io.partitions import ensure_week_partition

APPLICATION_NAME = "churn_platform.predictions"

# Columns left out of the checksum: they legitimately differ between two runs of the same week.
CHECKSUM_EXCLUDED = ("scored_at", "dagster_run_id")

_ARROW_TYPES: dict[type[sa.types.TypeEngine[Any]], pa.DataType] = {
    sa.BigInteger: pa.int64(),
    sa.SmallInteger: pa.int16(),
    sa.Integer: pa.int32(),
    sa.Double: pa.float64(),
    sa.Date: pa.date32(),
    sa.Text: pa.string(),
    sa.Boolean: pa.bool_(),
}

_DIALECT = pg.dialect(paramstyle="numeric_dollar")

Batch: TypeAlias = pd.DataFrame | pa.Table | pa.RecordBatch
"""One chunk of prediction rows with exactly the columns of the ``predictions`` table."""


def _arrow_type(column: sa.Column[Any]) -> pa.DataType:
    if isinstance(column.type, sa.DateTime):
        return pa.timestamp("us", tz="UTC") if column.type.timezone else pa.timestamp("us")
    for sa_type, arrow_type in _ARROW_TYPES.items():
        if type(column.type) is sa_type:
            return arrow_type
    raise StorageError(f"No Arrow type mapping for column {column.name} ({column.type}).")


def arrow_schema(table: sa.Table) -> pa.Schema:
    """Arrow schema whose widths match the table exactly (binary COPY needs int32 for INTEGER)."""
    return pa.schema([pa.field(c.name, _arrow_type(c), nullable=c.nullable) for c in table.columns])


def compile_for_adbc(stmt: sa.sql.ClauseElement) -> tuple[str, tuple[Any, ...]]:
    """Render a Core statement for ADBC: ``$n`` placeholders and positional bound values."""
    compiled = stmt.compile(dialect=_DIALECT)
    order = getattr(compiled, "positiontup", None) or []
    return str(compiled), tuple(compiled.params[name] for name in order)


# ------------------------------------------------------------- the one write transaction helper
# Every write of prediction rows (replace_week here, shard staging and the swap in
# io/sharding.py) goes through these: one transaction, and for the live week one advisory lock
# whose key is built in exactly one place, so writers of the same week and model queue behind
# each other whichever path they take.


def week_lock(schema: str, scoring_week: date, model_name: str) -> sa.Select[Any]:
    """``SELECT pg_advisory_xact_lock(...)`` on (schema, week, model), held until commit."""
    key = f"{schema}.predictions:{scoring_week.isoformat()}:{model_name}"
    return sa.select(
        sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.literal(key, sa.Text), 0))
    )


def abort(conn: Any) -> None:
    """Roll back and close, tolerating a connection the server already killed."""
    with contextlib.suppress(Exception):
        conn.rollback()
    with contextlib.suppress(Exception):
        conn.close()


@contextlib.contextmanager
def adbc_transaction(adbc_uri: str, url: str, what: str) -> Iterator[Any]:
    """One ADBC connection holding one transaction: committed when the block ends, rolled back
    and closed on any exception (re-raised unchanged, for the caller to explain).

    ``what`` completes "Cannot ..." when the server cannot be reached (``url`` is named
    without its password)."""
    try:
        conn = adbc.connect(adbc_uri)
    except adbc.Error as exc:
        raise StorageError(f"Cannot {what}: no connection to {describe_url(url)} ({exc}).") from exc
    try:
        yield conn
        conn.commit()
    except BaseException:
        abort(conn)
        raise
    conn.close()


class PredictionsRepository:
    """Stores and reads the weekly churn predictions of each model.

    ``db`` is the process's :class:`~churn_platform.io.db.Database` (or an engine; a URL maps to
    the shared pool of that URL); the schema and tables are created on first use.
    ``backend_pid`` holds the server process id of the connection currently writing a week
    (``None`` when idle) so operators and tests can find it in ``pg_stat_activity``.
    """

    def __init__(
        self,
        db: DatabaseLike,
        schema: str = DEFAULT_SCHEMA,
        horizons: Sequence[int] = DEFAULT_HORIZONS,
    ) -> None:
        url = url_of(db)
        self.url = url
        self.schema = schema
        self.engine = engine_of(db)  # the process's shared pool, never a new one
        self.tables: Tables = ensure_schema(self.engine, schema, horizons)
        self.table = self.tables.predictions
        self.arrow_schema = arrow_schema(self.table)
        self.columns: list[str] = [c.name for c in self.table.columns]
        self.backend_pid: int | None = None
        self._adbc_uri = adbc_uri(url, APPLICATION_NAME)

    # ------------------------------------------------------------------ writes

    def replace_week(
        self,
        scoring_week: date,
        model_name: str,
        batches: Batch | Iterable[Batch],
        *,
        expected_rows: int | None = None,
    ) -> int:
        """Atomically replace ``model_name``'s predictions for ``scoring_week``; return row count.

        ``batches`` is one DataFrame or an iterable of them (consumed lazily, one in memory at a
        time); Arrow tables/record batches are accepted too and skip the pandas conversion.
        Every batch must have exactly the table's columns, and its ``scoring_week`` and
        ``model_name`` must equal the arguments. On any failure the transaction is rolled back,
        the week's previous rows are untouched, and :class:`StorageError` is raised (domain
        errors raised by the batch source itself are re-raised unchanged after the rollback).
        """
        where = f"week {scoring_week.isoformat()}, model {model_name!r}"
        single = isinstance(batches, pd.DataFrame | pa.Table | pa.RecordBatch)
        frames: Iterable[Batch] = [batches] if single else batches
        # the week's partition, committed before the write transaction opens (io.partitions)
        ensure_week_partition(self.engine, self.schema, scoring_week)
        total = 0
        try:
            with (
                adbc_transaction(
                    self._adbc_uri, self.url, f"write predictions for {where}"
                ) as conn,
                conn.cursor() as cur,
            ):
                cur.execute("SELECT pg_backend_pid()")
                row = cur.fetchone()
                self.backend_pid = int(row[0]) if row else None
                sql, params = compile_for_adbc(week_lock(self.schema, scoring_week, model_name))
                cur.execute(sql, parameters=params)
                cur.fetchall()
                sql, params = compile_for_adbc(
                    sa.delete(self.table).where(
                        self.table.c.scoring_week == scoring_week,
                        self.table.c.model_name == model_name,
                    )
                )
                cur.execute(sql, parameters=params)
                for index, frame in enumerate(frames):
                    batch = self._to_arrow(frame, scoring_week, model_name, index)
                    if batch.num_rows == 0:
                        continue
                    cur.adbc_ingest(
                        self.table.name, batch, mode="append", db_schema_name=self.schema
                    )
                    total += batch.num_rows
                    del batch
                if expected_rows is not None and total != expected_rows:
                    raise StorageError(
                        f"Predictions for {where}: expected {expected_rows} rows but the batches "
                        f"held {total}; nothing was written (previous rows kept)."
                    )
        except ChurnPlatformError:  # StorageError included: already explains itself
            raise
        except adbc.Error as exc:
            raise StorageError(
                f"Writing predictions for {where} failed after {total} rows and was rolled back "
                f"(previous rows of the week kept): {_first_line(exc)}. " + _hint(exc)
            ) from exc
        except Exception as exc:
            raise StorageError(
                f"Writing predictions for {where} was rolled back after {total} rows because the "
                f"batch source failed ({type(exc).__name__}: {exc}); previous rows of the week "
                "are kept. Fix the cause and re-run the week."
            ) from exc
        finally:
            self.backend_pid = None
        return total

    def _to_arrow(self, frame: Batch, scoring_week: date, model_name: str, index: int) -> pa.Table:
        """Check one batch against the table and convert it to the table's exact Arrow types."""
        if isinstance(frame, pa.RecordBatch):
            frame = pa.Table.from_batches([frame])
        if isinstance(frame, pa.Table):
            present = [str(c) for c in frame.column_names]
        elif isinstance(frame, pd.DataFrame):
            present = [str(c) for c in frame.columns]
        else:
            raise StorageError(
                f"Batch {index} of predictions is a {type(frame).__name__}, expected a DataFrame."
            )
        missing = [c for c in self.columns if c not in present]
        extra = [c for c in present if c not in self.columns]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing column(s) {missing}")
            if extra:
                parts.append(f"unexpected column(s) {extra}")
            raise StorageError(
                f"Batch {index} of predictions for week {scoring_week}, model {model_name!r} does "
                f"not match {self.schema}.predictions: {'; '.join(parts)}."
            )
        if len(set(present)) != len(present):
            raise StorageError(f"Batch {index} of predictions has duplicated column names.")
        arrays: list[pa.Array | pa.ChunkedArray] = []
        for field in self.arrow_schema:
            try:
                if isinstance(frame, pa.Table):
                    arrays.append(frame[field.name].cast(field.type))
                else:
                    arrays.append(pa.array(frame[field.name], type=field.type, from_pandas=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise StorageError(
                    f"Batch {index} of predictions: column {field.name!r} cannot be stored as "
                    f"{field.type} ({exc})."
                ) from exc
            if not field.nullable and arrays[-1].null_count:
                raise StorageError(
                    f"Batch {index} of predictions: column {field.name!r} has "
                    f"{arrays[-1].null_count} missing values; it is part of the key."
                )
        table = pa.Table.from_arrays(arrays, schema=self.arrow_schema)
        weeks_ok = pc.all(pc.equal(table["scoring_week"], pa.scalar(scoring_week, pa.date32())))
        if not weeks_ok.as_py():
            raise StorageError(
                f"Batch {index} of predictions holds rows for another scoring_week than "
                f"{scoring_week}; each week is replaced on its own."
            )
        names_ok = pc.all(pc.equal(table["model_name"], pa.scalar(model_name, pa.string())))
        if not names_ok.as_py():
            raise StorageError(
                f"Batch {index} of predictions holds rows for another model_name than "
                f"{model_name!r}."
            )
        return table

    # ------------------------------------------------------------------ reads

    def read_week(self, scoring_week: date, model_name: str | None = None) -> pd.DataFrame:
        """All predictions of ``scoring_week`` (optionally one model), riskiest first."""
        t = self.table
        stmt = sa.select(t).where(t.c.scoring_week == scoring_week)
        if model_name is not None:
            stmt = stmt.where(t.c.model_name == model_name)
        stmt = stmt.order_by(t.c.model_name, t.c.risk_rank, t.c.customer_id)
        return self._fetch_arrow(stmt, f"week {scoring_week}").to_pandas()

    def iter_week(
        self, scoring_week: date, model_name: str, batch_rows: int = 100_000
    ) -> Iterator[pd.DataFrame]:
        """Stream a week's predictions by customer id in DataFrames of ``batch_rows`` rows.

        Keyset pagination over the primary key inside one repeatable-read snapshot, so memory
        stays at one batch (a single ADBC result stream buffers ahead of the consumer).
        """
        t = self.table
        after = sa.bindparam("after", type_=sa.BigInteger)
        stmt = (
            sa.select(t)
            .where(
                t.c.scoring_week == scoring_week,
                t.c.model_name == model_name,
                t.c.customer_id > after,
            )
            .order_by(t.c.customer_id)
            .limit(batch_rows)
        )
        compiled = stmt.compile(dialect=_DIALECT)
        order = getattr(compiled, "positiontup", None) or []
        with adbc.connect(self._adbc_uri) as conn, conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            last = -(2**63)
            while True:
                params = {**compiled.params, "after": last}
                cur.execute(str(compiled), parameters=tuple(params[k] for k in order))
                table = cur.fetch_arrow_table()
                if table.num_rows == 0:
                    break
                last = int(table["customer_id"][-1].as_py())
                yield table.to_pandas()
            conn.rollback()

    def weeks(self, model_name: str | None = None) -> list[date]:
        """Scoring weeks that have predictions (optionally for one model), oldest first."""
        t = self.table
        stmt = sa.select(t.c.scoring_week).distinct().order_by(t.c.scoring_week)
        if model_name is not None:
            stmt = stmt.where(t.c.model_name == model_name)
        try:
            with self.engine.connect() as conn:
                return [r[0] for r in conn.execute(stmt)]
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"Could not list prediction weeks: {exc.orig}") from exc

    def count_week(self, scoring_week: date, model_name: str) -> int:
        """Number of stored predictions for a week and model."""
        t = self.table
        stmt = (
            sa.select(sa.func.count())
            .select_from(t)
            .where(t.c.scoring_week == scoring_week, t.c.model_name == model_name)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def checksum_week(self, scoring_week: date, model_name: str) -> str:
        """MD5 of a week's rows ordered by customer, ignoring ``scored_at``/``dagster_run_id``.

        Two runs that scored the same customers with the same model give the same checksum;
        that is how idempotency is verified.
        """
        t = self.table
        cols = [c for c in t.columns if c.name not in CHECKSUM_EXCLUDED]
        row_text = sa.cast(sa.tuple_(*cols), sa.Text)
        agg = sa.func.string_agg(
            row_text, pg.aggregate_order_by(sa.literal("\n", sa.Text), t.c.customer_id)
        )
        stmt = sa.select(sa.func.md5(agg)).where(
            t.c.scoring_week == scoring_week, t.c.model_name == model_name
        )
        try:
            with self.engine.connect() as conn:
                value = conn.execute(stmt).scalar()
        except sa.exc.DBAPIError as exc:
            raise StorageError(
                f"Could not checksum predictions for week {scoring_week}: {exc.orig}"
            ) from exc
        return str(value) if value is not None else hashlib.md5(b"").hexdigest()

    def read_columns(
        self, scoring_week: date, columns: Sequence[str], model_name: str | None = None
    ) -> pd.DataFrame:
        """Only some columns of a week's predictions (e.g. id + scores for evaluation/drift)."""
        t = self.table
        unknown = [c for c in columns if c not in t.c]
        if unknown:
            raise StorageError(f"predictions has no column(s) {unknown}")
        stmt = sa.select(*[t.c[c] for c in columns]).where(t.c.scoring_week == scoring_week)
        if model_name is not None:
            stmt = stmt.where(t.c.model_name == model_name)
        return self._fetch_arrow(stmt, f"week {scoring_week}").to_pandas()

    def top_ranked(
        self, scoring_week: date, model_name: str, n: int, columns: Sequence[str]
    ) -> pd.DataFrame:
        """The ``n`` riskiest customers of a week (by ``risk_rank``), only ``columns``."""
        t = self.table
        unknown = [c for c in columns if c not in t.c]
        if unknown:
            raise StorageError(f"predictions has no column(s) {unknown}")
        stmt = (
            sa.select(*[t.c[c] for c in columns])
            .where(t.c.scoring_week == scoring_week, t.c.model_name == model_name)
            .order_by(t.c.risk_rank)
            .limit(int(n))
        )
        return self._fetch_arrow(stmt, f"week {scoring_week}").to_pandas()

    def lineage(self, scoring_week: date) -> pd.DataFrame:
        """Which model version(s) and MLflow run(s) produced a week's predictions, with counts."""
        t = self.table
        stmt = (
            sa.select(t.c.model_name, t.c.model_version, t.c.model_run_id, sa.func.count())
            .where(t.c.scoring_week == scoring_week)
            .group_by(t.c.model_name, t.c.model_version, t.c.model_run_id)
        )
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(stmt).all()
        except sa.exc.DBAPIError as exc:
            raise StorageError(
                f"Could not read lineage of week {scoring_week}: {exc.orig}"
            ) from exc
        return pd.DataFrame(rows, columns=["model_name", "model_version", "model_run_id", "n"])

    def _fetch_arrow(self, stmt: sa.sql.ClauseElement, what: str) -> pa.Table:
        sql, params = compile_for_adbc(stmt)
        try:
            with adbc.connect(self._adbc_uri) as conn, conn.cursor() as cur:
                cur.execute(sql, parameters=params or None)
                result: pa.Table = cur.fetch_arrow_table()
                return result
        except adbc.Error as exc:
            raise StorageError(f"Could not read predictions for {what}: {exc}") from exc

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    """The server's error line plus its DETAIL (e.g. which customer id is duplicated)."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    detail = [ln for ln in lines[1:] if ln.startswith("DETAIL")]
    return " ".join(lines[:1] + detail[:1])


def _hint(exc: BaseException) -> str:
    text = str(exc)
    if "23505" in text or "duplicate key" in text:
        return "A customer appears twice in the week: de-duplicate customer_id before scoring."
    if "57P01" in text or "terminat" in text or "server closed" in text:
        return "The database connection was terminated; re-run the week."
    return "Check the database and re-run the week."
