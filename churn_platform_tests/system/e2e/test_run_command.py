"""``churn-platform run`` end to end in its own process: a configured source exported from the
simulator, no production model -> trains and stops for approval; with --approver -> replays the
weeks through Dagster; every week's predictions count equals that week's active customers and
the matured cohort's delayed C-index is reported."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from churn_platform.entry.export import export_simulator

pytestmark = pytest.mark.slow  # two CLI processes through Dagster: minutes on 2 CPUs

CLI = [sys.executable, "-c", "from churn_platform.cli import app; app()"]


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False
    )


def test_run_replays_weeks_of_a_configured_source(
    pg_url: str, mlflow_tracking_uri: str, tmp_path: Path
) -> None:
    config = export_simulator(
        tmp_path / "data", n_customers=800, n_weeks=9, seed=4, baseline_hazard_per_year=2.0
    )
    schema = f"run_{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "MLFLOW_TRACKING_URI": mlflow_tracking_uri,
        "CHURN_DB_SCHEMA": schema,
        "CHURN_MODEL_NAME": f"m_{schema}",
        "CHURN_HOME": str(tmp_path / "home"),
    }
    env.pop("CHURN_START_WEEK", None)
    args = ["run", "--data-config", str(config), "--start", "2025-02-17", "--end", "2025-03-03"]
    first = run_cli(args, env, tmp_path)
    assert first.returncode == 2, first.stdout + first.stderr
    assert "awaits a human decision" in first.stderr.replace("\n", " ")

    second = run_cli([*args, "--approver", "tester", "--label-lag-weeks", "1"], env, tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "approved by tester" in second.stdout  # the waiting challenger, not a new model

    snapshots = pd.read_csv(tmp_path / "data" / "snapshots.csv")
    active = snapshots.groupby("snapshot_week").size()
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.text(
                    f'SELECT scoring_week::text, count(*) FROM "{schema}".predictions '
                    "GROUP BY scoring_week"
                )
            ).all()
        )
        c_index = (
            conn.execute(sa.text(f'SELECT c_index FROM "{schema}".model_evaluations'))
            .scalars()
            .all()
        )
    engine.dispose()
    assert counts == {w: int(active[w]) for w in ("2025-02-17", "2025-02-24", "2025-03-03")}
    assert len(c_index) == 2 and all(0.0 < c < 1.0 for c in c_index)
    assert "Delayed C-index per model version" in second.stdout
