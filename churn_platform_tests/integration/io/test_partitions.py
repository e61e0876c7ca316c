"""Weekly partitions of ``predictions``: created on demand, rewrites stay atomic, retention,
migration of a table built before partitioning, and the dashboards' index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from churn_platform.errors import StorageError
from churn_platform.io.db import make_engine, tables_for
from churn_platform.io.partitions import (
    apply_retention,
    is_partitioned,
    migrate_to_partitions,
    partition_name,
    week_bounds,
    week_partitions,
)
from churn_platform.io.predictions import PredictionsRepository
from churn_platform_tests.support.predictions import MODEL, predictions

WEEKS = [date(2024, 3, 4) + timedelta(weeks=k) for k in range(5)]


@pytest.fixture()
def schema() -> str:
    return f"p_{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def _drop(engine: sa.Engine, schema: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def test_week_bounds_are_iso_weeks() -> None:
    assert week_bounds(date(2024, 3, 6)) == (date(2024, 3, 4), date(2024, 3, 11))
    assert week_bounds(date(2024, 3, 4)) == (date(2024, 3, 4), date(2024, 3, 11))
    assert partition_name(date(2024, 3, 10)) == "predictions_w20240304"


def test_writes_create_one_partition_per_week_and_retention_drops_the_oldest(
    pg_url: str, engine: sa.Engine, schema: str
) -> None:
    repo = PredictionsRepository(pg_url, schema)
    try:
        for k, week in enumerate(WEEKS):
            assert repo.replace_week(week, MODEL, predictions(50, week, seed=k)) == 50
        repo.replace_week(WEEKS[1], MODEL, predictions(40, WEEKS[1], seed=9))  # rewrite
        with engine.connect() as conn:
            assert is_partitioned(conn, schema)
            parts = week_partitions(conn, schema)
            # each week's rows live in its own partition
            counts = {
                p.name: conn.execute(
                    sa.text(f'SELECT count(*) FROM "{schema}"."{p.name}"')
                ).scalar_one()
                for p in parts
            }
        assert [p.start for p in parts] == WEEKS
        assert counts[partition_name(WEEKS[1])] == 40
        assert sum(counts.values()) == 4 * 50 + 40

        dry = apply_retention(engine, schema, 3, dry_run=True)
        assert dry.dropped_weeks == WEEKS[:2] and dry.kept_weeks == WEEKS[2:]
        assert repo.weeks(MODEL) == WEEKS  # nothing dropped on a dry run
        done = apply_retention(engine, schema, 3)
        assert done.partitioned and done.dropped_weeks == WEEKS[:2]
        assert repo.weeks(MODEL) == WEEKS[2:]
        with pytest.raises(StorageError, match="keep_weeks"):
            apply_retention(engine, schema, 0)
    finally:
        repo.dispose()
        _drop(engine, schema)


def test_dashboard_query_uses_the_model_week_index(
    pg_url: str, engine: sa.Engine, schema: str
) -> None:
    repo = PredictionsRepository(pg_url, schema)
    try:
        for k, week in enumerate(WEEKS[:2]):
            repo.replace_week(week, MODEL, predictions(2000, week, seed=k))
        with engine.begin() as conn:
            conn.execute(sa.text(f'ANALYZE "{schema}".predictions'))
            conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    sa.text(
                        f'EXPLAIN SELECT scoring_week, count(*) FROM "{schema}".predictions '
                        "WHERE model_name = :m AND scoring_week >= :a AND scoring_week < :b "
                        "GROUP BY 1"
                    ),
                    {"m": MODEL, "a": WEEKS[1], "b": WEEKS[2]},
                )
            )
        # partition pruning: only the week asked for; the covering index serves the filter
        assert partition_name(WEEKS[1]) in plan and partition_name(WEEKS[0]) not in plan
        assert "Index Only Scan" in plan and "model_name_scoring_week" in plan, plan
    finally:
        repo.dispose()
        _drop(engine, schema)


def test_an_unpartitioned_table_keeps_working_and_migrates_in_place(
    pg_url: str, engine: sa.Engine, schema: str
) -> None:
    """A ``predictions`` table from before partitioning: writes and retention still work;
    ``migrate_to_partitions`` converts it with every row kept."""
    legacy = tables_for(schema)
    legacy.predictions.dialect_options["postgresql"]["partition_by"] = None
    with engine.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
        legacy.predictions.create(conn)
    repo = PredictionsRepository(pg_url, schema)
    try:
        for k, week in enumerate(WEEKS[:3]):
            repo.replace_week(week, MODEL, predictions(30, week, seed=k))
        before = {w: repo.checksum_week(w, MODEL) for w in WEEKS[:3]}
        with engine.connect() as conn:
            assert not is_partitioned(conn, schema)
        assert apply_retention(engine, schema, 2).deleted_rows == 30
        assert migrate_to_partitions(engine, schema) == 2
        assert migrate_to_partitions(engine, schema) == 0  # idempotent
        with engine.connect() as conn:
            assert is_partitioned(conn, schema)
            assert [p.start for p in week_partitions(conn, schema)] == WEEKS[1:3]
        assert {w: repo.checksum_week(w, MODEL) for w in WEEKS[1:3]} == {
            w: before[w] for w in WEEKS[1:3]
        }
        repo.replace_week(WEEKS[3], MODEL, predictions(30, WEEKS[3], seed=3))  # new partition
        assert repo.weeks(MODEL) == WEEKS[1:4]
    finally:
        repo.dispose()
        _drop(engine, schema)


def test_retention_command(pg_url: str, engine: sa.Engine, schema: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from churn_platform.cli import app

    repo = PredictionsRepository(pg_url, schema)
    try:
        for k, week in enumerate(WEEKS[:3]):
            repo.replace_week(week, MODEL, predictions(10, week, seed=k))
        monkeypatch.setenv("DATABASE_URL", pg_url)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", pg_url)  # set, so no embedded server starts
        monkeypatch.setenv("CHURN_DB_SCHEMA", schema)
        result = CliRunner().invoke(app, ["retention", "--keep-weeks", "1"])
        assert result.exit_code == 0, result.output
        assert "2024-03-04" in result.output and "dropped" in result.output
        assert repo.weeks(MODEL) == WEEKS[2:3]
    finally:
        repo.dispose()
        _drop(engine, schema)
