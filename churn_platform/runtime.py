"""Bootstrap: resolve where things live (database, MLflow, artifacts) once, explicitly.

Entry points (the CLI commands, the demo, ``churn-platform dev``) call :func:`bootstrap` once at
start. With nothing configured it starts the embedded PostgreSQL under ``CHURN_HOME``, which
serves the application tables (database ``churn``), the MLflow backend store (``mlflow``) and
Dagster storage (``dagster``); MLflow artifacts go to ``CHURN_HOME/artifacts/mlflow``. With
``DATABASE_URL`` / ``MLFLOW_TRACKING_URI`` set (compose, AWS), the same code uses those and
starts nothing.

It is the only code that writes process environment variables, and only those other libraries
read on their own: ``MLFLOW_TRACKING_URI`` (every MLflow call and the Dagster runs launched from
this process use the same store), MLflow's SQLAlchemy pool bounds, and ``NUMBA_CACHE_DIR`` where
the package folder is read-only. Dagster resources never start servers or touch the environment:
they receive resolved values from :func:`churn_platform.defs.resources.build_resources`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from churn_platform.settings import Settings, get_settings


@dataclass(frozen=True)
class Runtime:
    """Resolved locations; ``settings`` has ``database_url``/``mlflow_tracking_uri`` filled."""

    settings: Settings
    database_url: str
    tracking_uri: str
    mlflow_artifact_root: str | None
    artifact_root: str
    model_name: str
    db_schema: str
    dagster_pg_url: str | None
    embedded: bool


_BOOTSTRAPPED: dict[Settings, Runtime] = {}


def bootstrap(settings: Settings | None = None, *, export_env: bool = True) -> Runtime:
    """Resolve the runtime once per process (idempotent for the same settings).

    Starts the embedded PostgreSQL only when the database or the MLflow store is not
    configured. ``export_env`` writes ``MLFLOW_TRACKING_URI``, the MLflow pool bounds and the
    numba cache folder into ``os.environ`` (inherited by child processes).
    """
    s = settings or get_settings()
    cached = _BOOTSTRAPPED.get(s)
    if cached is not None:
        return cached
    embedded_base: str | None = None
    if s.needs_embedded_postgres:
        from churn_platform.io.embedded import start_embedded_postgres

        embedded_base = start_embedded_postgres(s.embedded_pg_dir)
    from churn_platform.io.embedded import database_url

    db_url = s.database_url or database_url(embedded_base or "", "churn")
    tracking = s.mlflow_tracking_uri or database_url(embedded_base or "", "mlflow")
    ml_artifacts = s.mlflow_artifact_root
    if ml_artifacts is None and s.mlflow_tracking_uri is None:
        ml_artifacts = str(s.local_artifact_dir / "mlflow")
    resolved = replace(
        s,
        database_url=db_url,
        mlflow_tracking_uri=tracking,
        mlflow_artifact_root=ml_artifacts,
        artifact_root=s.artifact_root or str(s.local_artifact_dir),
    )
    if export_env:
        export_library_env(resolved)
    rt = Runtime(
        settings=resolved,
        database_url=db_url,
        tracking_uri=tracking,
        mlflow_artifact_root=ml_artifacts,
        artifact_root=resolved.artifact_root or str(s.local_artifact_dir),
        model_name=s.model_name,
        db_schema=s.db_schema,
        dagster_pg_url=database_url(embedded_base, "dagster") if embedded_base else None,
        embedded=embedded_base is not None,
    )
    _BOOTSTRAPPED[s] = rt
    _BOOTSTRAPPED[resolved] = rt
    return rt


def resolve_runtime(settings: Settings | None = None) -> Runtime:
    """Alias of :func:`bootstrap`, kept for callers of the earlier name."""
    return bootstrap(settings)


def export_library_env(settings: Settings) -> None:
    """Set the variables third-party libraries read by themselves (existing values win for the
    pool bounds and the numba cache, so operators can override them)."""
    if settings.mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    # MLflow's tracking and registry stores each keep one SQLAlchemy engine per URI with
    # SQLAlchemy's default pool (5 + 10 overflow): bound both (issue 13).
    os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", str(settings.mlflow_pool_size))
    os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", str(settings.mlflow_max_overflow))
    cache_dir = numba_cache_dir(settings)
    if cache_dir is not None:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir))
    # boto3 clients the platform does not make itself (MLflow's S3 artifact repository) read the
    # retry budget from the environment: the same 2 attempts as ``io.artifacts`` (issue 19)
    os.environ.setdefault("AWS_MAX_ATTEMPTS", "2")  # io.artifacts.MAX_ATTEMPTS (tested equal)
    os.environ.setdefault("AWS_RETRY_MODE", "standard")


def numba_cache_dir(settings: Settings) -> Path | None:
    """Where numba's on-disk kernel cache goes, or None to keep numba's default.

    numba caches next to the module (``__pycache__``) when that folder is writable; in the
    Docker image (non-root user, read-only root filesystem) it is not, so the cache goes under
    the platform home, or the temp folder if that is read-only too.
    """
    if settings.numba_cache_dir:
        return Path(settings.numba_cache_dir)
    package = Path(__file__).resolve().parent / "domain"
    pycache = package / "__pycache__"
    if os.access(pycache if pycache.exists() else package, os.W_OK):
        return None
    for candidate in (settings.home / "numba_cache", Path(tempfile.gettempdir()) / "numba_cache"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate.resolve()
    return None


def export_runtime_env(rt: Runtime, home: Path) -> Path:
    """Point child processes (``dagster dev``'s code location, webserver, daemon and the runs
    they launch) at the same stores as this process; returns ``DAGSTER_HOME``."""
    import shutil

    os.environ["DATABASE_URL"] = rt.database_url
    os.environ["MLFLOW_TRACKING_URI"] = rt.tracking_uri
    if rt.mlflow_artifact_root:
        os.environ["CHURN_MLFLOW_ARTIFACT_ROOT"] = rt.mlflow_artifact_root
    os.environ["CHURN_ARTIFACT_ROOT"] = rt.artifact_root
    dagster_home = (home / "dagster_home").resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    repo_yaml = Path(__file__).resolve().parents[1] / "dagster.yaml"  # the repository root
    if repo_yaml.exists():
        shutil.copy(repo_yaml, dagster_home / "dagster.yaml")
    else:  # Dagster defaults (SQLite storage under DAGSTER_HOME), no telemetry banner
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home
