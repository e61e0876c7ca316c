"""Weekly calibration and horizon discipline in the delayed evaluation (real PostgreSQL and
MLflow): only matured horizons are stored and logged, calibration rows land in
``calibration_results`` and on the scoring run, and the WARN check tells calibrated from
miscalibrated predictions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from churn_platform.app import monitoring
from churn_platform.defs.monitoring.assets import CALIBRATION_CHECK, calibration_check
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.registry import ModelRegistry
from churn_platform.io.results import EvaluationStore
from churn_platform_tests.support import history

HORIZONS = (30, 90, 180)
WEEK = history.WEEKS[0]
N = 3000
WINDOW = 63.0  # 13-week lag minus a 4-week label delay


def _labels(scored: pd.DataFrame, hazard_factor: float, seed: int) -> pd.DataFrame:
    """Churn at the hazard the predictions assume (``risk/1000`` per day) times a factor,
    observed for WINDOW days."""
    rng = np.random.default_rng(seed)
    rate = hazard_factor * scored["risk_score"].to_numpy() / 1000.0
    churn = rng.exponential(1.0 / rate)
    return pd.DataFrame(
        {
            "customer_id": scored["customer_id"],
            "duration_days": np.minimum(churn, WINDOW),
            "event": (churn < WINDOW).astype(int),
        }
    )


@pytest.mark.parametrize(("factor", "warns"), [(1.0, False), (2.5, True)])
def test_delayed_evaluation_calibrates_matured_horizons_only(
    pg_url: str, mlflow_tracking_uri: str, factor: float, warns: bool
) -> None:
    schema = f"cal_{uuid.uuid4().hex[:6]}"
    predictions = PredictionsRepository(pg_url, schema, HORIZONS)
    registry = ModelRegistry(f"cal_{uuid.uuid4().hex[:6]}", tracking_uri=mlflow_tracking_uri)
    evaluations = EvaluationStore(pg_url, schema)
    run_id = registry.client.create_run(registry.experiment_id()).info.run_id
    frame = history.predictions(WEEK, registry.model_name, N, HORIZONS)
    frame["model_run_id"] = run_id
    predictions.replace_week(WEEK, registry.model_name, frame)
    scored = predictions.read_columns(WEEK, ["customer_id", "risk_score"])
    result = monitoring.delayed_evaluation_week(
        WEEK + timedelta(weeks=13),
        _labels(scored, factor, seed=1),
        predictions=predictions,
        evaluations=evaluations,
        registry=registry,
        horizons=HORIZONS,
        label_lag_weeks=13,
        start=WEEK,
    )
    # horizons: only 30 days matured inside the 63-day window
    assert [r["horizon_days"] for r in result.calibration] == [30]
    assert result.rows[0]["brier"].keys() == {30}
    stored = evaluations.read(registry.model_name).iloc[0]
    assert set(stored["brier"]) == {"30"} and stored["ibs"] is None
    cal = evaluations.read_calibration(registry.model_name)
    assert cal["horizon_days"].tolist() == [30] and len(cal.iloc[0]["deciles"]) == 10
    logged = registry.run_metrics(run_id)
    assert "delayed.brier_30d" in logged and "calibration.ici_30d" in logged
    assert not any(k.endswith(("_90d", "_180d")) or k == "delayed.ibs" for k in logged)
    assert logged["calibration.ici_30d"] == pytest.approx(float(cal.iloc[0]["ici"]))
    check = calibration_check(result, ici_threshold=0.01)
    assert check.check_name == CALIBRATION_CHECK
    assert check.passed is (not warns), check.metadata
