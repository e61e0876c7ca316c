"""Fixtures for the real-time endpoint: a trained + promoted model and a live uvicorn server."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI

from churn_platform.app.training import train_and_register
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.io.db import ensure_schema, make_engine
from churn_platform.io.registry import ModelRegistry
from churn_platform.io.results import AliasHistory
from churn_platform.model.train import TrainConfig
from churn_platform.serving import create_app
from churn_platform_tests.unit.model.conftest import simulated

TEST_API_KEY = "serving-tests-api-key-0123456789"
AUTH = {"X-API-Key": TEST_API_KEY}
"""Header every authenticated test request carries."""


@dataclass(frozen=True)
class LiveServer:
    app: FastAPI
    url: str


@contextmanager
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """Run ``app`` under uvicorn on 127.0.0.1 (OS-chosen port) in a thread; stop it after."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield LiveServer(app, f"http://{host}:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def new_registry(pg_url: str, tracking_uri: str) -> ModelRegistry:
    ensure_schema(make_engine(pg_url))
    return ModelRegistry(
        f"churn_rt_{uuid.uuid4().hex[:6]}",
        tracking_uri=tracking_uri,
        artifact_location=os.environ["CHURN_MLFLOW_ARTIFACT_ROOT"],
        alias_history=AliasHistory(pg_url),
    )


def train_promote(registry: ModelRegistry, frame: pd.DataFrame, seed: int = 0) -> int:
    outcome = train_and_register(
        frame, DEFAULT_CONTRACT, registry, config=TrainConfig(min_events=20, seed=seed)
    )
    assert outcome.gate.passed, outcome.gate.reasons
    registry.promote(outcome.version, approver="test", reason="serving tests")
    return outcome.version


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
