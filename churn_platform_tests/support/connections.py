"""Count a test's PostgreSQL connections from ``pg_stat_activity`` while it runs.

A background thread samples every ``interval`` seconds the client backends connected to the
given databases (the test session's own, so other xdist workers and other clients of a shared
server are not counted) and keeps the peak. Autocommit matters: ``pg_stat_activity`` is a
snapshot per transaction, so in one long transaction every sample would repeat the first.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType

import sqlalchemy as sa

QUERY = sa.text(
    "SELECT datname, count(*) FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
    "AND datname = ANY(:names) GROUP BY datname"
)


class ConnectionSampler:
    """``with ConnectionSampler(admin_url, [db1, db2]) as s: ...`` then ``s.peak``."""

    def __init__(self, admin_url: str, databases: Sequence[str], interval: float = 0.2) -> None:
        self.databases = list(databases)
        self.interval = interval
        self.peak = 0
        self.peak_by_database: dict[str, int] = {}
        self.samples = 0
        self._engine = sa.create_engine(
            admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self._engine.connect() as conn:
            while not self._stop.is_set():
                rows = conn.execute(QUERY, {"names": self.databases}).all()
                total = 0
                for name, n in rows:
                    total += int(n)
                    self.peak_by_database[name] = max(self.peak_by_database.get(name, 0), int(n))
                self.peak = max(self.peak, total)
                self.samples += 1
                self._stop.wait(self.interval)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._engine.dispose()
