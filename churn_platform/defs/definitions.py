"""The one explicit Dagster ``Definitions`` object of churn_platform.

Resources read their connection settings from the environment via ``EnvVar`` (values never
appear in the UI); with nothing set, they use the embedded defaults (see runtime.py).
"""

from __future__ import annotations

import os
from typing import Any

from dagster import Definitions, EnvVar

from churn_platform.defs.assets.features import customer_features
from churn_platform.defs.assets.insights import (
    performance_estimate,
    retention_list_asset,
    segment_monitoring,
)
from churn_platform.defs.assets.monitoring import (
    churn_labels,
    delayed_evaluation,
    feature_drift,
    score_drift,
)
from churn_platform.defs.assets.observability import (
    monitoring_metrics_export,
    monitoring_metrics_export_schedule,
)
from churn_platform.defs.assets.scoring import churn_scores
from churn_platform.defs.assets.training import churn_model, training_dataset
from churn_platform.defs.io_managers import ParquetSnapshotIOManager
from churn_platform.defs.jobs import training_job, weekly_scoring_job
from churn_platform.defs.promotion import promote_model_job, reject_model_job, rollback_model_job
from churn_platform.defs.resources import (
    ArtifactStoreResource,
    DataSourceResource,
    MlflowResource,
    MonitoringResource,
    NotifierResource,
    WarehouseResource,
)
from churn_platform.defs.schedules import quarterly_retraining_schedule, weekly_scoring_schedule
from churn_platform.defs.sensors import retraining_sensor, run_failure_alert
from churn_platform.defs.sharded import sharded_scoring_job


def build_resources(*, as_env_vars: bool = True) -> dict[str, Any]:
    """Resources configured from the environment.

    ``as_env_vars`` (the default, for Definitions) passes ``EnvVar`` references that Dagster
    resolves at run time and never displays; False passes the values, for code that also
    uses the resources outside a run (the demo).
    """

    def _env(name: str) -> Any:
        value = os.environ.get(name)
        if not value:
            return None  # embedded default
        return EnvVar(name) if as_env_vars else value

    artifacts = ArtifactStoreResource(root=_env("CHURN_ARTIFACT_ROOT"))
    return {
        "warehouse": WarehouseResource(
            database_url=_env("DATABASE_URL"),
            db_schema=os.environ.get("CHURN_DB_SCHEMA", "churn"),
        ),
        "mlflow_resource": MlflowResource(
            tracking_uri=_env("MLFLOW_TRACKING_URI"),
            model_name=os.environ.get("CHURN_MODEL_NAME", "churn_model"),
            artifact_location=_env("CHURN_MLFLOW_ARTIFACT_ROOT"),
        ),
        "artifacts": artifacts,
        "data_source": DataSourceResource(config_path=_env("CHURN_DATA_CONFIG")),
        "snapshot_io_manager": ParquetSnapshotIOManager(artifacts=artifacts),
        "monitoring": MonitoringResource(),
        "notifier": NotifierResource(webhook_url=_env("SLACK_WEBHOOK_URL")),
    }


ASSETS = [
    customer_features,
    training_dataset,
    churn_model,
    churn_scores,
    churn_labels,
    delayed_evaluation,
    feature_drift,
    score_drift,
    monitoring_metrics_export,
    performance_estimate,
    segment_monitoring,
    retention_list_asset,
]

defs = Definitions(
    assets=ASSETS,
    jobs=[
        weekly_scoring_job,
        training_job,
        promote_model_job,
        reject_model_job,
        rollback_model_job,
        sharded_scoring_job,
    ],
    schedules=[
        weekly_scoring_schedule,
        quarterly_retraining_schedule,
        monitoring_metrics_export_schedule,
    ],
    sensors=[retraining_sensor, run_failure_alert],
    resources=build_resources(),
)
