"""Two registered versions compared on the same held-out customers (real MLflow models)."""

from __future__ import annotations

import os
import uuid
from datetime import date

import pandas as pd
import pytest

from churn_platform.app.comparison import compare_versions_on_cohort
from churn_platform.app.training import train_and_register
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.io.db import ensure_schema, make_engine
from churn_platform.io.registry import ModelRegistry
from churn_platform.io.results import AliasHistory
from churn_platform.model.train import TrainConfig, holdout_mask
from churn_platform_tests.support.data import simulated


@pytest.fixture
def registry(pg_url: str, mlflow_tracking_uri: str) -> ModelRegistry:
    ensure_schema(make_engine(pg_url))
    return ModelRegistry(
        f"cmp_{uuid.uuid4().hex[:6]}",
        tracking_uri=mlflow_tracking_uri,
        artifact_location=os.environ["CHURN_MLFLOW_ARTIFACT_ROOT"],
        alias_history=AliasHistory(pg_url),
    )


@pytest.mark.slow
def test_a_model_that_learned_nothing_is_significantly_worse_on_the_same_customers(
    registry: ModelRegistry,
) -> None:
    frame = simulated(6_000, seed=21).drop(columns=["true_log_hazard"])
    config = TrainConfig(min_events=20, max_rounds=200)
    good = train_and_register(frame, DEFAULT_CONTRACT, registry, config=config, model_card=False)
    shuffled = frame.copy()
    perm = shuffled.sample(frac=1.0, random_state=0).index
    shuffled[["duration_days", "event"]] = frame.loc[perm, ["duration_days", "event"]].to_numpy()
    bad = train_and_register(shuffled, DEFAULT_CONTRACT, registry, config=config, model_card=False)

    def cohort(week: date, as_of: date) -> pd.DataFrame:
        return frame

    week = date(2025, 9, 1)
    cmp = compare_versions_on_cohort(
        registry, DEFAULT_CONTRACT, cohort, week, week, good.version, bad.version, resamples=200
    )
    held = int(holdout_mask(frame["customer_id"], 0.25, 0).sum())
    assert cmp.result.n == held  # only customers neither version trained on
    assert cmp.result.difference.high < 0  # significantly worse, interval says so
    assert cmp.result.a.estimate == pytest.approx(
        good.result.evaluations["xgboost_cox"].c_index, abs=1e-9
    )
    same = compare_versions_on_cohort(
        registry, DEFAULT_CONTRACT, cohort, week, week, good.version, good.version, resamples=50
    )
    assert same.result.difference.estimate == 0.0
    assert f"v{good.version}" in cmp.describe()
    # the gate of the bad model said why, with the paired interval
    assert not bad.gate.passed or any("95% CI" in r for r in bad.gate.reasons)
