"""Dagster runs in tests: resources wired to the session's PostgreSQL/MLflow, the weekly
scoring assets, and one-call training and scoring materializations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dagster import DagsterInstance, materialize

from churn_platform.defs.features.assets import customer_features
from churn_platform.defs.resources import DataSourceResource, build_resources
from churn_platform.defs.scoring.assets import churn_scores
from churn_platform.defs.training.assets import churn_model, training_dataset
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


def query(pg_url: str, sql: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        engine.dispose()


ALL_ASSETS = [customer_features, training_dataset, churn_model, churn_scores]


WEEK = "2025-07-14"


def train(resources: dict[str, Any], instance: DagsterInstance) -> int:
    result = materialize(
        ALL_ASSETS,
        selection=["training_dataset", "churn_model"],
        resources=resources,
        instance=instance,
        run_config={"ops": {"training_dataset": {"config": {"as_of_week": TRAIN_AS_OF}}}},
    )
    assert result.success
    mats = result.asset_materializations_for_node("churn_model")
    assert str(mats[0].metadata["model_card"].value).endswith("model_card.html")
    return int(mats[0].metadata["model_version"].value)


def score(
    resources: dict[str, Any], instance: DagsterInstance, week: str = WEEK, chunk_rows: int = 1000
) -> Any:
    return materialize(
        ALL_ASSETS,
        selection=["customer_features", "churn_scores"],
        partition_key=week,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"churn_scores": {"config": {"chunk_rows": chunk_rows}}}},
    )
