"""``churn-platform dev``: the Dagster UI + daemon on the same stores as the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from churn_platform.entry.demo import export_runtime_env
from churn_platform.runtime import resolve_runtime
from churn_platform.settings import get_settings


def run_dev(port: int = 3000) -> None:
    settings = get_settings()
    rt = resolve_runtime(settings)
    export_runtime_env(rt, settings.home)
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-p", str(port)]
    print("MLflow UI: uv run mlflow ui --backend-store-uri", rt.tracking_uri, flush=True)
    raise SystemExit(subprocess.call(cmd, env=os.environ.copy()))
