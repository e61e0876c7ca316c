"""``sharded_scoring_job``: the weekly scoring of a very large base, split over K shard ops.

The plan op pins the production model version and the feature snapshot id, clears leftovers of
an earlier failed run of the week, and fans out one dynamic output per shard. Each shard op
scores the customers whose ``customer_id`` hashes to it and stages its slice in its own
transaction (retried on its own by its ``RetryPolicy``); the swap op then publishes the whole
week in one transaction with ranks and deciles over all customers. Readers of ``predictions``
see the old week until the swap commits, whatever happens to the shards.

Executor (``CHURN_SHARD_EXECUTOR``, see ``shard_executor.py``): ``multiprocess`` (default) with
``max_concurrent`` = the shards that fit the run's worker, or ``ecs``: dagster-aws's ECS executor
runs every step as its own ECS task sized by the op's ``ecs/cpu``/``ecs/memory`` tags. The run's
own task size comes from the job's ``ecs/cpu``/``ecs/memory`` tags under the ECS run launcher
(see deploy/dagster/dagster.ecs.yaml and docs/scaling.md). Tag ``churn/executor`` says which.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetKey,
    AssetMaterialization,
    Backoff,
    Config,
    DynamicOut,
    DynamicOutput,
    Failure,
    JobDefinition,
    OpExecutionContext,
    RetryPolicy,
    job,
    op,
)

from churn_platform.app.scoring import (
    DEFAULT_CHUNK_ROWS,
    Lineage,
    chunks,
    now_utc,
    snapshot_id,
    stage_shard,
)
from churn_platform.defs.partitions import week_of, weekly_partitions
from churn_platform.defs.resources import DataSourceResource, MlflowResource, WarehouseResource
from churn_platform.defs.scoring.assets import code_version
from churn_platform.defs.scoring.shard_executor import (
    DEFAULT_SHARDS,
    PLAN_TASK_CPU,
    PLAN_TASK_MEMORY,
    RUN_TASK_TAGS,
    SHARD_TASK_CPU,
    SHARD_TASK_MEMORY,
    SWAP_TASK_CPU,
    SWAP_TASK_MEMORY,
    ExecutorKind,
    shard_executor,
    shard_executor_kind,
    step_tags,
)
from churn_platform.errors import DataContractError, ModelNotFoundError
from churn_platform.io.registry import PRODUCTION
from churn_platform.io.sharding import ShardStager, ShardTask, StagedShard


class ShardedScoringConfig(Config):
    """How the week is split: ``shards`` hash buckets of customer_id, each scored by one op."""

    shards: int = DEFAULT_SHARDS
    chunk_rows: int = DEFAULT_CHUNK_ROWS  # rows per scoring/COPY batch inside a shard
    top_drivers: int = 3


def _stager(warehouse: WarehouseResource) -> ShardStager:
    return ShardStager(warehouse.setup(), warehouse.db_schema, warehouse.horizons)


def _week_features(data_source: DataSourceResource, context: OpExecutionContext) -> pd.DataFrame:
    """The partition's customers, checked against the feature contract."""
    week = week_of(context.partition_key)
    try:
        return data_source.contract().validate(
            data_source.features_for_week(week), with_target=False
        )
    except DataContractError as exc:  # the same input fails again: do not retry
        raise Failure(description=str(exc), allow_retries=False) from exc


@op(
    out=DynamicOut(ShardTask),
    tags={"churn/step": "plan", **step_tags(PLAN_TASK_CPU, PLAN_TASK_MEMORY)},
)
def plan_shards(
    context: OpExecutionContext,
    config: ShardedScoringConfig,
    data_source: DataSourceResource,
    mlflow_resource: MlflowResource,
    warehouse: WarehouseResource,
) -> Iterator[DynamicOutput[ShardTask]]:
    """Pin the production model version and the week's snapshot id for every shard, drop the
    staged leftovers of a failed earlier run of this week, and emit one task per shard."""
    if config.shards < 1:
        raise Failure(description=f"shards must be >= 1, got {config.shards}", allow_retries=False)
    week = week_of(context.partition_key)
    registry = mlflow_resource.registry()
    version = registry.version_for_alias(PRODUCTION)
    if version is None:
        try:
            registry.load(PRODUCTION)  # raises the error that explains how to promote
        except ModelNotFoundError as exc:
            raise Failure(description=str(exc), allow_retries=False) from exc
        raise Failure(description=f"no @{PRODUCTION} model", allow_retries=False)
    features = _week_features(data_source, context)
    lineage = Lineage(
        model_name=registry.model_name,
        model_version=int(version.version),
        model_run_id=str(version.run_id),
        model_alias=PRODUCTION,
        feature_snapshot_id=snapshot_id(features),
        dagster_run_id=context.run_id,
        code_version=code_version(),
        scored_at=now_utc(),
    )
    stage_id = f"{week.isoformat()}:{lineage.model_name}:{context.run_id}"
    dropped = _stager(warehouse).open_stage(stage_id, week, lineage.model_name)
    context.log.info(
        "scoring %d customers of week %s with %s v%d in %d shards (stage %s; %d stale staged "
        "rows dropped)",
        len(features),
        week,
        lineage.model_name,
        lineage.model_version,
        config.shards,
        stage_id,
        dropped,
    )
    for shard in range(config.shards):
        yield DynamicOutput(
            ShardTask(
                stage_id,
                shard,
                config.shards,
                week,
                lineage,
                chunk_rows=config.chunk_rows,
                top_drivers=config.top_drivers,
            ),
            mapping_key=f"shard_{shard}",
        )


@op(
    retry_policy=RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL),
    tags={"churn/step": "shard", **step_tags(SHARD_TASK_CPU, SHARD_TASK_MEMORY)},
)
def score_shard(
    context: OpExecutionContext,
    task: ShardTask,
    data_source: DataSourceResource,
    mlflow_resource: MlflowResource,
    warehouse: WarehouseResource,
) -> StagedShard:
    """Score one shard's customers with the pinned model version and stage them (one
    transaction; a retry replaces only this shard's slice, the live week is not touched)."""
    try:
        model = mlflow_resource.registry().load(PRODUCTION)
    except ModelNotFoundError as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    if model.version != task.lineage.model_version:
        raise Failure(
            description=(
                f"@{PRODUCTION} moved from v{task.lineage.model_version} to v{model.version} "
                "while this week was being scored; shards must use one version. Re-launch the "
                "week (the staged slices of this run are dropped by the next one)."
            ),
            allow_retries=False,
        )
    contract = data_source.contract()
    try:  # only this shard's customers: pushed into the source's query where it can
        part = contract.validate(
            data_source.features_for_shard(task.scoring_week, task.shard, task.shards),
            with_target=False,
        )
    except DataContractError as exc:  # the same input fails again: do not retry
        raise Failure(description=str(exc), allow_retries=False) from exc
    stager = _stager(warehouse)
    try:
        staged = stage_shard(
            stager,
            task,
            chunks(part, task.chunk_rows),
            model.predict,
            id_column=contract.id_column,
            feature_columns=contract.feature_names,
        )
    except DataContractError as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    context.log.info(
        "shard %d/%d: staged %d customers (attempt %d)",
        task.shard,
        task.shards,
        staged.rows,
        context.retry_number + 1,
    )
    return staged


@op(tags={"churn/step": "swap", **step_tags(SWAP_TASK_CPU, SWAP_TASK_MEMORY)})
def swap_week(
    context: OpExecutionContext, staged: list[StagedShard], warehouse: WarehouseResource
) -> None:
    """Publish the week: replace its live predictions by every staged shard in one transaction,
    ranks and deciles over the whole week; record it as a ``churn_scores`` materialization."""
    if not staged:
        raise Failure(description="no shard was staged", allow_retries=False)
    first = staged[0]
    week = week_of(context.partition_key)
    model_name = first.stage_id.split(":", 2)[1]
    swapped = _stager(warehouse).swap_week(first.stage_id, week, model_name, first.shards)
    context.log.info(
        "week %s published: %d customers from %d shards replaced %d rows",
        week,
        swapped.rows,
        swapped.shards,
        swapped.replaced_rows,
    )
    context.log_event(
        AssetMaterialization(
            asset_key=AssetKey("churn_scores"),
            partition=context.partition_key,
            description="published by sharded_scoring_job",
            metadata={
                "rows_written": swapped.rows,
                "shards": swapped.shards,
                "rows_per_shard": str({s.shard: s.rows for s in staged}),
                "model_name": model_name,
                "replaced_rows": swapped.replaced_rows,
            },
        )
    )


def build_sharded_scoring_job(executor: ExecutorKind = "multiprocess") -> JobDefinition:
    """``sharded_scoring_job`` with its steps run by ``executor`` (same ops, same graph)."""

    @job(
        name="sharded_scoring_job",
        partitions_def=weekly_partitions,
        executor_def=shard_executor(executor),
        tags={
            "churn/job": "scoring",  # the run queue never runs it next to weekly_scoring_job
            "churn/executor": executor,
            # Run task size under the ECS run launcher (deploy/dagster/dagster.ecs.yaml):
            # multiprocess hosts DEFAULT_SHARDS shard processes, the ECS executor's run task
            # only launches step tasks; ignored by other launchers.
            **RUN_TASK_TAGS[executor],
        },
        description="Score a very large week in hash shards of customer_id (K configurable), "
        "each shard retried on its own, then publish the whole week in one transaction. Same "
        "rows as churn_scores (identical checksum); use it when one process cannot score the "
        f"base in time. Steps run by the {executor} executor (CHURN_SHARD_EXECUTOR).",
    )
    def sharded_scoring_job() -> None:
        """plan → score_shard × K (dynamic, retried per shard) → swap."""
        swap_week(plan_shards().map(score_shard).collect())

    return sharded_scoring_job


sharded_scoring_job = build_sharded_scoring_job(shard_executor_kind())
