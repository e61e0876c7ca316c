"""Weekly declarative partitions of ``predictions``: creation, retention, migration.

``predictions`` is ``PARTITION BY RANGE (scoring_week)`` with one partition per ISO week
(Monday to the next Monday), named ``predictions_w<YYYYMMDD of the Monday>``. Why:

* a week's rewrite (``DELETE`` + bulk ``COPY`` in one transaction, see
  :meth:`~churn_platform.io.predictions.PredictionsRepository.replace_week` and the sharded
  ``swap_week``) touches one partition only, and readers see the old week until the commit:
  never a gap;
* retention drops whole partitions (instant, no ``DELETE`` bloat, no ``VACUUM``);
* the dashboards' time filter on ``scoring_week`` prunes to the partitions it shows.

Partitions are created on demand before a week is written, by a ``SECURITY DEFINER`` function
that the schema owner installs (``<schema>.predictions_week_partition(date)``): the least-
privilege scoring role (``SELECT, INSERT, DELETE`` on ``predictions``) can then write a new week
without ``CREATE`` rights. The function is created in a short transaction of its own before
the write transaction, so the brief lock of ``CREATE TABLE ... PARTITION OF`` never waits for
(or blocks readers behind) a long write.

An existing unpartitioned ``predictions`` table (built before this module) keeps working
unchanged (``ensure_week_partition`` is then a no-op, retention deletes rows);
:func:`migrate_to_partitions` converts it in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from churn_platform.errors import StorageError

FUNCTION = "predictions_week_partition"
_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


def _quoted(
    conn: sa.Connection, identifiers: dict[str, str], literals: dict[str, str] | None
) -> dict[str, str]:
    prep = conn.dialect.identifier_preparer
    out = {k: prep.quote_identifier(v) for k, v in identifiers.items()}
    # standard_conforming_strings (PostgreSQL's default): doubling quotes is the whole escape
    out.update({k: "'" + v.replace("'", "''") + "'" for k, v in (literals or {}).items()})
    # a colon in a name must not read as a bind parameter of sa.text
    return {k: v.replace(":", "\\:") for k, v in out.items()}


def identifier_ddl(
    conn: sa.Connection,
    template: str,
    params: dict[str, Any] | None = None,
    literals: dict[str, str] | None = None,
    **identifiers: str,
) -> sa.Result[Any]:
    """Run ``template`` with ``{name}`` placeholders filled by quoted identifiers.

    The one place this module builds SQL text: every ``{identifier}`` placeholder is quoted by
    the dialect, every ``{literal}`` one (``literals``: names used as strings inside a function
    body) is a quote-doubled string literal; values go in as bind parameters (``params``).
    """
    quoted = _quoted(conn, identifiers, literals)
    return conn.execute(sa.text(template.format(**quoted)), params or {})


def week_bounds(week: date) -> tuple[date, date]:
    """[Monday, next Monday) of the ISO week holding ``week``: one partition's range."""
    monday = week - timedelta(days=week.weekday())
    return monday, monday + timedelta(days=7)


def partition_name(week: date) -> str:
    """``predictions_w<YYYYMMDD>`` of the Monday of ``week``'s ISO week."""
    return f"predictions_w{week_bounds(week)[0]:%Y%m%d}"


def is_partitioned(conn: sa.Connection, schema: str) -> bool:
    """True when ``<schema>.predictions`` exists and is a partitioned table."""
    kind = conn.execute(
        sa.text(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relname = 'predictions'"
        ),
        {"s": schema},
    ).scalar_one_or_none()
    return kind == "p"


def _function_exists(conn: sa.Connection, schema: str) -> bool:
    return bool(
        conn.execute(
            sa.text(
                "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = :s AND p.proname = :f"
            ),
            {"s": schema, "f": FUNCTION},
        ).first()
    )


def install_partition_function(conn: sa.Connection, schema: str) -> None:
    """Create ``<schema>.predictions_week_partition(date)`` if missing (schema owner only).

    It creates the week's partition if absent (serialised by an advisory lock, so concurrent
    writers of the same new week do not race) and returns its name; NULL when ``predictions``
    is not partitioned. ``SECURITY DEFINER`` with a fixed ``search_path``.
    """
    if _function_exists(conn, schema):
        return
    if "$churn_partition_fn$" in schema:
        raise StorageError(f"Schema name {schema!r} holds the function body's quote tag.")
    identifier_ddl(
        conn,
        """
CREATE OR REPLACE FUNCTION {schema}.predictions_week_partition(week date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $churn_partition_fn$
DECLARE
    lo date := week - (extract(isodow FROM week)::int - 1);
    part text := 'predictions_w' || to_char(lo, 'YYYYMMDD');
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = {literal} AND c.relname = 'predictions' AND c.relkind = 'p'
    ) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended({literal} || '.' || part, 0));
    IF to_regclass(format('%I.%I', {literal}, part)) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE %I.%I PARTITION OF %I.predictions FOR VALUES FROM (%L) TO (%L)',
            {literal}, part, {literal}, lo, lo + 7
        );
    END IF;
    RETURN part;
END
$churn_partition_fn$
""",
        literals={"literal": schema},
        schema=schema,
    )


def ensure_week_partition(engine: sa.Engine, schema: str, week: date) -> str | None:
    """Create ``week``'s partition if missing, in its own short transaction; its name.

    None when ``predictions`` is not partitioned (a table from before partitioning) or the
    function is not installed: writes then go to the plain table as before.
    """
    try:
        with engine.begin() as conn:
            if not _function_exists(conn, schema):
                return None
            name = identifier_ddl(
                conn, "SELECT {schema}.predictions_week_partition(:w)", {"w": week}, schema=schema
            ).scalar_one()
            return None if name is None else str(name)
    except sa.exc.DBAPIError as exc:
        raise StorageError(
            f"Could not create the partition of {schema}.predictions for week {week}: "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
        ) from exc


@dataclass(frozen=True)
class WeekPartition:
    """One weekly partition: its table name and [start, end) range."""

    name: str
    start: date
    end: date


def week_partitions(conn: sa.Connection, schema: str) -> list[WeekPartition]:
    """The partitions of ``<schema>.predictions``, oldest first (empty when unpartitioned)."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE n.nspname = :s AND p.relname = 'predictions'"
        ),
        {"s": schema},
    ).all()
    out = []
    for name, bound in rows:
        match = _BOUND.search(str(bound))
        if match:
            out.append(
                WeekPartition(str(name), date.fromisoformat(match[1]), date.fromisoformat(match[2]))
            )
    return sorted(out, key=lambda p: p.start)


@dataclass(frozen=True)
class RetentionResult:
    """What :func:`apply_retention` dropped (or would drop with ``dry_run``)."""

    kept_weeks: list[date]
    dropped_weeks: list[date]
    partitioned: bool
    deleted_rows: int  # only for an unpartitioned table (rows deleted); 0 otherwise
    dry_run: bool


def apply_retention(
    engine: sa.Engine, schema: str, keep_weeks: int, *, dry_run: bool = False
) -> RetentionResult:
    """Keep the ``keep_weeks`` most recent scored weeks of ``predictions``; drop the rest.

    Partitioned: older week partitions are dropped (``DROP TABLE``, one short transaction).
    Unpartitioned (a table from before partitioning): their rows are deleted.
    """
    if keep_weeks < 1:
        raise StorageError(f"keep_weeks must be at least 1, got {keep_weeks}.")
    try:
        with engine.begin() as conn:
            if is_partitioned(conn, schema):
                parts = week_partitions(conn, schema)
                kept, dropped = parts[-keep_weeks:], parts[:-keep_weeks]
                if not dry_run:
                    for p in dropped:
                        identifier_ddl(
                            conn, "DROP TABLE {schema}.{part}", schema=schema, part=p.name
                        )
                return RetentionResult(
                    [p.start for p in kept], [p.start for p in dropped], True, 0, dry_run
                )
            table = sa.table("predictions", sa.column("scoring_week"), schema=schema)
            weeks = list(
                conn.execute(
                    sa.select(table.c.scoring_week).distinct().order_by(table.c.scoring_week)
                ).scalars()
            )
            kept_w, dropped_w = weeks[-keep_weeks:], weeks[:-keep_weeks]
            deleted = 0
            if dropped_w and not dry_run:
                deleted = int(
                    conn.execute(sa.delete(table).where(table.c.scoring_week < kept_w[0])).rowcount
                    or 0
                )
            return RetentionResult(kept_w, dropped_w, False, deleted, dry_run)
    except sa.exc.DBAPIError as exc:
        raise StorageError(
            f"Retention on {schema}.predictions failed and was rolled back: "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
        ) from exc


def migrate_to_partitions(
    engine: sa.Engine, schema: str, horizons: tuple[int, ...] | None = None
) -> int:
    """Convert an unpartitioned ``predictions`` table into weekly partitions; weeks moved.

    One transaction (readers see the old table until the commit; writers wait): the old table
    is renamed, the partitioned one created with its indexes and the partition function, one
    partition per scored week, the rows copied, the old table dropped. Needs the schema owner
    and, for a large table, time and twice its disk space. 0 when already partitioned.
    """
    from churn_platform.io.db import DEFAULT_HORIZONS, tables_for

    tables = tables_for(schema, horizons or DEFAULT_HORIZONS)
    columns = [c.name for c in tables.predictions.columns]
    try:
        with engine.begin() as conn:
            lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("k"), 0))
            conn.execute(sa.select(lock), {"k": f"churn_platform.ensure_schema:{schema}"})
            if is_partitioned(conn, schema) or not sa.inspect(conn).has_table(
                "predictions", schema=schema
            ):
                return 0
            identifier_ddl(
                conn,
                "ALTER TABLE {schema}.predictions RENAME TO predictions_unpartitioned",
                schema=schema,
            )
            identifier_ddl(
                conn,
                "ALTER TABLE {schema}.predictions_unpartitioned "
                "RENAME CONSTRAINT predictions_pkey TO predictions_unpartitioned_pkey",
                schema=schema,
            )
            for index in tables.predictions.indexes:
                identifier_ddl(
                    conn,
                    "ALTER INDEX IF EXISTS {schema}.{old} RENAME TO {new}",
                    schema=schema,
                    old=str(index.name),
                    new=f"{index.name}_unpartitioned",
                )
            tables.predictions.create(conn)
            install_partition_function(conn, schema)
            old = sa.table(
                "predictions_unpartitioned", *[sa.column(c) for c in columns], schema=schema
            )
            weeks = list(conn.execute(sa.select(old.c.scoring_week).distinct()).scalars())
            for week in weeks:
                identifier_ddl(
                    conn,
                    "SELECT {schema}.predictions_week_partition(:w)",
                    {"w": week},
                    schema=schema,
                )
            conn.execute(
                sa.insert(tables.predictions).from_select(
                    columns, sa.select(*[old.c[c] for c in columns])
                )
            )
            identifier_ddl(conn, "DROP TABLE {schema}.predictions_unpartitioned", schema=schema)
            return len(weeks)
    except sa.exc.DBAPIError as exc:
        raise StorageError(
            f"Migrating {schema}.predictions to weekly partitions failed and was rolled back "
            f"(the table is unchanged): "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
        ) from exc
