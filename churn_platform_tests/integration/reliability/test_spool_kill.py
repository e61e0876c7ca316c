"""kill -9 during scoring leaves its spool folder behind; the next scoring run removes it.

A real scoring process (``score_and_write`` into a real PostgreSQL predictions table) is killed
with SIGKILL while it is spooling the week's scored rows; its run folder (with the partial Arrow
spool) is still on disk. The next run in the same spool root scores the week and reclaims the
leftover; a folder of a live process is left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from churn_platform.app.scoring import Lineage, now_utc, score_and_write
from churn_platform.app.spool import SPOOL_ENV, reclaim_leftovers
from churn_platform.io.predictions import PredictionsRepository

WEEK = date(2025, 3, 3)

CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import date
    import numpy as np, pandas as pd
    from churn_platform.app.scoring import Lineage, now_utc, score_and_write
    from churn_platform.io.predictions import PredictionsRepository

    pg_url, schema = sys.argv[1], sys.argv[2]

    def predict(frame, k):
        n = len(frame)
        out = {"risk_score": np.linspace(0.5, 2.0, n)}
        for h in (30, 90, 180):
            out[f"churn_prob_{h}d"] = np.full(n, 0.1)
        out["top_drivers"] = ["[]"] * n
        return pd.DataFrame(out)

    def chunks():
        for i in range(1000):
            if i == 5:
                print("SPOOLING", flush=True)
                time.sleep(600)  # killed here, mid-write
            yield pd.DataFrame({"customer_id": np.arange(i * 2000, (i + 1) * 2000), "x": 1.0})

    lineage = Lineage("spool_kill", 1, "run", "production", "snap", "dagster", "test", now_utc())
    repo = PredictionsRepository(pg_url, schema)
    score_and_write(chunks(), predict, repo, id_column="customer_id", feature_columns=["x"],
                    scoring_week=date(2025, 3, 3), lineage=lineage)
    """
)


def _predict(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    n = len(frame)
    out: dict[str, object] = {"risk_score": np.linspace(0.5, 2.0, n)}
    for h in (30, 90, 180):
        out[f"churn_prob_{h}d"] = np.full(n, 0.1)
    out["top_drivers"] = ["[]"] * n
    return pd.DataFrame(out)


def test_sigkill_mid_spool_leftover_is_removed_by_the_next_run(pg_url: str, tmp_path: Path) -> None:
    root = tmp_path / "spool"
    schema = f"spool_{uuid.uuid4().hex[:6]}"
    PredictionsRepository(pg_url, schema)  # tables exist before the child starts
    env = {**os.environ, SPOOL_ENV: str(root)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, pg_url, schema],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "SPOOLING", line
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    (leftover,) = list(root.iterdir())
    spooled = sum(f.stat().st_size for f in leftover.iterdir())
    assert spooled > 0, "the killed run had spooled rows"

    # a folder of a live process (this one) is not touched
    live = root / f"run-{os.getpid()}-live"
    live.mkdir()

    os.environ[SPOOL_ENV] = str(root)
    try:
        lineage = Lineage(
            "spool_kill", 1, "run", "production", "snap", "dagster", "test", now_utc()
        )
        frame = pd.DataFrame({"customer_id": np.arange(500), "x": 1.0})
        result = score_and_write(
            [frame],
            _predict,
            PredictionsRepository(pg_url, schema),
            id_column="customer_id",
            feature_columns=["x"],
            scoring_week=WEEK,
            lineage=lineage,
        )
    finally:
        del os.environ[SPOOL_ENV]
    assert result.rows_written == 500
    assert not leftover.exists(), "the killed run's spool folder was not reclaimed"
    assert live.exists()
    assert [p.name for p in root.iterdir()] == [live.name]  # the run removed its own folder
    assert reclaim_leftovers(root) == []
    print(f"killed run left {spooled} bytes in {leftover.name}; reclaimed by the next run")
