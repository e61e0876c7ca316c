"""The real-time API in tests: a live uvicorn server in a thread, a fresh registry with a
promoted model, and JSON customer records."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import uvicorn
from fastapi import FastAPI

from churn_platform.app.training import train_and_register
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.io.db import ensure_schema, make_engine
from churn_platform.io.registry import ModelRegistry
from churn_platform.io.results import AliasHistory
from churn_platform.model.train import TrainConfig
from churn_platform.model.xgb_cox import plain_features

TEST_API_KEY = "serving-tests-api-key-0123456789"


AUTH = {"X-API-Key": TEST_API_KEY}


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


def customers(frame: pd.DataFrame, n: int, start: int = 0) -> list[dict[str, Any]]:
    """JSON-ready customer records (what a client sends) from contract-valid rows."""
    rows = plain_features(frame.iloc[start : start + n], DEFAULT_CONTRACT)
    records: list[dict[str, Any]] = json.loads(rows.to_json(orient="records"))
    for i, record in enumerate(records):
        record["customer_id"] = 1000 + start + i
    return records
