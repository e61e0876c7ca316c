"""Resolve where things live (database, MLflow, artifacts) from settings.

With nothing configured, an embedded PostgreSQL is started under ``CHURN_HOME`` and serves the
application tables (database ``churn``), the MLflow backend store (``mlflow``) and Dagster
storage (``dagster``); MLflow artifacts go to ``CHURN_HOME/artifacts/mlflow``. With
``DATABASE_URL`` / ``MLFLOW_TRACKING_URI`` set (compose, AWS), the same code uses those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from churn_platform.io.embedded import database_url, start_embedded_postgres
from churn_platform.settings import Settings, get_settings


@dataclass(frozen=True)
class Runtime:
    database_url: str
    tracking_uri: str
    mlflow_artifact_root: str | None
    artifact_root: str
    model_name: str
    db_schema: str
    dagster_pg_url: str | None
    embedded: bool


def resolve_runtime(settings: Settings | None = None) -> Runtime:
    """Return connection settings, starting the embedded PostgreSQL when none is configured.

    Also exports ``MLFLOW_TRACKING_URI`` so that every MLflow call in this process (and the
    Dagster runs it launches) talks to the same store.
    """
    s = settings or get_settings()
    embedded_base: str | None = None
    if s.database_url is None or s.mlflow_tracking_uri is None:
        embedded_base = start_embedded_postgres(s.embedded_pg_dir)
    db_url = s.database_url or database_url(embedded_base or "", "churn")
    tracking = s.mlflow_tracking_uri or database_url(embedded_base or "", "mlflow")
    ml_artifacts = os.environ.get("CHURN_MLFLOW_ARTIFACT_ROOT")
    if ml_artifacts is None and s.mlflow_tracking_uri is None:
        ml_artifacts = str(s.local_artifact_dir / "mlflow")
    os.environ["MLFLOW_TRACKING_URI"] = tracking
    return Runtime(
        database_url=db_url,
        tracking_uri=tracking,
        mlflow_artifact_root=ml_artifacts,
        artifact_root=s.artifact_root or str(s.local_artifact_dir),
        model_name=s.model_name,
        db_schema=s.db_schema,
        dagster_pg_url=database_url(embedded_base, "dagster") if embedded_base else None,
        embedded=embedded_base is not None,
    )
