"""Nobody in without credentials in the local stack (docker-compose.yml): the MLflow server runs
its basic-auth app with the admin from a secret, every published port is bound to 127.0.0.1
(the Dagster webserver included), and the real-time endpoint gets its API key from a secret.

Compose itself is validated offline by scripts/validate_deploy.sh (docker-compose config,
compose-spec schema, checkov); the endpoint's 401/415 behaviour is tested over real HTTP in
serving/test_app.py.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_mlflow_server_runs_basic_auth_with_admin_from_a_secret() -> None:
    mlflow = _compose()["services"]["mlflow"]
    assert "--app-name=basic-auth" in mlflow["command"]
    env = mlflow["environment"]
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == "/etc/mlflow/basic_auth.ini"
    assert re.fullmatch(r"\$\{MLFLOW_ADMIN_PASSWORD:\?[^}]+\}", env["MLFLOW_AUTH_ADMIN_PASSWORD"])
    assert re.fullmatch(
        r"\$\{MLFLOW_FLASK_SECRET_KEY:\?[^}]+\}", env["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    )
    ini = configparser.ConfigParser()
    ini.read(ROOT / "deploy" / "mlflow" / "basic_auth.ini")
    assert ini["mlflow"]["default_permission"] == "NO_PERMISSIONS"
    assert "admin_password" not in ini["mlflow"]  # from the secret, never from the file
    mounted = [v.split(":")[0] for v in mlflow["volumes"]]
    assert "./deploy/mlflow/basic_auth.ini" in mounted


def test_clients_authenticate_to_mlflow_and_the_uri_carries_no_credential() -> None:
    services = _compose()["services"]
    for name in ("code-location", "webserver", "daemon", "realtime"):
        service = services.get(name)
        if service is None:
            continue
        env = service["environment"]
        assert "@" not in env["MLFLOW_TRACKING_URI"], name
        assert env["MLFLOW_TRACKING_PASSWORD"].startswith("${MLFLOW_ADMIN_PASSWORD:?"), name


def test_every_published_port_is_bound_to_localhost() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


def test_realtime_endpoint_key_comes_from_a_secret() -> None:
    realtime = _compose()["services"]["realtime"]
    assert realtime["environment"]["CHURN_API_KEY"].startswith("${CHURN_API_KEY:?")
