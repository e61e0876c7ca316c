"""Small repositories over the monitoring tables: model evaluations, drift results, alias history.

These tables hold tens to thousands of rows a week, so plain bound-parameter statements through
SQLAlchemy Core are enough (bulk COPY is reserved for the per-customer ``predictions`` table).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from churn_platform.errors import StorageError
from churn_platform.io.db import (
    DEFAULT_SCHEMA,
    DatabaseLike,
    Tables,
    engine_of,
    ensure_monitoring_tables,
)

DRIFT_KINDS = ("feature", "score")


def python_value(value: Any) -> Any:
    """Convert numpy/pandas scalars to plain Python values the driver understands; NaN → NULL.

    Dict values (JSONB columns such as ``brier``) are converted too, keys as strings.
    """
    if isinstance(value, dict):
        return {str(k): python_value(v) for k, v in value.items()}
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, list):
        return value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def table_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as plain-Python dicts ready for ``sa.insert(table)``."""
    return [
        {str(k): python_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]


def check_columns(frame: pd.DataFrame, table: sa.Table, what: str) -> None:
    unknown = [str(c) for c in frame.columns if str(c) not in table.c]
    if unknown:
        raise StorageError(
            f"{what}: unexpected column(s) {unknown}; {table.fullname} has "
            f"{[c.name for c in table.columns]}."
        )


class _Store:
    """Shared engine/schema handling.

    ``db`` is the process's :class:`~churn_platform.io.db.Database` (or an engine; a URL maps
    to the shared pool of that URL): stores never open a pool of their own.
    """

    def __init__(self, db: DatabaseLike, schema: str = DEFAULT_SCHEMA) -> None:
        self.engine = engine_of(db)
        self.tables: Tables = ensure_monitoring_tables(self.engine, schema)

    def _read(self, stmt: sa.Select[Any], what: str) -> pd.DataFrame:
        try:
            with self.engine.connect() as conn:
                result = conn.execute(stmt)
                return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"Could not read {what}: {exc.orig}") from exc

    def dispose(self) -> None:
        """Close the shared pool's idle connections (it reopens on next use)."""
        self.engine.dispose()


class EvaluationStore(_Store):
    """Delayed model evaluations: how well a week's predictions ranked customers once labelled."""

    def upsert(self, rows: pd.DataFrame) -> int:
        """Insert or update evaluations keyed by (scoring_week, model_name, version, lag).

        ``brier``/``auc`` hold ``{horizon_days: value}`` dicts; ``evaluated_at`` defaults to now.
        Returns the number of rows written.
        """
        return self._upsert(self.tables.model_evaluations, rows, "Model evaluations")

    def upsert_calibration(self, rows: pd.DataFrame) -> int:
        """Insert or update calibration rows keyed by (scoring_week, model_name, version, lag,
        horizon_days); ``deciles`` holds the decile table as a list of dicts."""
        return self._upsert(self.tables.calibration_results, rows, "Calibration results")

    def read_calibration(self, model_name: str | None = None) -> pd.DataFrame:
        """Calibration results (optionally of one model), oldest scoring week first."""
        t = self.tables.calibration_results
        stmt = sa.select(t).order_by(
            t.c.model_name, t.c.scoring_week, t.c.model_version, t.c.horizon_days
        )
        if model_name is not None:
            stmt = stmt.where(t.c.model_name == model_name)
        return self._read(stmt, "calibration results")

    def _upsert(self, t: sa.Table, rows: pd.DataFrame, what: str) -> int:
        check_columns(rows, t, what)
        key = [c.name for c in t.primary_key.columns]
        missing = [k for k in key if k not in rows.columns]
        if missing:
            raise StorageError(f"{what}: key column(s) {missing} are missing.")
        if rows.empty:
            return 0
        if rows.duplicated(subset=key).any():
            raise StorageError(f"{what}: duplicated keys {key} in one upsert.")
        records = table_records(rows)
        now = datetime.now().astimezone()
        for rec in records:
            if rec.get("evaluated_at") is None:
                rec["evaluated_at"] = now
        columns = sorted({c for rec in records for c in rec})
        records = [{c: rec.get(c) for c in columns} for rec in records]
        stmt = pg.insert(t)
        updates = {c: stmt.excluded[c] for c in columns if c not in key}
        stmt = (
            stmt.on_conflict_do_update(index_elements=key, set_=updates)
            if updates
            else stmt.on_conflict_do_nothing(index_elements=key)
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt, records)
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"Could not store {what.lower()}: {exc.orig}") from exc
        return len(records)

    def read(self, model_name: str | None = None) -> pd.DataFrame:
        """Evaluations (optionally of one model), oldest scoring week first."""
        t = self.tables.model_evaluations
        stmt = sa.select(t).order_by(
            t.c.model_name, t.c.scoring_week, t.c.model_version, t.c.label_lag_weeks
        )
        if model_name is not None:
            stmt = stmt.where(t.c.model_name == model_name)
        return self._read(stmt, "model evaluations")


class DriftStore(_Store):
    """Weekly drift test results per feature (``kind='feature'``) or score (``kind='score'``)."""

    def replace_week(self, week: date, kind: str, model_name: str, frame: pd.DataFrame) -> int:
        """Replace all results of (week, kind, model) with ``frame`` in one transaction.

        ``frame`` has one row per tested column (``column_name``, ``test``, ``statistic``,
        ``p_value``, ``effect``, ``psi``, ``breached``, ...); ``week``/``kind``/``model_name``
        are taken from the arguments (if present in the frame they must agree).
        """
        if kind not in DRIFT_KINDS:
            raise StorageError(f"Drift kind must be one of {DRIFT_KINDS}, got {kind!r}.")
        t = self.tables.drift_results
        check_columns(frame, t, "Drift results")
        if "column_name" not in frame.columns:
            raise StorageError("Drift results: column 'column_name' is missing.")
        fixed: dict[str, Any] = {"week": week, "kind": kind, "model_name": model_name}
        for name, value in fixed.items():
            if name in frame.columns:
                values = set(pd.Series(frame[name]).map(python_value).unique())
                if values - {value}:
                    raise StorageError(
                        f"Drift results: column {name!r} holds {sorted(map(str, values))}, "
                        f"expected only {value!r}."
                    )
        if frame["column_name"].duplicated().any():
            dups = sorted(frame.loc[frame["column_name"].duplicated(), "column_name"].astype(str))
            raise StorageError(f"Drift results: column(s) {dups} tested twice in one week.")
        records = table_records(frame)
        now = datetime.now().astimezone()
        for rec in records:
            rec.update(fixed)
            if rec.get("computed_at") is None:
                rec["computed_at"] = now
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.delete(t).where(
                        t.c.week == week, t.c.kind == kind, t.c.model_name == model_name
                    )
                )
                if records:
                    conn.execute(sa.insert(t), records)
        except sa.exc.DBAPIError as exc:
            raise StorageError(
                f"Could not store {kind} drift results for week {week}, model {model_name!r}: "
                f"{exc.orig}"
            ) from exc
        return len(records)

    def read(self, week: date | None = None, kind: str | None = None) -> pd.DataFrame:
        """Drift results, optionally for one week and/or kind, by week then column."""
        t = self.tables.drift_results
        stmt = sa.select(t).order_by(t.c.week, t.c.kind, t.c.model_name, t.c.column_name)
        if week is not None:
            stmt = stmt.where(t.c.week == week)
        if kind is not None:
            stmt = stmt.where(t.c.kind == kind)
        return self._read(stmt, "drift results")


class AliasHistory(_Store):
    """Audit trail of model alias moves (``challenger``, ``production``): who, when, why."""

    def record(
        self,
        model_name: str,
        alias: str,
        version: int,
        previous_version: int | None,
        changed_by: str,
        reason: str,
    ) -> None:
        """Append one alias move (who moved ``alias`` of ``model_name`` to ``version``, and why)."""
        t = self.tables.alias_history
        stmt = sa.insert(t).values(
            model_name=model_name,
            alias=alias,
            version=int(version),
            previous_version=None if previous_version is None else int(previous_version),
            changed_by=changed_by,
            reason=reason,
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt)
        except sa.exc.DBAPIError as exc:
            raise StorageError(
                f"Could not record alias {alias!r} → version {version} of {model_name!r}: "
                f"{exc.orig}"
            ) from exc

    def read(self, model_name: str) -> pd.DataFrame:
        """All alias moves of ``model_name``, oldest first."""
        t = self.tables.alias_history
        stmt = sa.select(t).where(t.c.model_name == model_name).order_by(t.c.changed_at, t.c.id)
        return self._read(stmt, f"alias history of {model_name!r}")


class CustomerKeys(_Store):
    """Text customer ids ↔ the 63-bit keys stored in ``predictions.customer_id``.

    Written once per key (the first week it is seen); a key that already stands for another
    text id is a collision and refused, naming both ids.
    """

    def record(self, keys: pd.DataFrame, week: date) -> int:
        """Store ``customer_id`` (key) → ``source_id`` (text) pairs not known yet; returns how
        many were new."""
        t = self.tables.customer_keys
        rows = [
            {"customer_id": int(k), "source_id": str(s), "first_seen_week": week}
            for k, s in keys[["customer_id", "source_id"]].itertuples(index=False, name=None)
        ]
        if not rows:
            return 0
        try:
            with self.engine.begin() as conn:
                stage = sa.Table(
                    "customer_keys_stage",
                    sa.MetaData(),
                    sa.Column("customer_id", sa.BigInteger),
                    sa.Column("source_id", sa.Text),
                    prefixes=["TEMPORARY"],
                    postgresql_on_commit="DROP",
                )
                stage.create(conn)
                conn.execute(
                    sa.insert(stage),
                    [{k: r[k] for k in ("customer_id", "source_id")} for r in rows],
                )
                clash = conn.execute(
                    sa.select(t.c.customer_id, t.c.source_id, stage.c.source_id)
                    .join(stage, stage.c.customer_id == t.c.customer_id)
                    .where(t.c.source_id != stage.c.source_id)
                    .limit(3)
                ).fetchall()
                if clash:
                    raise StorageError(
                        "customer id key collision: "
                        + "; ".join(f"key {k} is {a!r} and {b!r}" for k, a, b in clash)
                    )
                new = conn.execute(
                    pg.insert(t)
                    .from_select(
                        ["customer_id", "source_id", "first_seen_week"],
                        sa.select(
                            stage.c.customer_id,
                            stage.c.source_id,
                            sa.literal(week, sa.Date),
                        ),
                    )
                    .on_conflict_do_nothing()
                )
                return int(new.rowcount or 0)
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"Could not record customer keys: {exc.orig}") from exc

    def read(self) -> pd.DataFrame:
        t = self.tables.customer_keys
        return self._read(sa.select(t).order_by(t.c.source_id), "customer keys")
