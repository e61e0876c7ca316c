"""Materialize the weekly assets through Dagster against real PostgreSQL and MLflow."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

import pandas as pd
import pytest
from dagster import DagsterInstance

from churn_platform.defs.resources import WarehouseResource
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.registry import CHALLENGER, PRODUCTION
from churn_platform_tests.support.dagster import WEEK, query, score, train


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_scoring_without_production_model_fails_with_promotion_hint(
    resources: dict[str, Any], instance: DagsterInstance
) -> None:
    result = score(resources, instance)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    text = str(failure.step_failure_data.error)
    assert "@production" in text and "churn-platform promote" in text


def test_weekly_scoring_writes_lineage_and_is_idempotent(
    resources: dict[str, Any], instance: DagsterInstance, pg_url: str
) -> None:
    version = train(resources, instance)
    registry = resources["mlflow_resource"].registry(resources["warehouse"])
    assert int(registry.version_for_alias(CHALLENGER).version) == version
    registry.promote(version, approver="tester", reason="test")

    first = score(resources, instance)
    assert first.success
    schema = resources["warehouse"].db_schema
    rows = query(
        pg_url,
        f"SELECT model_name, model_version, model_run_id, model_alias, feature_snapshot_id, "
        f"dagster_run_id, code_version, count(*), count(distinct customer_id), "
        f"min(risk_rank), max(risk_rank), min(risk_decile), max(risk_decile), "
        f"bool_and(churn_prob_30d <= churn_prob_90d AND churn_prob_90d <= churn_prob_180d), "
        f"bool_and(scored_at IS NOT NULL) "
        f"FROM {schema}.predictions WHERE scoring_week = :w GROUP BY 1,2,3,4,5,6,7",
        w=date.fromisoformat(WEEK),
    )
    assert len(rows) == 1
    (name, v, run_id, alias, snap, dag_run, code, n, n_ids, rmin, rmax, dmin, dmax, mono, ts) = (
        rows[0]
    )
    loaded = registry.load(PRODUCTION)
    assert (name, v, run_id, alias) == (loaded.name, loaded.version, loaded.run_id, PRODUCTION)
    mat = first.asset_materializations_for_node("churn_scores")[0].metadata
    assert snap == mat["feature_snapshot_id"].value
    assert dag_run == first.run_id
    assert code.startswith("0.1.0")
    features = first.asset_materializations_for_node("customer_features")[0].metadata
    assert n == n_ids == features["rows"].value > 1000
    assert (rmin, rmax, dmin, dmax) == (1, n, 1, 10)
    assert mono and ts

    repo = PredictionsRepository(pg_url, schema)
    checksum = repo.checksum_week(date.fromisoformat(WEEK), name)
    second = score(resources, instance)
    assert second.success
    assert repo.count_week(date.fromisoformat(WEEK), name) == n
    assert repo.checksum_week(date.fromisoformat(WEEK), name) == checksum


class _FailingMidWrite(WarehouseResource):
    """Real repository; the row stream breaks after the first batch (a crash mid-write)."""

    def predictions(self) -> PredictionsRepository:
        repo = super().predictions()
        original = repo.replace_week

        def replace_week(week: date, model: str, batches: Iterable[pd.DataFrame], **kw: Any) -> int:
            def broken() -> Iterator[pd.DataFrame]:
                for i, batch in enumerate(batches):
                    if i == 1:
                        raise RuntimeError("simulated crash in the middle of the write")
                    yield batch

            return original(week, model, broken(), **kw)

        repo.replace_week = replace_week  # type: ignore[method-assign]
        return repo


def test_crash_mid_write_keeps_previous_rows(
    resources: dict[str, Any], instance: DagsterInstance, pg_url: str
) -> None:
    version = train(resources, instance)
    resources["mlflow_resource"].registry(resources["warehouse"]).promote(
        version, approver="tester", reason="test"
    )
    assert score(resources, instance).success
    schema = resources["warehouse"].db_schema
    repo = PredictionsRepository(pg_url, schema)
    model_name = resources["mlflow_resource"].model_name
    week = date.fromisoformat(WEEK)
    before = (repo.count_week(week, model_name), repo.checksum_week(week, model_name))

    broken = dict(resources)
    broken["warehouse"] = _FailingMidWrite(database_url=pg_url, db_schema=schema)
    result = score(broken, instance, chunk_rows=500)  # several batches: crash lands mid-stream
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "simulated crash" in str(failure.step_failure_data.error)
    assert (repo.count_week(week, model_name), repo.checksum_week(week, model_name)) == before
