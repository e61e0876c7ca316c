"""A monitoring snapshot built from the small simulated history, and the docs figure
(docs/img/c_index_per_version.png) drawn from it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from churn_platform.app.observability import (
    MonitoringSnapshot,
    ScoringJobStatus,
)
from churn_platform.viz.plots import line_png
from churn_platform_tests.support import history

HORIZONS = (30, 90, 180)


def snapshot(**overrides: object) -> MonitoringSnapshot:
    drift = pd.concat(
        [
            frame.assign(week=week, kind=kind, model_name="m")
            for week in history.WEEKS
            for kind, frame in (
                ("feature", history.feature_drift(week)),
                ("score", history.score_drift(week)),
            )
        ],
        ignore_index=True,
    )
    last = history.WEEKS[-1]
    preds = history.predictions(last, "m", 200, HORIZONS)
    parts: dict[str, object] = {
        "evaluations": history.evaluations("m"),
        "drift": drift,
        "volume": pd.DataFrame(
            [{"scoring_week": last, "model_name": "m", "model_version": 2, "n": 200}]
        ),
        "scores": preds[["model_name", "model_version", "risk_score", "scored_at"]],
        "aliases": pd.DataFrame(
            [
                {
                    "id": 1,
                    "model_name": "m",
                    "alias": "production",
                    "version": 1,
                    "changed_at": datetime(2025, 7, 1, tzinfo=UTC),
                },
                {
                    "id": 2,
                    "model_name": "m",
                    "alias": "challenger",
                    "version": 2,
                    "changed_at": datetime(2025, 7, 25, tzinfo=UTC),
                },
                {
                    "id": 3,
                    "model_name": "m",
                    "alias": "production",
                    "version": 2,
                    "changed_at": datetime(2025, 7, 26, tzinfo=UTC),
                },
            ]
        ),
        "scoring_job": ScoringJobStatus("FAILURE", 1_700_000_900.0, 1_700_000_000.0, 42.0, 7.5),
        "thresholds": {"c_index": 0.75, "alpha": 0.01, "min_ks": 0.1, "min_psi": 0.2},
        "exported_at": datetime(2025, 8, 12, 7, tzinfo=UTC),
    }
    parts.update(overrides)
    return MonitoringSnapshot(**parts)  # type: ignore[arg-type]


OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "img" / "c_index_per_version.png"


def render(threshold: float = 0.75) -> bytes:
    """The C-index trend, one line per model version, with the alert threshold."""
    frame = history.evaluations("churn_model")
    series = {
        f"churn_model v{version}": (list(g["scoring_week"]), list(g["c_index"]))
        for version, g in frame.groupby("model_version")
    }
    return line_png(
        series,
        "Delayed C-index per model version, by scoring week",
        "C-index",
        threshold=threshold,
    )
