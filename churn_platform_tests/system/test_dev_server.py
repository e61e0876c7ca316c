"""``make dev`` / ``churn-platform dev``: the Dagster UI the README's tour opens.

A real ``dagster dev`` (webserver + daemon) started by the CLI on a free port, against the test
session's PostgreSQL and MLflow store: it must answer, and its GraphQL API must show the
``churn_platform`` code location loaded with the weekly jobs, the schedule and the sensor.
(The command once pointed at a workspace file that a refactor had moved: nothing tested it.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from churn_platform.entry.devserver import WORKSPACE
from churn_platform.entry.stack import free_port

pytestmark = pytest.mark.slow  # dagster dev loads the code location: a minute on 2 CPUs

REPO = Path(__file__).resolve().parents[2]
QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on RepositoryLocation { repositories {
      jobs { name } schedules { name } sensors { name } } }
      ... on PythonError { message } } } } } }
"""


def _graphql(base: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        return dict(json.loads(resp.read()))


def _location(base: str, proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The churn_platform location once the webserver answers and has loaded it."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            pytest.fail(f"churn-platform dev exited with {proc.returncode}:\n{out[-3000:]}")
        try:
            entries = _graphql(base, QUERY)["data"]["workspaceOrError"]["locationEntries"]
            last = entries
            loc = next(e for e in entries if e["name"] == "churn_platform")
            if loc["locationOrLoadError"] is not None:
                return dict(loc["locationOrLoadError"])
        except (OSError, KeyError, StopIteration, TypeError):
            pass
        time.sleep(2)
    pytest.fail(f"no churn_platform location within {timeout:.0f} s: {last}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole group (webserver, daemon, code server), SIGKILL after 60 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    except ProcessLookupError:
        pass  # already gone
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_dev_serves_the_churn_platform_location(
    pg_url: str, mlflow_tracking_uri: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "MLFLOW_TRACKING_URI": mlflow_tracking_uri,
        "CHURN_HOME": str(tmp_path / "home"),
        "CHURN_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    cli = [sys.executable, "-c", "from churn_platform.cli import main; main()"]
    proc = subprocess.Popen(
        [*cli, "dev", "--port", str(port)],
        cwd=tmp_path,  # not the repository: the installed package must find its workspace
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        loc = _location(f"http://127.0.0.1:{port}", proc, timeout=600)
    finally:
        _stop(proc)
    assert loc["__typename"] == "RepositoryLocation", loc
    repo = loc["repositories"][0]
    jobs = {j["name"] for j in repo["jobs"]}
    assert {"weekly_scoring_job", "training_job"} <= jobs, jobs
    assert "retraining_sensor" in {s["name"] for s in repo["sensors"]}
    assert repo["schedules"], repo


def test_the_dev_workspace_is_the_repositorys() -> None:
    # `dagster definitions validate -w workspace.yaml` (make test) checks the repository's file;
    # `churn-platform dev` writes the same location, so what is validated is what runs.
    import yaml

    ours = yaml.safe_load(WORKSPACE)
    assert ours == yaml.safe_load((REPO / "workspace.yaml").read_text(encoding="utf-8"))
