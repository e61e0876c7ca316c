"""Fixtures for the real-time endpoint: a trained + promoted model and a live uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from churn_platform.io.registry import ModelRegistry
from churn_platform.serving import create_app
from churn_platform_tests.support.data import simulated
from churn_platform_tests.support.serving import (
    TEST_API_KEY,
    LiveServer,
    live_server,
    new_registry,
    train_promote,
)

"""Header every authenticated test request carries."""


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulated(6_000, seed=31).drop(columns=["true_log_hazard"])


@pytest.fixture(scope="module")
def served_registry(pg_url: str, mlflow_tracking_uri: str, frame: pd.DataFrame) -> ModelRegistry:
    registry = new_registry(pg_url, mlflow_tracking_uri)
    train_promote(registry, frame)
    return registry


@pytest.fixture(scope="module")
def server(served_registry: ModelRegistry) -> Iterator[LiveServer]:
    with live_server(
        create_app(served_registry, api_key=TEST_API_KEY, refresh_seconds=30.0)
    ) as live:
        yield live
