"""Engine, URL conversion and idempotent DDL against a real PostgreSQL."""

from __future__ import annotations

import uuid

import adbc_driver_postgresql.dbapi as adbc
import pytest
import sqlalchemy as sa

from churn_platform.errors import StorageError
from churn_platform.io.db import (
    CONNECT_TIMEOUT_S,
    ensure_monitoring_tables,
    ensure_schema,
    libpq_url,
    make_engine,
    tables_for,
)


@pytest.fixture()
def schema() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def engine(pg_url: str) -> sa.Engine:
    return make_engine(pg_url)


def test_tables_have_one_probability_column_per_horizon() -> None:
    tables = tables_for("churn", (7, 30))
    cols = [c.name for c in tables.predictions.columns]
    assert "churn_prob_7d" in cols and "churn_prob_30d" in cols
    assert "churn_prob_90d" not in cols
    assert [c.name for c in tables.predictions.primary_key.columns] == [
        "scoring_week",
        "customer_id",
        "model_name",
    ]
    assert tables.probability_columns == ["churn_prob_7d", "churn_prob_30d"]


@pytest.mark.parametrize("bad", [(), (30, 30), (0, 90)])
def test_invalid_horizons_are_rejected(bad: tuple[int, ...]) -> None:
    with pytest.raises(StorageError, match="horizon"):
        tables_for("churn", bad)


def test_ensure_schema_is_idempotent(engine: sa.Engine, schema: str) -> None:
    ensure_schema(engine, schema)
    ensure_schema(engine, schema)
    inspector = sa.inspect(engine)
    names = set(inspector.get_table_names(schema=schema))
    assert names == {
        "predictions",
        "model_evaluations",
        "drift_results",
        "alias_history",
        "promotion_ledger",
        "retrain_ledger",
        "calibration_results",
        "customer_keys",
    }
    cols = {c["name"]: c for c in inspector.get_columns("predictions", schema=schema)}
    assert {"churn_prob_30d", "churn_prob_90d", "churn_prob_180d"} <= set(cols)
    assert isinstance(cols["risk_rank"]["type"], sa.Integer)
    assert isinstance(cols["risk_decile"]["type"], sa.SmallInteger)


def test_horizon_mismatch_is_explained(engine: sa.Engine, schema: str) -> None:
    ensure_schema(engine, schema, (30, 90, 180))
    with pytest.raises(StorageError, match=r"\[30, 90, 180\].*configured for \[30, 90\]"):
        ensure_schema(engine, schema, (30, 90))
    # Stores that do not depend on horizons keep working.
    ensure_monitoring_tables(engine, schema)


def test_dead_database_names_host_and_database_but_not_password() -> None:
    url = "postgresql+psycopg2://postgres:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(StorageError) as info:
        make_engine(url)
    message = str(info.value)
    assert "127.0.0.1:1/nowhere" in message
    assert "s3cret-pw" not in message
    assert info.value.__cause__ is not None


def test_missing_database_is_a_storage_error(pg_url: str) -> None:
    url = sa.make_url(pg_url).set(database=f"missing_{uuid.uuid4().hex[:6]}")
    with pytest.raises(StorageError, match="missing_"):
        make_engine(url)


def test_libpq_url_for_tcp_and_socket_urls() -> None:
    tcp = sa.URL.create(
        "postgresql+psycopg2",
        username="app",
        password="p@ss:w/rd",
        host="db",
        port=5433,
        database="churn",
    )
    assert libpq_url(tcp) == "postgresql://app:p%40ss%3Aw%2Frd@db:5433/churn"
    socket = "postgresql+psycopg2://postgres:@/postgres?host=/home/u/.churn/pgdata"
    assert (
        libpq_url(socket) == "postgresql://postgres:@/postgres?host=%2Fhome%2Fu%2F.churn%2Fpgdata"
    )
    with pytest.raises(StorageError, match="PostgreSQL"):
        libpq_url("sqlite:///x.db")


def test_libpq_url_connects_with_adbc(pg_url: str) -> None:
    with adbc.connect(libpq_url(pg_url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        row = cur.fetchone()
    assert row is not None
    assert row[0] == sa.make_url(pg_url).database


def test_drift_results_built_before_the_bound_flag_gains_it(engine: sa.Engine, schema: str) -> None:
    """A ``drift_results`` table from before ``p_value_is_bound`` existed is migrated in place."""
    ensure_monitoring_tables(engine, schema)
    with engine.begin() as conn:
        conn.execute(sa.text(f'ALTER TABLE "{schema}".drift_results DROP COLUMN p_value_is_bound'))
    ensure_monitoring_tables(engine, schema)
    ensure_monitoring_tables(engine, schema)  # and again: idempotent
    names = {c["name"] for c in sa.inspect(engine).get_columns("drift_results", schema=schema)}
    assert "p_value_is_bound" in names


def test_connections_carry_a_connect_timeout(pg_url: str) -> None:
    """Every pooled libpq connection gives up after CONNECT_TIMEOUT_S, not the OS's ~2 minutes;
    a timeout the URL sets itself wins."""
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            params = conn.connection.dbapi_connection.get_dsn_parameters()  # type: ignore[union-attr]
        assert params["connect_timeout"] == str(CONNECT_TIMEOUT_S)
    finally:
        engine.dispose()
    own = sa.make_url(pg_url).update_query_dict({"connect_timeout": "7"})
    engine = make_engine(own)
    try:
        with engine.connect() as conn:
            params = conn.connection.dbapi_connection.get_dsn_parameters()  # type: ignore[union-attr]
        assert params["connect_timeout"] == "7"
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:s3cr3tpw@127.0.0.1:notaport/x",
        "not a url at all",
    ],
)
def test_a_malformed_url_is_a_named_error_with_the_password_masked(url: str) -> None:
    with pytest.raises(StorageError) as info:
        make_engine(url)
    message = str(info.value)
    assert "DATABASE_URL" in message and "s3cr3tpw" not in message, message
    assert "not a valid database URL" in message, message
