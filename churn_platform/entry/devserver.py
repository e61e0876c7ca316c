"""``churn-platform dev``: the Dagster UI + daemon on the same stores as the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from churn_platform.errors import mask_url
from churn_platform.runtime import bootstrap, export_runtime_env
from churn_platform.settings import Settings


def run_dev(port: int = 3000) -> None:
    settings = Settings.from_env()
    rt = bootstrap(settings)  # the embedded PostgreSQL is started here, once, for every child
    export_runtime_env(rt, settings.home)
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-p", str(port)]
    print("MLflow UI: uv run mlflow ui --backend-store-uri", mask_url(rt.tracking_uri), flush=True)
    raise SystemExit(subprocess.call(cmd, env=os.environ.copy()))
