"""Dagster resources wired to the session's real PostgreSQL and MLflow store."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from churn_platform.defs.resources import DataSourceResource, build_resources
from churn_platform.settings import Settings

TRAIN_AS_OF = "2025-07-07"


def make_resources(
    pg_url: str, tracking_uri: str, root: Path, *, schema: str, model_name: str, **sim: Any
) -> dict[str, Any]:
    """The platform's own resource set (build_resources) on the session's stores."""
    settings = Settings(
        home=root,
        database_url=pg_url,
        db_schema=schema,
        mlflow_tracking_uri=tracking_uri,
        mlflow_artifact_root=os.environ["CHURN_MLFLOW_ARTIFACT_ROOT"],
        artifact_root=str(root / "artifacts"),
        model_name=model_name,
    )
    return build_resources(
        settings,
        as_env_vars=False,
        data_source=DataSourceResource(**{"sim_customers": 3_000, "sim_seed": 5, **sim}),
    )


@pytest.fixture
def resources(pg_url: str, mlflow_tracking_uri: str, tmp_path: Path) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    return make_resources(
        pg_url, mlflow_tracking_uri, tmp_path, schema=f"churn_{tag}", model_name=f"m_{tag}"
    )


def query(pg_url: str, sql: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        engine.dispose()
