"""The one explicit Dagster ``Definitions`` object of churn_platform.

Resources read their connection settings from the environment via ``EnvVar`` (values never
appear in the UI); with nothing set, they use the embedded defaults (see runtime.py).
"""

from __future__ import annotations

import os
from typing import Any

from dagster import Definitions, EnvVar

from churn_platform.defs import (
    features,
    insights,
    monitoring,
    observability,
    promotion,
    scoring,
    training,
)
from churn_platform.defs.io_managers import ParquetSnapshotIOManager
from churn_platform.defs.resources import (
    ArtifactStoreResource,
    DataSourceResource,
    MlflowResource,
    MonitoringResource,
    NotifierResource,
    WarehouseResource,
)


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


CAPABILITIES = (features, training, scoring, monitoring, insights, promotion, observability)
"""One package per capability under defs/, each listing its ASSETS, JOBS, SCHEDULES, SENSORS."""

ASSETS = [a for c in CAPABILITIES for a in c.ASSETS]

defs = Definitions(
    assets=ASSETS,
    jobs=[j for c in CAPABILITIES for j in c.JOBS],
    schedules=[s for c in CAPABILITIES for s in c.SCHEDULES],
    sensors=[s for c in CAPABILITIES for s in c.SENSORS],
    resources=build_resources(),
)
