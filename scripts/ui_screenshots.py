"""Screenshots of the Dagster UI after a demo, for the README's UI tour (docs/img/ui-*.png).

    uv run churn-platform demo                # fills .churn_platform (runs, ticks, tables)
    uv run python scripts/ui_screenshots.py   # starts `churn-platform dev`, shoots, stops it

Needs a headless Chromium (Debian: ``apt-get install -y chromium``). Each page is rendered with
a virtual-time budget so the JavaScript app has loaded its data before the shot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _wait(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f}s")


def _shoot(browser: str, url: str, out: Path, budget_ms: int) -> None:
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={out}",
            "--window-size=1600,1000",
            f"--virtual-time-budget={budget_ms}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    print(f"{out}  <- {url}")


def _sensor_run_id() -> str:
    from dagster import DagsterInstance, RunsFilter

    with DagsterInstance.get() as instance:
        runs = instance.get_runs(
            filters=RunsFilter(
                job_name="training_job", tags={"dagster/sensor_name": "retraining_sensor"}
            ),
            limit=1,
        )
    if not runs:
        raise SystemExit("no training_job run launched by retraining_sensor: run the demo first")
    return runs[0].run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--budget-ms", type=int, default=20000)
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium on PATH (Debian: apt-get install -y chromium)")
    home = Path(os.environ.get("CHURN_HOME", ROOT / ".churn_platform")).resolve()
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    args.out.mkdir(parents=True, exist_ok=True)
    dev = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from churn_platform.cli import main; main()",
            "dev",
            "--port",
            str(args.port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        _wait(f"{base}/server_info", 900)
        # the one-time "Join the Dagster community" dialog would cover every shot on 127.0.0.1
        request = urllib.request.Request(
            f"{base}/graphql",
            data=b'{"query": "mutation { setNuxSeen }"}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30):
            pass
        run_id = _sensor_run_id()
        pages = {
            "ui-asset-graph.png": f"{base}/asset-groups",
            "ui-churn-scores.png": f"{base}/assets/churn_scores?view=events",
            "ui-retraining-sensor.png": f"{base}/locations/churn_platform/sensors/"
            "retraining_sensor",
            "ui-run.png": f"{base}/runs/{run_id}",
            "ui-calibration-check.png": f"{base}/assets/delayed_evaluation?view=checks"
            "&checkDetail=calibration_ici_below_threshold",
        }
        for name, url in pages.items():
            _shoot(browser, url, args.out / name, args.budget_ms)
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()


if __name__ == "__main__":
    main()
