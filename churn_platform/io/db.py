"""Database plumbing for the churn platform: engine, table definitions and the one place for DDL.

The tables live in one PostgreSQL schema (``churn`` by default):

* ``predictions`` — one row per customer, scoring week and model: the risk score, the churn
  probability at each configured horizon, rank/decile for call lists, the top drivers, and the
  lineage that says which model, features and run produced it.
* ``model_evaluations`` — how well the predictions of a past week ranked customers once their
  labels arrived (C-index, Uno's C, Brier/AUC at horizons).
* ``calibration_results`` — how close the predicted churn probabilities of a past week came to
  what happened, per matured horizon: ICI/E50/E90, calibration slope, observed (Kaplan-Meier)
  vs expected risk and the decile table.
* ``drift_results`` — the weekly feature and score drift tests and whether they breached.
* ``alias_history`` — an audit trail of model alias moves (who promoted what, when and why).
* ``promotion_ledger`` — every lifecycle transition of a model version (candidate, challenger,
  production, archived, rejected) with who, when, why and a metrics snapshot.
* ``retrain_ledger`` — every retraining request (sensor, schedule, manual, pipeline), once each.
* ``customer_keys`` — text customer ids and the 63-bit key that stands for them in
  ``predictions.customer_id`` (configured sources with text ids; join to get your id back).

SQLAlchemy Core only; :func:`ensure_schema` creates everything idempotently and refuses to run
against a ``predictions`` table built for other horizons.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from churn_platform.domain.schema import DEFAULT_HORIZONS as DEFAULT_HORIZONS
from churn_platform.errors import StorageError, mask_url
from churn_platform.io.partitions import (
    identifier_ddl,
    install_partition_function,
    is_partitioned,
)

DEFAULT_SCHEMA = "churn"

_HORIZON_COLUMN = re.compile(r"^churn_prob_(\d+)d$")


def horizon_column(horizon_days: int) -> str:
    """Name of the column holding the probability of churning within ``horizon_days``."""
    return f"churn_prob_{int(horizon_days)}d"


def _normalise_horizons(horizons: Sequence[int]) -> tuple[int, ...]:
    values = tuple(int(h) for h in horizons)
    if not values:
        raise StorageError("At least one churn horizon (in days) must be configured.")
    if any(h <= 0 for h in values):
        raise StorageError(f"Churn horizons must be positive numbers of days, got {values}.")
    if len(set(values)) != len(values):
        raise StorageError(f"Churn horizons must be distinct, got {values}.")
    return values


@dataclass(frozen=True)
class Tables:
    """The platform's tables, bound to one schema and one set of churn horizons."""

    metadata: sa.MetaData
    schema: str
    horizons: tuple[int, ...]
    predictions: sa.Table
    model_evaluations: sa.Table
    calibration_results: sa.Table
    drift_results: sa.Table
    alias_history: sa.Table
    promotion_ledger: sa.Table
    retrain_ledger: sa.Table
    customer_keys: sa.Table

    @property
    def probability_columns(self) -> list[str]:
        """``churn_prob_<h>d`` column names, in configured horizon order."""
        return [horizon_column(h) for h in self.horizons]


def tables_for(schema: str = DEFAULT_SCHEMA, horizons: Sequence[int] = DEFAULT_HORIZONS) -> Tables:
    """Build the table definitions for ``schema`` with one probability column per horizon."""
    hs = _normalise_horizons(horizons)
    md = sa.MetaData(schema=schema)
    tz = sa.DateTime(timezone=True)

    predictions = sa.Table(
        "predictions",
        md,
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("scoring_week", sa.Date, nullable=False, comment="Monday of the scored week"),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("risk_score", sa.Double, comment="hazard ratio; higher = churns sooner"),
        *[sa.Column(horizon_column(h), sa.Double, comment=f"P(churn within {h} days)") for h in hs],
        sa.Column("risk_rank", sa.Integer, comment="1 = riskiest customer of the week"),
        sa.Column("risk_decile", sa.SmallInteger, comment="10 = riskiest tenth"),
        sa.Column("top_drivers", sa.Text, comment="JSON: per-customer feature contributions"),
        sa.Column("model_version", sa.Integer),
        sa.Column("model_run_id", sa.Text),
        sa.Column("model_alias", sa.Text),
        sa.Column("feature_snapshot_id", sa.Text),
        sa.Column("dagster_run_id", sa.Text),
        sa.Column("code_version", sa.Text),
        sa.Column("scored_at", tz),
        sa.PrimaryKeyConstraint(
            "scoring_week", "customer_id", "model_name", name="predictions_pkey"
        ),
        # What the Grafana scoring dashboard asks: one model's weeks in a time range, counted
        # per model version and risk-score percentiles -> an index-only scan per partition.
        sa.Index(
            "predictions_model_week",
            "model_name",
            "scoring_week",
            postgresql_include=["model_version", "risk_score"],
        ),
        # One partition per ISO week (churn_platform.io.partitions): a week's rewrite touches
        # one partition, retention drops whole partitions, time filters prune.
        postgresql_partition_by="RANGE (scoring_week)",
    )

    model_evaluations = sa.Table(
        "model_evaluations",
        md,
        sa.Column("scoring_week", sa.Date, nullable=False),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("label_lag_weeks", sa.Integer, nullable=False),
        sa.Column("evaluated_week", sa.Date),
        sa.Column("n", sa.Integer),
        sa.Column("n_events", sa.Integer),
        sa.Column("c_index", sa.Double),
        sa.Column("c_index_low", sa.Double, comment="95% bootstrap interval, lower end"),
        sa.Column("c_index_high", sa.Double, comment="95% bootstrap interval, upper end"),
        sa.Column("uno_c", sa.Double),
        sa.Column("ibs", sa.Double),
        sa.Column("brier", pg.JSONB, comment='{"<horizon days>": brier score}'),
        sa.Column("auc", pg.JSONB, comment='{"<horizon days>": time-dependent AUC}'),
        sa.Column("mlflow_run_id", sa.Text),
        sa.Column("evaluated_at", tz),
        sa.PrimaryKeyConstraint(
            "scoring_week",
            "model_name",
            "model_version",
            "label_lag_weeks",
            name="model_evaluations_pkey",
        ),
    )

    calibration_results = sa.Table(
        "calibration_results",
        md,
        sa.Column("scoring_week", sa.Date, nullable=False),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("label_lag_weeks", sa.Integer, nullable=False),
        sa.Column("horizon_days", sa.Integer, nullable=False, comment="inside the label window"),
        sa.Column("evaluated_week", sa.Date),
        sa.Column("n", sa.Integer),
        sa.Column("n_events", sa.Integer, comment="churns by the horizon"),
        sa.Column("expected_risk", sa.Double, comment="mean predicted P(churn by horizon)"),
        sa.Column("observed_risk", sa.Double, comment="1 - Kaplan-Meier at the horizon"),
        sa.Column("ici", sa.Double, comment="integrated calibration index (Austin 2020)"),
        sa.Column("e50", sa.Double),
        sa.Column("e90", sa.Double),
        sa.Column("slope", sa.Double, comment="Cox coefficient of cloglog(predicted); 1 = ideal"),
        sa.Column("deciles", pg.JSONB, comment="[{group, n, n_events, predicted, observed}]"),
        sa.Column("mlflow_run_id", sa.Text),
        sa.Column("evaluated_at", tz),
        sa.PrimaryKeyConstraint(
            "scoring_week",
            "model_name",
            "model_version",
            "label_lag_weeks",
            "horizon_days",
            name="calibration_results_pkey",
        ),
    )

    drift_results = sa.Table(
        "drift_results",
        md,
        sa.Column("week", sa.Date, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("column_name", sa.Text, nullable=False),
        sa.Column("test", sa.Text),
        sa.Column("statistic", sa.Double),
        sa.Column("p_value", sa.Double),
        sa.Column("effect", sa.Double),
        sa.Column("psi", sa.Double),
        sa.Column("breached", sa.Boolean),
        sa.Column("new_levels", sa.Text),
        sa.Column("n_reference", sa.Integer),
        sa.Column("n_current", sa.Integer),
        sa.Column(
            "p_value_is_bound",
            sa.Boolean,
            comment="true: p_value is an upper bound (p <= p_value) that cannot change the verdict",
        ),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("model_version", sa.Integer),
        sa.Column("computed_at", tz),
        sa.PrimaryKeyConstraint(
            "week", "kind", "column_name", "model_name", name="drift_results_pkey"
        ),
        sa.CheckConstraint("kind IN ('feature', 'score')", name="drift_results_kind_check"),
    )

    alias_history = sa.Table(
        "alias_history",
        md,
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("alias", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("previous_version", sa.Integer, nullable=True),
        sa.Column("changed_at", tz, nullable=False, server_default=sa.func.now()),
        sa.Column("changed_by", sa.Text),
        sa.Column("reason", sa.Text),
    )

    promotion_ledger = sa.Table(
        "promotion_ledger",
        md,
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("transition_id", sa.Text, nullable=False, comment="rows of one transition"),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("from_state", sa.Text),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False, comment="who (approver, job, sensor)"),
        sa.Column("reason", sa.Text),
        sa.Column("metrics", pg.JSONB, comment="metrics of the version at transition time"),
        sa.Column("occurred_at", tz, nullable=False, server_default=sa.func.now()),
        sa.Index("promotion_ledger_model_version", "model_name", "version", "id"),
    )

    retrain_ledger = sa.Table(
        "retrain_ledger",
        md,
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("request_key", sa.Text, nullable=False, comment="unique per request"),
        sa.Column("trigger", sa.Text, nullable=False, comment="sensor|schedule|manual|pipeline"),
        sa.Column("breach_id", sa.Text, comment="the breach a sensor request answers"),
        sa.Column("attempt", sa.Integer),
        sa.Column("requested_week", sa.Date, nullable=False),
        sa.Column("requested_by", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("status", sa.Text, nullable=False, comment="requested|success|failure"),
        sa.Column("dagster_run_id", sa.Text),
        sa.Column("model_version", sa.Integer),
        sa.Column("requested_at", tz, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", tz, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("model_name", "request_key", name="retrain_ledger_pkey"),
        sa.CheckConstraint(
            "status IN ('requested', 'success', 'failure')", name="retrain_ledger_status_check"
        ),
    )

    customer_keys = sa.Table(
        "customer_keys",
        md,
        sa.Column("customer_id", sa.BigInteger, primary_key=True, comment="predictions key"),
        sa.Column("source_id", sa.Text, nullable=False, comment="the id in your data"),
        sa.Column("first_seen_week", sa.Date, nullable=False),
        sa.UniqueConstraint("source_id", name="customer_keys_source_id_key"),
    )

    return Tables(
        metadata=md,
        schema=schema,
        horizons=hs,
        predictions=predictions,
        model_evaluations=model_evaluations,
        calibration_results=calibration_results,
        drift_results=drift_results,
        alias_history=alias_history,
        promotion_ledger=promotion_ledger,
        retrain_ledger=retrain_ledger,
        customer_keys=customer_keys,
    )


def describe_url(url: str | sa.URL) -> str:
    """``host:port/database`` of a URL, for error messages (never the password)."""
    u = parse_database_url(url)
    host = u.host or str(u.query.get("host", "localhost"))
    port = f":{u.port}" if u.port else ""
    return f"{host}{port}/{u.database or ''}"


# Bounds of one process's pool per database: at most POOL_SIZE + MAX_OVERFLOW connections.
# Settings (CHURN_DB_POOL_SIZE / CHURN_DB_MAX_OVERFLOW) pass other values through the resource.
POOL_SIZE = 2
MAX_OVERFLOW = 2
POOL_TIMEOUT_S = 60
# A server that is down or a host that drops packets fails a run in seconds, not the OS's
# TCP connect timeout (about two minutes): libpq's connect_timeout, per connection attempt.
CONNECT_TIMEOUT_S = 5


def parse_database_url(url: str | sa.URL) -> sa.URL:
    """``url`` parsed; a malformed one (a non-numeric port, an unknown form) → StorageError naming
    DATABASE_URL with the password masked, instead of SQLAlchemy's bare ``ValueError``."""
    if isinstance(url, sa.URL):
        return url
    try:
        return sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StorageError(
            f"DATABASE_URL {mask_url(url)!r} is not a valid database URL ({exc}); give the "
            "port as a number (HOST:5432) and percent-encode special characters in the user "
            "name or password."
        ) from exc


def connect_args_for(url: sa.URL) -> dict[str, object]:
    """Driver options: libpq's ``connect_timeout`` for the libpq drivers (psycopg 2 and 3)
    unless the URL sets one."""
    libpq = url.get_driver_name() in ("psycopg2", "psycopg", "psycopg2cffi")
    if url.get_backend_name() == "postgresql" and libpq and "connect_timeout" not in url.query:
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    return {}


def make_engine(
    url: str | sa.URL, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW
) -> sa.Engine:
    """Create a bounded engine and check the database answers; unreachable → StorageError.

    Connections are pinged before use so a restarted database does not fail the next run, and
    each connection attempt gives up after ``CONNECT_TIMEOUT_S`` seconds (PostgreSQL).
    Prefer :func:`database_for` (one shared pool per process and URL) over a new engine.
    """
    parsed = parse_database_url(url)
    try:
        engine = sa.create_engine(
            parsed,
            connect_args=connect_args_for(parsed),
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=POOL_TIMEOUT_S,
        )
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise StorageError(f"Invalid database URL for {describe_url(url)}: {exc}") from exc
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise StorageError(
            f"Cannot connect to PostgreSQL at {describe_url(url)} "
            f"({type(exc.orig).__name__}: {reason}). Check DATABASE_URL, that the server is "
            "running and that the database exists."
        ) from exc
    return engine


class Database:
    """One bounded connection pool to one PostgreSQL database, created on first use.

    The stores (predictions, evaluations, drift, alias history, insights, shard staging) take a
    ``Database`` (or an engine) instead of a URL, so a process holds one pool per database no
    matter how many stores it builds. :meth:`dispose` closes the pool's connections; the next use
    opens new ones, so disposing at resource teardown is always safe.
    """

    def __init__(
        self, url: str | sa.URL, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW
    ) -> None:
        self.url = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    @property
    def max_connections(self) -> int:
        return self.pool_size + self.max_overflow

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = make_engine(
                        self.url, pool_size=self.pool_size, max_overflow=self.max_overflow
                    )
        return self._engine

    def dispose(self) -> None:
        """Close every pooled connection (checked-out ones close when returned).

        The engine itself stays (SQLAlchemy gives it a fresh, empty pool), so stores that hold
        it keep sharing the one pool instead of each ending up with an engine of its own.
        """
        with self._lock:
            engine = self._engine
        if engine is not None:
            engine.dispose()

    def __repr__(self) -> str:
        return f"Database({describe_url(self.url)}, max {self.max_connections} connections)"


_DATABASES: dict[tuple[int, str], Database] = {}
_DATABASES_LOCK = threading.Lock()


def database_for(
    url: str | sa.URL, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW
) -> Database:
    """The process's one :class:`Database` for ``url`` (created on first call, bounds fixed then).

    Keyed by process id too: a forked child never reuses its parent's sockets. All pools are
    disposed at interpreter exit.
    """
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    key = (os.getpid(), text)
    with _DATABASES_LOCK:
        db = _DATABASES.get(key)
        if db is None:
            if not _DATABASES:
                atexit.register(dispose_databases)
            db = _DATABASES[key] = Database(text, pool_size=pool_size, max_overflow=max_overflow)
    return db


def dispose_databases() -> None:
    """Close the pools of every :class:`Database` of this process (teardown, process exit)."""
    with _DATABASES_LOCK:
        mine = [db for (pid, _), db in _DATABASES.items() if pid == os.getpid()]
    for db in mine:
        db.dispose()


DatabaseLike = Database | sa.Engine | str


def engine_of(target: DatabaseLike) -> sa.Engine:
    """The engine behind a store's ``Database``/engine/URL argument (a URL maps to the
    process's shared pool, never to a new engine)."""
    if isinstance(target, sa.Engine):
        return target
    if isinstance(target, Database):
        return target.engine
    return database_for(target).engine


def url_of(target: DatabaseLike) -> str:
    """The full SQLAlchemy URL (with password) of a store's ``Database``/engine/URL argument."""
    if isinstance(target, sa.Engine):
        return target.url.render_as_string(hide_password=False)
    if isinstance(target, Database):
        return target.url
    return target


def adbc_uri(sqlalchemy_url: str | sa.URL, application_name: str) -> str:
    """libpq URI for an ADBC connection, tagged with ``application_name`` so its sessions can
    be found in ``pg_stat_activity``."""
    uri = libpq_url(sqlalchemy_url)
    return f"{uri}{'&' if '?' in uri else '?'}application_name={application_name}"


def libpq_url(sqlalchemy_url: str | sa.URL) -> str:
    """Turn a SQLAlchemy URL (``postgresql+psycopg2://...``) into a libpq URI for ADBC/psycopg.

    Handles the embedded server's socket URLs (``...@/db?host=/socket/dir``) and percent-encodes
    user, password and query values.
    """
    u = sa.make_url(sqlalchemy_url)
    if u.get_backend_name() != "postgresql":
        raise StorageError(f"Expected a PostgreSQL URL, got backend {u.get_backend_name()!r}.")
    auth = ""
    if u.username:
        auth = quote(u.username, safe="")
        if u.password is not None:
            auth += ":" + quote(str(u.password), safe="")
        auth += "@"
    host = ""
    if u.host:
        host = f"[{u.host}]" if ":" in u.host else u.host
    if u.port:
        host += f":{u.port}"
    database = "/" + quote(u.database, safe="") if u.database else "/"
    params: list[str] = []
    for key, value in u.query.items():
        values = value if isinstance(value, tuple) else (value,)
        params.extend(f"{quote(key, safe='')}={quote(v, safe='')}" for v in values)
    query = "?" + "&".join(params) if params else ""
    return f"postgresql://{auth}{host}{database}{query}"


def _existing_horizons(conn: sa.Connection, schema: str) -> tuple[set[int], bool]:
    inspector = sa.inspect(conn)
    if not inspector.has_table("predictions", schema=schema):
        return set(), False
    found: set[int] = set()
    for col in inspector.get_columns("predictions", schema=schema):
        match = _HORIZON_COLUMN.match(col["name"])
        if match:
            found.add(int(match.group(1)))
    return found, True


def ensure_schema(
    engine: sa.Engine,
    schema: str = DEFAULT_SCHEMA,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
) -> Tables:
    """Create the schema and all tables if missing (safe to call on every run and concurrently).

    Raises :class:`StorageError` if ``predictions`` already exists with other horizon columns:
    the configured horizons changed and the existing table would silently lose or lack columns.
    Returns the :class:`Tables` it checked.
    """
    tables = tables_for(schema, horizons)
    _create(engine, tables, include_predictions=True)
    return tables


def ensure_monitoring_tables(engine: sa.Engine, schema: str = DEFAULT_SCHEMA) -> Tables:
    """Create the schema and the tables that do not depend on horizons (evaluations, drift,
    alias history); ``predictions`` is neither created nor checked.

    Used by the small stores, which must not fail because the scoring horizons differ.
    """
    tables = tables_for(schema, DEFAULT_HORIZONS)
    _create(engine, tables, include_predictions=False)
    return tables


# Columns added after a table's first release: created on tables built before them.
_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("drift_results", "p_value_is_bound", "boolean"),
    ("model_evaluations", "c_index_low", "double precision"),
    ("model_evaluations", "c_index_high", "double precision"),
)


def _add_missing_columns(conn: sa.Connection, tables: Tables) -> None:
    inspector = sa.inspect(conn)
    for table, column, sql_type in _ADDED_COLUMNS:
        if not inspector.has_table(table, schema=tables.schema):
            continue
        names = {c["name"] for c in inspector.get_columns(table, schema=tables.schema)}
        if column not in names:
            identifier_ddl(
                conn,
                "ALTER TABLE {schema}.{table} ADD COLUMN {column} " + sql_type,
                schema=tables.schema,
                table=table,
                column=column,
            )


def _create(engine: sa.Engine, tables: Tables, *, include_predictions: bool) -> None:
    schema = tables.schema
    try:
        with engine.begin() as conn:
            # Serialise concurrent first runs (two Dagster steps creating the schema at once).
            lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("k"), 0))
            conn.execute(sa.select(lock), {"k": f"churn_platform.ensure_schema:{schema}"})
            # Only DDL that is needed: a least-privilege role (USAGE on the schema, DML on its
            # tables, no CREATE) can then use an existing schema; CREATE ... IF NOT EXISTS still
            # demands the CREATE privilege.
            if not sa.inspect(conn).has_schema(schema):
                conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            wanted = [
                t
                for t in tables.metadata.sorted_tables
                if include_predictions or t is not tables.predictions
            ]
            if include_predictions:
                found, exists = _existing_horizons(conn, schema)
                if exists and found != set(tables.horizons):
                    raise StorageError(
                        f"Table {schema}.predictions has churn horizons {sorted(found)} (days) "
                        f"but the platform is configured for {sorted(tables.horizons)}. Configure "
                        "the same horizons, use another schema, or migrate the table (add/drop "
                        "the churn_prob_<h>d columns) before scoring."
                    )
            tables.metadata.create_all(conn, tables=wanted, checkfirst=True)
            if include_predictions and is_partitioned(conn, schema):
                install_partition_function(conn, schema)
            _add_missing_columns(conn, tables)
    except sa.exc.DBAPIError as exc:
        raise StorageError(
            f"Could not create schema {schema!r} on {describe_url(engine.url)}: {exc.orig}"
        ) from exc
