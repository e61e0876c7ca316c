"""``sharded_scoring_job`` through Dagster against real PostgreSQL and a real MLflow model.

Sharded scoring must leave exactly the rows that the unsharded ``score_and_write`` leaves
(same checksum), also when a shard crashes mid-write and is retried; while that shard is down
the live week keeps its previous rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance, materialize

from churn_platform.app.scoring import Lineage, chunks, now_utc, score_and_write, snapshot_id
from churn_platform.defs.features.assets import customer_features
from churn_platform.defs.resources import MlflowResource
from churn_platform.defs.scoring.assets import churn_scores, code_version
from churn_platform.defs.scoring.sharded import sharded_scoring_job
from churn_platform.defs.training.assets import churn_model, training_dataset
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.registry import PRODUCTION, ModelRegistry
from churn_platform.io.sharding import ShardStager
from churn_platform_tests.support.dagster import TRAIN_AS_OF, make_resources

WEEK = "2025-07-14"


@pytest.fixture(scope="module")
def trained(
    pg_url: str, mlflow_tracking_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Resources with a trained, promoted model (trained once for the module)."""
    tag = uuid.uuid4().hex[:6]
    resources = make_resources(
        pg_url,
        mlflow_tracking_uri,
        tmp_path_factory.mktemp("sharded"),
        schema=f"shard_{tag}",
        model_name=f"m_{tag}",
        sim_customers=1_500,
    )
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [customer_features, training_dataset, churn_model, churn_scores],
            selection=["training_dataset", "churn_model"],
            resources=resources,
            instance=instance,
            run_config={"ops": {"training_dataset": {"config": {"as_of_week": TRAIN_AS_OF}}}},
        )
    assert result.success
    version = int(
        result.asset_materializations_for_node("churn_model")[0].metadata["model_version"].value
    )
    resources["mlflow_resource"].registry(resources["warehouse"]).promote(
        version, approver="tester", reason="sharding test"
    )
    yield resources


def _unsharded(resources: dict[str, Any], top_drivers: int) -> str:
    """Score the week with the one-process path (score_and_write); return its checksum."""
    week = date.fromisoformat(WEEK)
    source = resources["data_source"]
    contract = source.contract()
    features = contract.validate(source.features_for_week(week), with_target=False)
    model = resources["mlflow_resource"].registry().load(PRODUCTION)
    lineage = Lineage(
        model_name=model.name,
        model_version=model.version,
        model_run_id=model.run_id,
        model_alias=PRODUCTION,
        feature_snapshot_id=snapshot_id(features),
        dagster_run_id="unsharded",
        code_version=code_version(),
        scored_at=now_utc(),
    )
    repo = resources["warehouse"].predictions()
    score_and_write(
        chunks(features, 400),
        model.predict,
        repo,
        id_column=contract.id_column,
        feature_columns=contract.feature_names,
        scoring_week=week,
        lineage=lineage,
        top_drivers=top_drivers,
    )
    return repo.checksum_week(week, model.name)


class _CrashingModel:
    """The real model, except that it crashes on its second chunk (consuming the flag file)."""

    def __init__(self, model: Any, flag: Path) -> None:
        self.model, self.flag = model, flag
        self.name, self.version, self.run_id = model.name, model.version, model.run_id
        self.calls = 0

    def predict(self, features: pd.DataFrame, top_drivers: int = 0) -> pd.DataFrame:
        self.calls += 1
        if self.calls == 2 and self.flag.exists():
            self.flag.unlink()
            raise RuntimeError("scoring worker crashed mid-shard (injected)")
        return self.model.predict(features, top_drivers)


class _FlakyMlflow(MlflowResource):
    """Real registry and model; the first shard to score crashes once after staging a chunk.

    When the retried shard loads the model again, it records what readers of the live week
    see at that moment (between the failure and the retry) in ``observe_path``.
    """

    fail_flag: str
    observe_path: str
    pg_url: str
    db_schema: str

    def registry(self, warehouse: Any = None) -> ModelRegistry:
        reg = super().registry(warehouse)
        original = reg.load
        flag, observe = Path(self.fail_flag), Path(self.observe_path)

        def load(alias: str = PRODUCTION) -> Any:
            model = original(alias)
            if flag.exists():
                return _CrashingModel(model, flag)
            if not observe.exists():  # the retry: the shard has failed once
                repo = PredictionsRepository(self.pg_url, self.db_schema)
                stager = ShardStager(self.pg_url, self.db_schema)
                with stager.engine.connect() as conn:
                    staged = conn.exec_driver_sql(
                        f'SELECT count(*) FROM "{self.db_schema}".predictions_staging'
                    ).scalar_one()
                stager.dispose()
                observe.write_text(
                    json.dumps(
                        {
                            "live_checksum": repo.checksum_week(
                                date.fromisoformat(WEEK), model.name
                            ),
                            "staged_rows": int(staged),
                        }
                    )
                )
                repo.dispose()
            return model

        reg.load = load  # type: ignore[method-assign]
        return reg


def _run(resources: dict[str, Any], shards: int) -> Any:
    with DagsterInstance.ephemeral() as instance:
        return sharded_scoring_job.execute_in_process(
            partition_key=WEEK,
            resources=resources,
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"plan_shards": {"config": {"shards": shards, "chunk_rows": 300}}}},
        )


def test_sharded_equals_unsharded_and_survives_a_shard_retry(
    trained: dict[str, Any], pg_url: str, tmp_path: Path
) -> None:
    week = date.fromisoformat(WEEK)
    schema = trained["warehouse"].db_schema
    mlflow: MlflowResource = trained["mlflow_resource"]
    repo = PredictionsRepository(pg_url, schema)
    reference = _unsharded(trained, top_drivers=3)
    n = repo.count_week(week, mlflow.model_name)
    assert n > 1000

    # The live week holds older rows (another scoring) when the sharded run starts.
    old = _unsharded(trained, top_drivers=0)
    assert old != reference

    flag, observe = tmp_path / "crash-once", tmp_path / "observed.json"
    flag.touch()
    flaky = dict(trained)
    flaky["mlflow_resource"] = _FlakyMlflow(
        tracking_uri=mlflow.tracking_uri,
        model_name=mlflow.model_name,
        artifact_location=mlflow.artifact_location,
        fail_flag=str(flag),
        observe_path=str(observe),
        pg_url=pg_url,
        db_schema=schema,
    )
    result = _run(flaky, shards=3)
    assert result.success
    retried = [
        e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert len(retried) == 1 and retried[0].startswith("score_shard[shard_")
    assert not flag.exists()  # the fault really fired
    seen = json.loads(observe.read_text())
    assert seen["live_checksum"] == old  # while the shard was down: the old week, untouched
    assert seen["staged_rows"] < n  # the week was never complete in staging before the retry
    assert repo.count_week(week, mlflow.model_name) == n
    assert repo.checksum_week(week, mlflow.model_name) == reference
    mats = result.asset_materializations_for_node("swap_week")
    assert mats[0].metadata["rows_written"].value == n

    # K = 1 gives the same table too, and leaves nothing staged.
    _unsharded(trained, top_drivers=0)
    assert _run(trained, shards=1).success
    assert repo.checksum_week(week, mlflow.model_name) == reference
    stager = ShardStager(pg_url, schema)
    with stager.engine.connect() as conn:
        left = conn.exec_driver_sql(f'SELECT count(*) FROM "{schema}".predictions_staging')
        assert left.scalar_one() == 0
    stager.dispose()


def test_sharded_job_is_registered_with_a_multiprocess_executor() -> None:
    from churn_platform.defs.definitions import defs

    job = defs.get_job_def("sharded_scoring_job")
    assert job.executor_def.name == "multiprocess"
    assert job.tags["churn/job"] == "scoring"  # never concurrent with weekly_scoring_job
    assert job.partitions_def is not None
    assert job.graph.node_named("score_shard").definition.retry_policy is not None  # type: ignore[attr-defined]
