"""Shared fixtures: a throwaway PostgreSQL database and a real MLflow store per test session.

The machine's PostgreSQL (127.0.0.1:5432, trust auth) is used; override with
``CHURN_TEST_PG_ADMIN_URL``. Each pytest session (each xdist worker) creates its own databases
and drops them at the end, so no test depends on state left by hand.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from churn_platform.io.embedded import database_url, ensure_database
from churn_platform.runtime import export_library_env
from churn_platform.settings import Settings
from churn_platform_tests.support.postgres import ADMIN_URL


def _drop_database(name: str) -> None:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def session_tag() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    return f"churn_test_{worker}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def pg_url(session_tag: str) -> Iterator[str]:
    """URL of a fresh, empty database for application tables (predictions, alias_history...)."""
    ensure_database(ADMIN_URL, session_tag)
    yield database_url(ADMIN_URL, session_tag)
    _drop_database(session_tag)


@pytest.fixture(scope="session")
def mlflow_tracking_uri(
    session_tag: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real MLflow tracking + registry store on PostgreSQL, artifacts in a temp folder.

    Sets ``MLFLOW_TRACKING_URI`` for the session so MlflowClient() and mlflow.* use it.
    """
    import mlflow

    name = f"{session_tag}_mlflow"
    ensure_database(ADMIN_URL, name)
    uri = database_url(ADMIN_URL, name)
    artifacts: Path = tmp_path_factory.mktemp("mlartifacts")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["MLFLOW_REGISTRY_URI"] = uri
    os.environ["CHURN_MLFLOW_ARTIFACT_ROOT"] = str(artifacts)
    # as the entry points' bootstrap does: MLflow's own SQLAlchemy pools bounded before MLflow
    # creates them (they are cached per URI for the life of the process)
    export_library_env(Settings(mlflow_tracking_uri=uri))
    mlflow.set_tracking_uri(uri)
    yield uri
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    _drop_database(name)
