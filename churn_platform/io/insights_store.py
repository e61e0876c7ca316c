"""Tables of the insight monitors: performance estimates, segment metrics, retention lists.

Three tables in the platform's schema (``churn`` by default), next to those of
:mod:`churn_platform.io.db`:

* ``performance_estimates``: what a week's scores are expected to reach (C-index, Brier) from
  the model's own survival curves, beside the realised values once labels arrive. ``kind`` is
  ``forecast`` (as of the scoring week, over the full label window; ``realised_*`` is filled
  in ``label_lag_weeks`` later from ``model_evaluations``) or ``interim`` (an earlier cohort
  checked on the partial labels known at ``as_of_week``, estimate and realised over the same
  shorter window).
* ``segment_metrics``: per segment (column, value) delayed evaluation (``kind='evaluation'``)
  or drift (``kind='drift'``), with suppressed small segments listed with their reason.
* ``retention_list``: the weekly top-N customers by revenue at risk, for campaign tools.

SQLAlchemy Core, created idempotently (safe concurrently), bound parameters only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from churn_platform.errors import StorageError
from churn_platform.io.db import DEFAULT_SCHEMA, DatabaseLike, describe_url, engine_of
from churn_platform.io.results import check_columns, table_records

ESTIMATE_KINDS = ("forecast", "interim")
SEGMENT_KINDS = ("evaluation", "drift")


def insights_tables(schema: str = DEFAULT_SCHEMA) -> dict[str, sa.Table]:
    """Definitions of the three insight tables in ``schema``."""
    md = sa.MetaData(schema=schema)
    tz = sa.DateTime(timezone=True)
    estimates = sa.Table(
        "performance_estimates",
        md,
        sa.Column("scoring_week", sa.Date, nullable=False, comment="week the scores were made"),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("as_of_week", sa.Date, nullable=False, comment="labels known up to this week"),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("tau_days", sa.Double, comment="days of outcome the comparison covers"),
        sa.Column("n", sa.Integer),
        sa.Column("n_sampled", sa.Integer, comment="customers in the expected C-index"),
        sa.Column("est_c_index", sa.Double),
        sa.Column("est_brier", pg.JSONB, comment='{"<horizon days>": expected Brier}'),
        sa.Column("expected_events", sa.Double),
        sa.Column("realised_c_index", sa.Double),
        sa.Column("realised_brier", pg.JSONB),
        sa.Column("n_events", sa.Integer, comment="churns observed within tau_days"),
        sa.Column("gap_c_index", sa.Double, comment="realised - estimated"),
        sa.Column("realised_week", sa.Date, comment="week the realised value was computed"),
        sa.Column("mlflow_run_id", sa.Text),
        sa.Column("computed_at", tz),
        sa.PrimaryKeyConstraint(
            "scoring_week",
            "model_name",
            "model_version",
            "as_of_week",
            name="performance_estimates_pkey",
        ),
        sa.CheckConstraint("kind IN ('forecast', 'interim')", name="performance_estimates_kind"),
    )
    segments = sa.Table(
        "segment_metrics",
        md,
        sa.Column("week", sa.Date, nullable=False, comment="partition that computed the row"),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("segment_column", sa.Text, nullable=False),
        sa.Column("segment_value", sa.Text, nullable=False),
        sa.Column("scoring_week", sa.Date, comment="cohort evaluated (evaluation rows)"),
        sa.Column("model_version", sa.Integer),
        sa.Column("n", sa.Integer, comment="customers (current week for drift)"),
        sa.Column("n_reference", sa.Integer),
        sa.Column("n_events", sa.Integer),
        sa.Column("c_index", sa.Double),
        sa.Column("uno_c", sa.Double),
        sa.Column("score_ks", sa.Double),
        sa.Column("score_psi", sa.Double),
        sa.Column("n_features_breached", sa.Integer),
        sa.Column("worst_feature", sa.Text),
        sa.Column("breached", sa.Boolean),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("details", pg.JSONB, comment="all metrics of the row"),
        sa.Column("computed_at", tz),
        sa.PrimaryKeyConstraint(
            "week",
            "kind",
            "model_name",
            "segment_column",
            "segment_value",
            name="segment_metrics_pkey",
        ),
        sa.CheckConstraint("kind IN ('evaluation', 'drift')", name="segment_metrics_kind"),
    )
    retention = sa.Table(
        "retention_list",
        md,
        sa.Column("scoring_week", sa.Date, nullable=False),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False, comment="1 = call first"),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("model_version", sa.Integer),
        sa.Column("rank_horizon_days", sa.Integer),
        sa.Column("monthly_value", sa.Double),
        sa.Column("churn_prob", sa.Double, comment="P(churn within rank_horizon_days)"),
        sa.Column("revenue_at_risk", sa.Double, comment="expected revenue lost in the horizon"),
        sa.Column("revenue_at_risk_by_horizon", pg.JSONB),
        sa.Column("top_drivers", sa.Text),
        sa.Column("created_at", tz),
        sa.PrimaryKeyConstraint("scoring_week", "model_name", "rank", name="retention_list_pkey"),
    )
    return {t.name: t for t in (estimates, segments, retention)}


def ensure_insights_tables(engine: sa.Engine, schema: str = DEFAULT_SCHEMA) -> dict[str, sa.Table]:
    """Create the schema and the insight tables if missing (idempotent, safe concurrently)."""
    tables = insights_tables(schema)
    md = next(iter(tables.values())).metadata
    try:
        with engine.begin() as conn:
            lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("k"), 0))
            conn.execute(sa.select(lock), {"k": f"churn_platform.ensure_schema:{schema}"})
            conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            md.create_all(conn, checkfirst=True)
    except sa.exc.DBAPIError as exc:
        raise StorageError(
            f"Could not create the insight tables in schema {schema!r} on "
            f"{describe_url(engine.url)}: {exc.orig}"
        ) from exc
    return tables


def _records(frame: pd.DataFrame, table: sa.Table, what: str) -> list[dict[str, Any]]:
    check_columns(frame, table, what)
    return table_records(frame)


class InsightsStore:
    """Reads and writes of the three insight tables."""

    def __init__(self, db: DatabaseLike, schema: str = DEFAULT_SCHEMA) -> None:
        self.engine = engine_of(db)  # the process's shared pool, never a new one
        self.tables = ensure_insights_tables(self.engine, schema)

    @property
    def estimates(self) -> sa.Table:
        return self.tables["performance_estimates"]

    @property
    def segments(self) -> sa.Table:
        return self.tables["segment_metrics"]

    @property
    def retention(self) -> sa.Table:
        return self.tables["retention_list"]

    def _write(self, statements: list[tuple[Any, list[dict[str, Any]] | None]], what: str) -> None:
        try:
            with self.engine.begin() as conn:
                for stmt, params in statements:
                    if params is None:
                        conn.execute(stmt)
                    elif params:
                        conn.execute(stmt, params)
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"Could not store {what}: {exc.orig}") from exc

    def _read(self, stmt: sa.Select[Any], what: str) -> pd.DataFrame:
        try:
            with self.engine.connect() as conn:
                result = conn.execute(stmt)
                return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"Could not read {what}: {exc.orig}") from exc

    # ---------- performance estimates ----------
    def upsert_estimates(self, rows: pd.DataFrame) -> int:
        """Insert or update estimate rows keyed by (scoring_week, model, version, as_of_week).

        Only the columns present in ``rows`` are updated, so filling in ``realised_*`` later
        keeps the estimate made at scoring time.
        """
        t = self.estimates
        key = ["scoring_week", "model_name", "model_version", "as_of_week"]
        if rows.empty:
            return 0
        missing = [k for k in key if k not in rows.columns]
        if missing:
            raise StorageError(f"Performance estimates: key column(s) {missing} are missing")
        records = _records(rows, t, "Performance estimates")
        now = datetime.now().astimezone()
        for rec in records:
            rec.setdefault("computed_at", now)
        columns = sorted({c for rec in records for c in rec})
        records = [{c: rec.get(c) for c in columns} for rec in records]
        stmt = pg.insert(t)
        stmt = stmt.on_conflict_do_update(
            index_elements=key, set_={c: stmt.excluded[c] for c in columns if c not in key}
        )
        self._write([(stmt, records)], "performance estimates")
        return len(records)

    def read_estimates(
        self, model_name: str | None = None, kind: str | None = None
    ) -> pd.DataFrame:
        """Estimate rows, oldest scoring week first."""
        t = self.estimates
        stmt = sa.select(t).order_by(t.c.scoring_week, t.c.model_version, t.c.as_of_week)
        if model_name is not None:
            stmt = stmt.where(t.c.model_name == model_name)
        if kind is not None:
            stmt = stmt.where(t.c.kind == kind)
        return self._read(stmt, "performance estimates")

    # ---------- segment metrics ----------
    def replace_segments(self, week: date, kind: str, model_name: str, frame: pd.DataFrame) -> int:
        """Replace the segment rows of (week, kind, model) with ``frame`` atomically."""
        if kind not in SEGMENT_KINDS:
            raise StorageError(f"segment kind must be one of {SEGMENT_KINDS}, got {kind!r}")
        t = self.segments
        records = _records(frame, t, "Segment metrics")
        now = datetime.now().astimezone()
        for rec in records:
            rec.update({"week": week, "kind": kind, "model_name": model_name})
            rec.setdefault("computed_at", now)
        delete = sa.delete(t).where(
            t.c.week == week, t.c.kind == kind, t.c.model_name == model_name
        )
        self._write([(delete, None), (sa.insert(t), records)], f"{kind} segments of {week}")
        return len(records)

    def read_segments(self, week: date | None = None, kind: str | None = None) -> pd.DataFrame:
        t = self.segments
        stmt = sa.select(t).order_by(t.c.week, t.c.kind, t.c.segment_column, t.c.segment_value)
        if week is not None:
            stmt = stmt.where(t.c.week == week)
        if kind is not None:
            stmt = stmt.where(t.c.kind == kind)
        return self._read(stmt, "segment metrics")

    # ---------- retention list ----------
    def replace_retention(self, week: date, model_name: str, frame: pd.DataFrame) -> int:
        """Replace the retention list of (week, model) atomically."""
        t = self.retention
        records = _records(frame, t, "Retention list")
        now = datetime.now().astimezone()
        for rec in records:
            rec.update({"scoring_week": week, "model_name": model_name})
            rec.setdefault("created_at", now)
        delete = sa.delete(t).where(t.c.scoring_week == week, t.c.model_name == model_name)
        self._write([(delete, None), (sa.insert(t), records)], f"retention list of {week}")
        return len(records)

    def read_retention(self, week: date, model_name: str | None = None) -> pd.DataFrame:
        t = self.retention
        stmt = sa.select(t).where(t.c.scoring_week == week).order_by(t.c.model_name, t.c.rank)
        if model_name is not None:
            stmt = stmt.where(t.c.model_name == model_name)
        return self._read(stmt, f"retention list of {week}")

    def dispose(self) -> None:
        self.engine.dispose()
