"""The weekly use cases of ``churn_platform.app`` called directly: no Dagster run needed.

Real PostgreSQL (predictions, evaluations, insight tables), a real MLflow store (metrics
logged to the run of the model that scored) and a local artifact store; the predictions are
small synthetic frames shaped like the predictions table (support/history.py).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_platform.app import insights, monitoring
from churn_platform.domain.revenue import revenue_column
from churn_platform.io.artifacts import ArtifactStore
from churn_platform.io.insights_store import InsightsStore
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.registry import ModelRegistry
from churn_platform.io.results import EvaluationStore
from churn_platform_tests.support import history

HORIZONS = (30, 90, 180)
WEEK = history.WEEKS[0]
N = 400


@pytest.fixture
def schema() -> str:
    return f"uc_{uuid.uuid4().hex[:6]}"


@pytest.fixture
def predictions(pg_url: str, schema: str) -> PredictionsRepository:
    return PredictionsRepository(pg_url, schema, HORIZONS)


@pytest.fixture
def registry(mlflow_tracking_uri: str) -> ModelRegistry:
    return ModelRegistry(f"uc_{uuid.uuid4().hex[:6]}", tracking_uri=mlflow_tracking_uri)


def _write(
    repo: PredictionsRepository, registry: ModelRegistry, week: object, seed: int = 0
) -> str:
    """One scored week whose lineage points at a real MLflow run; returns the run id."""
    run_id = registry.client.create_run(registry.experiment_id()).info.run_id
    frame = history.predictions(week, registry.model_name, N, HORIZONS, seed=seed)  # type: ignore[arg-type]
    frame["model_run_id"] = run_id
    repo.replace_week(week, registry.model_name, frame)  # type: ignore[arg-type]
    return str(run_id)


def test_retention_list_ranks_by_revenue_at_risk_stores_and_exports(
    predictions: PredictionsRepository,
    registry: ModelRegistry,
    pg_url: str,
    schema: str,
    tmp_path: Path,
) -> None:
    _write(predictions, registry, WEEK)
    rng = np.random.default_rng(1)
    features = pd.DataFrame(
        {"customer_id": np.arange(1, N + 1), "monthly_charges": rng.uniform(10, 120, N)}
    )
    store = InsightsStore(pg_url, schema)
    artifacts = ArtifactStore.from_uri(str(tmp_path))
    kwargs = dict(
        predictions=predictions,
        store=store,
        artifacts=artifacts,
        value_column="monthly_charges",
        horizons=HORIZONS,
        top_n=25,
    )
    result = insights.retention_list(WEEK, features, **kwargs)  # type: ignore[arg-type]
    assert not result.skipped and result.model_version == history.version_for(WEEK)
    h = result.rank_horizon_days
    assert h in HORIZONS
    revenue = result.top[revenue_column(h)].to_numpy()  # type: ignore[arg-type]
    assert len(revenue) == 25 and (np.diff(revenue) <= 0).all()
    # the listed customers are the 25 with the most revenue at risk of the whole base
    preds = predictions.read_columns(WEEK, ["customer_id", f"churn_prob_{h}d"])
    joined = preds.merge(features, on="customer_id")
    assert result.revenue_at_risk_listed <= float(
        (joined[f"churn_prob_{h}d"] * joined["monthly_charges"]).sum()
    )
    stored = store.read_retention(WEEK, registry.model_name)
    assert list(stored["customer_id"]) == list(result.top["customer_id"])
    csv = artifacts.get_bytes(f"retention/{WEEK}.csv").decode()
    rerun = insights.retention_list(WEEK, features, **kwargs)  # type: ignore[arg-type]
    assert artifacts.get_bytes(f"retention/{WEEK}.csv").decode() == csv
    assert list(rerun.top["customer_id"]) == list(result.top["customer_id"])
    skipped = insights.retention_list(
        WEEK,
        features.drop(columns=["monthly_charges"]),
        **kwargs,  # type: ignore[arg-type]
    )
    assert "monthly_charges" in skipped.skipped and skipped.top.empty


def test_delayed_evaluation_stores_rows_and_logs_to_the_scoring_run(
    predictions: PredictionsRepository, registry: ModelRegistry, pg_url: str, schema: str
) -> None:
    lag = 2
    week = WEEK + timedelta(weeks=lag)
    evaluations = EvaluationStore(pg_url, schema)
    kwargs = dict(
        predictions=predictions,
        evaluations=evaluations,
        registry=registry,
        horizons=HORIZONS,
        label_lag_weeks=lag,
        start=WEEK,
    )
    nothing = monitoring.delayed_evaluation_week(week, pd.DataFrame(), **kwargs)  # type: ignore[arg-type]
    assert "no scored cohort" in nothing.skipped and not nothing.rows
    run_id = _write(predictions, registry, WEEK)
    scored = predictions.read_columns(WEEK, ["customer_id", "risk_score"])
    # labels that follow the risk score: high risk churns sooner, so the C-index is high
    rng = np.random.default_rng(3)
    duration = rng.exponential(200.0 / scored["risk_score"].to_numpy())
    labels = pd.DataFrame(
        {
            "customer_id": scored["customer_id"],
            "duration_days": np.minimum(duration, 180.0),
            "event": (duration < 180.0).astype(int),
        }
    )
    silent = monitoring.delayed_evaluation_week(week, labels.assign(event=0), **kwargs)  # type: ignore[arg-type]
    assert "no churn reported yet" in silent.skipped
    result = monitoring.delayed_evaluation_week(week, labels, **kwargs)  # type: ignore[arg-type]
    assert result.cohort == WEEK and len(result.rows) == 1
    row = result.rows[0]
    assert row["mlflow_run_id"] == run_id and row["n"] == N
    assert 0.6 < result.worst_c_index <= 1.0
    stored = evaluations.read(registry.model_name)
    assert stored["c_index"].tolist() == pytest.approx([result.worst_c_index])
    logged = registry.run_metrics(run_id)
    assert logged["delayed.c_index"] == pytest.approx(result.worst_c_index)
    assert logged["delayed.n"] == N
