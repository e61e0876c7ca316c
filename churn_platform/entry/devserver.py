"""``churn-platform dev``: the Dagster UI + daemon on the same stores as the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from churn_platform.errors import mask_url
from churn_platform.runtime import bootstrap, export_runtime_env
from churn_platform.settings import Settings

#: The code location ``dagster dev`` loads: the package's definitions, named ``churn_platform``
#: (the same as the repository's workspace.yaml; written next to the Dagster home so that an
#: installed package, without the repository, runs it too).
WORKSPACE = """\
load_from:
  - python_module:
      module_name: churn_platform.defs.definitions
      attribute: defs
      location_name: churn_platform
"""


def dev_command(dagster_home: Path, port: int) -> list[str]:
    """``dagster dev`` on the churn_platform code location, its workspace file written into
    ``dagster_home``."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    workspace = dagster_home / "workspace.yaml"
    workspace.write_text(WORKSPACE, encoding="utf-8")
    return [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-p", str(port)]


def run_dev(port: int = 3000) -> None:
    settings = Settings.from_env()
    rt = bootstrap(settings)  # the embedded PostgreSQL is started here, once, for every child
    dagster_home = export_runtime_env(rt, settings.home)
    cmd = dev_command(Path(dagster_home), port)
    print("MLflow UI: uv run mlflow ui --backend-store-uri", mask_url(rt.tracking_uri), flush=True)
    raise SystemExit(subprocess.call(cmd, env=os.environ.copy()))
