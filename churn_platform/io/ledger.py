"""The promotion ledger and the retrain ledger (PostgreSQL), next to ``alias_history``.

``promotion_ledger`` holds one row per version per lifecycle transition (who, when, why, a
metrics snapshot); a transition touching two versions (a promotion archives the old production)
writes two rows with the same ``transition_id``. The current state of a version is its last row.

Transitions of one model are serialized with a PostgreSQL transaction-level advisory lock:
:meth:`PromotionLedger.transaction` takes it, so a second promotion waits, then reads the state
the first one left and is refused if it no longer applies. Rows are written inside that
transaction, which the caller commits only once the MLflow side has succeeded.

``retrain_ledger`` records each retraining request once (primary key: model + request key) with
its outcome, whoever asked (sensor, schedule, manual, the training pipeline).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from churn_platform.errors import StorageError
from churn_platform.io.results import _Store


@dataclass(frozen=True)
class LedgerRow:
    """One version's move in one transition."""

    transition_id: str
    model_name: str
    version: int
    action: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str
    metrics: Mapping[str, float]


def _json_safe(metrics: Mapping[str, float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k, v in metrics.items():
        f = float(v)
        out[str(k)] = None if math.isnan(f) or math.isinf(f) else f
    return out


class PromotionLedger(_Store):
    """Every lifecycle transition of every model version: who, when, why, with which metrics."""

    def _lock_key(self, model_name: str) -> str:
        return f"churn_platform.promotion:{self.tables.schema}:{model_name}"

    @contextmanager
    def transaction(self, model_name: str) -> Iterator[sa.Connection]:
        """A connection in an open transaction holding the model's transition lock.

        Commits when the block exits normally, rolls back (and releases the lock) on error."""
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"Could not open the promotion ledger: {exc.orig}") from exc
        try:
            with conn.begin():
                lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("k"), 0))
                conn.execute(sa.select(lock), {"k": self._lock_key(model_name)})
                yield conn
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"Promotion ledger transaction failed: {exc.orig}") from exc
        finally:
            conn.close()

    def states(self, conn: sa.Connection, model_name: str) -> dict[int, str]:
        """The last recorded state of each version that has ledger rows."""
        t = self.tables.promotion_ledger
        stmt = (
            sa.select(t.c.version, t.c.to_state)
            .where(t.c.model_name == model_name)
            .distinct(t.c.version)
            .order_by(t.c.version, t.c.id.desc())
        )
        return {int(v): str(s) for v, s in conn.execute(stmt).all()}

    def production_history(self, conn: sa.Connection, model_name: str) -> list[int]:
        """Versions in the order they (last) became production."""
        t = self.tables.promotion_ledger
        stmt = (
            sa.select(t.c.version, sa.func.max(t.c.id).label("last"))
            .where(t.c.model_name == model_name, t.c.to_state == "production")
            .group_by(t.c.version)
            .order_by(sa.text("last"))
        )
        return [int(v) for v, _ in conn.execute(stmt).all()]

    def append(
        self,
        conn: sa.Connection,
        rows: Sequence[LedgerRow],
        alias_moves: Sequence[tuple[str, int | None, int | None]] = (),
    ) -> None:
        """Write the transition's rows (and its alias moves into ``alias_history``: alias,
        new version or None when the alias was removed, previous version) in ``conn``'s
        transaction; nothing is visible until it commits."""
        if not rows:
            return
        t = self.tables.promotion_ledger
        conn.execute(
            sa.insert(t),
            [
                {
                    "transition_id": r.transition_id,
                    "model_name": r.model_name,
                    "version": int(r.version),
                    "action": r.action,
                    "from_state": r.from_state,
                    "to_state": r.to_state,
                    "actor": r.actor,
                    "reason": r.reason,
                    "metrics": _json_safe(r.metrics),
                }
                for r in rows
            ],
        )
        ah = self.tables.alias_history
        first = rows[0]
        for alias, version, previous in alias_moves:
            if version is None:
                continue  # alias_history records where an alias points; removals are in the ledger
            conn.execute(
                sa.insert(ah).values(
                    model_name=first.model_name,
                    alias=alias,
                    version=int(version),
                    previous_version=previous,
                    changed_by=first.actor,
                    reason=first.reason,
                )
            )

    def read(self, model_name: str) -> pd.DataFrame:
        """All transitions of ``model_name``, oldest first."""
        t = self.tables.promotion_ledger
        stmt = sa.select(t).where(t.c.model_name == model_name).order_by(t.c.id)
        return self._read(stmt, f"promotion ledger of {model_name!r}")

    def current_states(self, model_name: str) -> dict[int, str]:
        """Last recorded state per version (outside any transition)."""
        try:
            with self.engine.connect() as conn:
                return self.states(conn, model_name)
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"Could not read the promotion ledger: {exc.orig}") from exc


RETRAIN_STATUSES = ("requested", "success", "failure")


class RetrainLedger(_Store):
    """Every retraining request once (``request_key`` unique per model), with its outcome."""

    def request(
        self,
        model_name: str,
        request_key: str,
        *,
        trigger: str,
        requested_week: date,
        requested_by: str,
        reason: str,
        breach_id: str | None = None,
        attempt: int | None = None,
        dagster_run_id: str | None = None,
    ) -> bool:
        """Record a request; ``False`` when this key was already recorded (nothing changes)."""
        t = self.tables.retrain_ledger
        stmt = (
            pg.insert(t)
            .values(
                model_name=model_name,
                request_key=request_key,
                trigger=trigger,
                breach_id=breach_id,
                attempt=attempt,
                requested_week=requested_week,
                requested_by=requested_by,
                reason=reason,
                status="requested",
                dagster_run_id=dagster_run_id,
            )
            .on_conflict_do_nothing(index_elements=["model_name", "request_key"])
        )
        try:
            with self.engine.begin() as conn:
                return bool(conn.execute(stmt).rowcount)
        except sa.exc.DBAPIError as exc:
            raise StorageError(
                f"Could not record retrain request {request_key!r}: {exc.orig}"
            ) from exc

    def finish(
        self,
        model_name: str,
        request_key: str,
        status: str,
        *,
        model_version: int | None = None,
        dagster_run_id: str | None = None,
    ) -> None:
        """Set the outcome of a recorded request (``success`` or ``failure``)."""
        if status not in RETRAIN_STATUSES:
            raise StorageError(f"retrain status must be one of {RETRAIN_STATUSES}, got {status!r}")
        t = self.tables.retrain_ledger
        values: dict[str, Any] = {"status": status, "updated_at": sa.func.now()}
        if model_version is not None:
            values["model_version"] = int(model_version)
        if dagster_run_id is not None:
            values["dagster_run_id"] = dagster_run_id
        stmt = (
            sa.update(t)
            .where(t.c.model_name == model_name, t.c.request_key == request_key)
            .values(**values)
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt)
        except sa.exc.DBAPIError as exc:
            raise StorageError(
                f"Could not update retrain request {request_key!r}: {exc.orig}"
            ) from exc

    def read(self, model_name: str | None = None) -> pd.DataFrame:
        """All requests (of ``model_name``, or of every model), oldest first."""
        t = self.tables.retrain_ledger
        stmt = sa.select(t).order_by(t.c.requested_at, t.c.request_key)
        if model_name is not None:
            stmt = stmt.where(t.c.model_name == model_name)
        return self._read(stmt, "retrain ledger")


def metrics_json(metrics: Mapping[str, float]) -> str:
    return json.dumps(_json_safe(metrics), sort_keys=True)
