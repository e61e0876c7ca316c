"""The optional `realtime` compose service (structure only; no Docker engine needed)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def test_realtime_compose_service_is_optional_local_and_probed() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = compose["services"]["realtime"]
    assert svc["profiles"] == ["realtime"]
    assert svc["image"] == compose["services"]["code-location"]["image"]
    assert svc["command"] == ["churn-platform", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert svc["ports"] == ["127.0.0.1:8000:8000"]
    assert svc["depends_on"]["mlflow"] == {"condition": "service_healthy"}
    assert svc["environment"]["CHURN_SERVICE_ROLE"] == "realtime"
    assert svc["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    probe = (ROOT / "deploy" / "docker" / "healthcheck.py").read_text()
    assert '"realtime": lambda: _http_ok("http://127.0.0.1:8000/healthz")' in probe
