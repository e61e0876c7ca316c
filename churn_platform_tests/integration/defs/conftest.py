"""Dagster resources wired to the session's real PostgreSQL and MLflow store."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from churn_platform_tests.support.dagster import make_resources


@pytest.fixture
def resources(pg_url: str, mlflow_tracking_uri: str, tmp_path: Path) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    return make_resources(
        pg_url, mlflow_tracking_uri, tmp_path, schema=f"churn_{tag}", model_name=f"m_{tag}"
    )
