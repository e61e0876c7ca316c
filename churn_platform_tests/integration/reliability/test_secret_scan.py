"""Secret scan over every output path with both URL credential forms.

``http://TOKEN@host`` (a token given as the URL's username) and ``scheme://user:PASSWORD@host``
are pushed through each way text leaves the platform: error messages (what the CLI, the logs and
Dagster events show), Python logs, the console of a real CLI process, MLflow run params and tags
of a real training run, notifications delivered to a local webhook, and the feature contract's
error for a value pasted with a credential in it. Neither secret may appear in any of them. A
2 MB value is cut wherever it could be copied (errors, notifications, MLflow tags).

``test_security.py`` runs the whole train → promote → score flow with a password in
``DATABASE_URL``/``MLFLOW_TRACKING_URI`` and a token in the webhook URL and scans the Dagster event
log; ``test_http_store_down.py`` scans a scoring run's event log with the token form;
``test_numeric_extremes.py`` checks a 2 MB cell value through the Dagster assets.
"""

from __future__ import annotations

import http.server
import io
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churn_platform.app.training import train_and_register
from churn_platform.domain.schema import DEFAULT_CONTRACT, ContractViolation
from churn_platform.entry.stack import free_port
from churn_platform.errors import (
    MAX_MESSAGE_CHARS,
    ArtifactError,
    ChurnPlatformError,
    DataContractError,
    NotificationError,
    StorageError,
    install_log_masking,
    mask_url,
)
from churn_platform.io.notify import Notification, SlackWebhookNotifier
from churn_platform.io.registry import ModelRegistry
from churn_platform.model.train import TrainConfig
from churn_platform_tests.support.data import simulated

TOKEN = "tkn-5e6f7a8b9c0d-SECRET"
PASSWORD = "pw-7a8b9c0d1e2f-SECRET"
FORMS = (
    f"http://{TOKEN}@mlflow.internal:5000",
    f"https://ops:{PASSWORD}@mlflow.internal:5000/api",
    f"postgresql+psycopg2://churn:{PASSWORD}@db.internal:5432/churn",
    f"http://{TOKEN}:x-oauth-basic@pushgateway:9091",
)
LEAK = "connect to " + " then ".join(FORMS) + " failed"
SECRETS = (TOKEN, PASSWORD)
CLI = str(Path(sys.executable).parent / "churn-platform")
BIG = "v" * 2_000_000


def assert_clean(where: str, text: str) -> None:
    assert text, f"nothing captured from {where}"
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked into {where}: {text[:500]}"


def test_error_messages_mask_both_forms_and_cut_long_values() -> None:
    for cls in (ChurnPlatformError, StorageError, DataContractError, ArtifactError):
        message = str(cls(LEAK))
        assert_clean(cls.__name__, message)
        assert "http://***@mlflow.internal" in message and "https://***@mlflow" in message
        assert len(str(cls(BIG))) <= MAX_MESSAGE_CHARS + 100
    assert mask_url(FORMS[0]) == "http://***@mlflow.internal:5000"


def test_contract_error_quotes_no_credential_and_no_whole_big_value() -> None:
    frame = simulated(50, seed=1).drop(columns=["true_log_hazard", "duration_days", "event"])
    frame["region"] = frame["region"].astype(object)
    frame.loc[3, "region"] = FORMS[1]
    frame.loc[4, "region"] = BIG
    with pytest.raises(ContractViolation) as info:
        DEFAULT_CONTRACT.validate(frame)
    message = str(info.value)
    assert_clean("contract violation", message)
    assert "'region'" in message and "rows 3, 4" in message and len(message) < 5_000


def test_python_logs_are_masked() -> None:
    logger = logging.getLogger(f"churn_platform.scan.{uuid.uuid4().hex[:6]}")
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    logger.propagate = False
    install_log_masking(logger)
    for form in FORMS:
        logger.warning("store %s unreachable", form)
    logger.error(LEAK)
    logger.error("big %s", BIG)
    text = stream.getvalue()
    assert_clean("python logs", text)
    assert len(text) < 10 * MAX_MESSAGE_CHARS


@pytest.mark.parametrize("form", ["token", "password"])
def test_cli_console_is_masked(pg_url: str, form: str) -> None:
    port = free_port()
    uri = (
        f"http://{TOKEN}@127.0.0.1:{port}"
        if form == "token"
        else f"http://ops:{PASSWORD}@127.0.0.1:{port}"
    )
    env = {**os.environ, "DATABASE_URL": pg_url, "MLFLOW_TRACKING_URI": uri, "NO_COLOR": "1"}
    for args in (
        ["promote", "--version", "1", "--approver", "ops"],
        ["rollback", "--approver", "ops", "--reason", "scan"],
    ):
        proc = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, out
        assert_clean(f"churn-platform {args[0]} console", out)
        assert f"127.0.0.1:{port}" in out


class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []  # noqa: RUF012 - shared by the handler instances of one test

    def do_POST(self) -> None:
        _Hook.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.bodies.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/hook"
    server.shutdown()


def test_notifications_are_masked_and_cut(webhook: str) -> None:
    notifier = SlackWebhookNotifier(webhook)
    notifier.send(
        Notification(
            title=f"store down: {FORMS[0]}",
            text=LEAK + BIG,
            fields={"tracking uri": FORMS[1], "database": FORMS[2]},
            link=FORMS[3],
        )
    )
    (body,) = _Hook.bodies
    assert_clean("slack message", body.decode())
    assert len(body) < 20_000
    with pytest.raises(NotificationError) as info:
        SlackWebhookNotifier(f"http://{TOKEN}@127.0.0.1:{free_port()}/hook").send(
            Notification(title="t", text="x")
        )
    assert_clean("notification error", str(info.value))


def test_mlflow_params_and_tags_are_masked(pg_url: str, mlflow_tracking_uri: str) -> None:
    from churn_platform.io.db import ensure_schema, make_engine
    from churn_platform.io.results import AliasHistory

    ensure_schema(make_engine(pg_url))
    registry = ModelRegistry(
        f"scan_{uuid.uuid4().hex[:6]}",
        tracking_uri=mlflow_tracking_uri,
        artifact_location=os.environ["CHURN_MLFLOW_ARTIFACT_ROOT"],
        alias_history=AliasHistory(pg_url),
    )
    frame: pd.DataFrame = simulated(2_500, seed=3).drop(columns=["true_log_hazard"])
    outcome = train_and_register(
        frame,
        DEFAULT_CONTRACT,
        registry,
        config=TrainConfig(min_events=20),
        changed_by=f"pipeline at {FORMS[0]}",
        tags={"churn.source": LEAK, "churn.big": BIG},
        training_window={"source_uri": FORMS[2]},
    )
    client = MlflowClient(tracking_uri=mlflow_tracking_uri)
    run = client.get_run(outcome.run_id)
    text = repr(run.data.params) + repr(run.data.tags)
    for mv in client.search_model_versions(f"name = '{registry.model_name}'"):
        text += repr(mv.tags) + str(mv.description)
    assert_clean("mlflow params/tags", text)
    assert "***@mlflow.internal" in run.data.tags["churn.source"]
    assert len(run.data.tags["churn.big"]) <= 5_100
