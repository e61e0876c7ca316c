"""Idempotency and determinism: re-running any asset for any week gives identical rows
(checksums that leave out only ``scored_at``/``dagster_run_id``/``computed_at``), a 10-week
backfill run twice gives the same table, and training on the same data with the same seed
gives the same model metrics."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import numpy as np
from dagster import materialize

from churn_platform.defs.monitoring.assets import feature_drift, score_drift
from churn_platform.defs.resources import MonitoringResource
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.io.registry import PRODUCTION
from churn_platform.model.train import TrainConfig, train_models
from churn_platform_tests.support.dagster import query
from churn_platform_tests.support.data import simulated
from churn_platform_tests.support.reliability import (
    ALL_ASSETS,
    TRAIN,
    TRAIN_CONFIG,
    WEEK,
    Env,
    run_assets,
)

SCORE = ["customer_features", "churn_scores"]
BACKFILL = [date(2025, 7, 14) + timedelta(weeks=i) for i in range(10)]


def _table_checksum(env: Env, table: str, exclude: tuple[str, ...], order: str) -> tuple[int, str]:
    columns = [
        r[0]
        for r in query(
            env.pg_url,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position",
            s=env.schema,
            t=table,
        )
        if r[0] not in exclude
    ]
    cols = ", ".join(f'"{c}"' for c in columns)
    rows = query(
        env.pg_url,
        f"SELECT count(*), md5(string_agg(row({cols})::text, E'\\n' ORDER BY {order})) "
        f'FROM "{env.schema}"."{table}"',
    )
    return int(rows[0][0]), str(rows[0][1])


def _backfill(env: Env) -> dict[str, Any]:
    repo = env.repo()
    snapshots, weeks = {}, {}
    for week in BACKFILL:
        result = run_assets(env, SCORE, partition_key=week.isoformat())
        meta = result.asset_materializations_for_node("customer_features")[0].metadata
        snapshots[week] = meta["snapshot_id"].value
        weeks[week] = (
            repo.count_week(week, env.model_name),
            repo.checksum_week(week, env.model_name),
        )
    repo.dispose()
    table = _table_checksum(
        env, "predictions", ("scored_at", "dagster_run_id"), "scoring_week, model_name, customer_id"
    )
    return {"snapshots": snapshots, "weeks": weeks, "table": table}


def test_backfill_of_ten_weeks_twice_gives_the_same_table(env: Env) -> None:
    first = _backfill(env)
    second = _backfill(env)
    assert first == second
    assert len(set(first["snapshots"].values())) == len(BACKFILL)  # weeks really differ
    assert all(n > 1000 for n, _ in first["weeks"].values())


def test_rerunning_the_drift_assets_of_a_week_gives_identical_rows(env: Env) -> None:
    def run() -> tuple[int, str]:
        result = materialize(
            [*ALL_ASSETS, feature_drift, score_drift],
            selection=["feature_drift", "score_drift"],
            partition_key=WEEK,
            resources={**env.resources, "monitoring": MonitoringResource(report_sample_rows=300)},
            instance=env.instance,
        )
        assert result.success
        return _table_checksum(
            env, "drift_results", ("computed_at",), "week, kind, column_name, model_name"
        )

    first = run()
    assert first[0] > len(DEFAULT_CONTRACT.features)  # every feature + the score
    assert run() == first


def test_training_twice_with_the_same_seed_and_data_gives_the_same_model() -> None:
    frame = simulated(3_000, seed=11)
    config = TrainConfig(seed=3)
    a = train_models(frame, DEFAULT_CONTRACT, config)
    b = train_models(frame, DEFAULT_CONTRACT, config)
    assert a.model.best_iteration == b.model.best_iteration
    np.testing.assert_equal(
        {k: asdict(v) for k, v in a.evaluations.items()},
        {k: asdict(v) for k, v in b.evaluations.items()},
    )
    assert bytes(a.model.booster.save_raw()) == bytes(b.model.booster.save_raw())
    sample = frame.head(200)
    np.testing.assert_array_equal(
        a.model.predict_frame(sample).to_numpy(), b.model.predict_frame(sample).to_numpy()
    )


def test_retraining_through_dagster_logs_the_same_holdout_metrics(env: Env) -> None:
    registry = env.resources["mlflow_resource"].registry()
    original = registry.run_metrics(registry.load(PRODUCTION).run_id)
    result = run_assets(env, TRAIN, partition_key=None, run_config=TRAIN_CONFIG)
    run_id = result.asset_materializations_for_node("churn_model")[0].metadata["mlflow_run_id"]
    again = registry.run_metrics(run_id.value)
    holdout = {k: v for k, v in original.items() if k.startswith("holdout.")}
    assert holdout
    np.testing.assert_equal({k: again[k] for k in holdout}, holdout)  # NaN == NaN here
