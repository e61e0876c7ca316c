"""``sharded_scoring_job`` runs its steps through the executor ``CHURN_SHARD_EXECUTOR`` names.

Offline (no AWS call): dagster-aws's own ``ecs_executor`` config schema accepts the config the job
configures it with (and rejects a typo), the ECS job carries the ECS executor and per-step
``ecs/cpu``/``ecs/memory`` tags of valid Fargate sizes on every op, the multiprocess executor
stays the default, and an unknown executor name fails with an error naming the variable.
"""

from __future__ import annotations

import pytest
from dagster._config import process_config
from dagster_aws.ecs import ecs_executor

from churn_platform.defs.scoring.shard_executor import (
    SHARD_EXECUTOR_ENV,
    ecs_executor_config,
    shard_executor_kind,
)
from churn_platform.defs.scoring.sharded import build_sharded_scoring_job, sharded_scoring_job
from churn_platform.errors import ConfigurationError

# Fargate's valid (cpu units -> memory MiB) combinations (AWS ECS task size table).
FARGATE_MEMORY = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
}


def _fargate_valid(tags: dict[str, str]) -> bool:
    cpu, memory = int(tags["ecs/cpu"]), int(tags["ecs/memory"])
    return memory in FARGATE_MEMORY.get(cpu, set())


def test_executor_kind_from_environment() -> None:
    assert shard_executor_kind({}) == "multiprocess"
    assert shard_executor_kind({SHARD_EXECUTOR_ENV: " ECS "}) == "ecs"
    with pytest.raises(ConfigurationError, match=SHARD_EXECUTOR_ENV):
        shard_executor_kind({SHARD_EXECUTOR_ENV: "k8s"})


def test_default_job_keeps_the_multiprocess_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SHARD_EXECUTOR_ENV, raising=False)
    assert sharded_scoring_job.executor_def.name == "multiprocess"
    assert sharded_scoring_job.tags["churn/executor"] == "multiprocess"
    job = build_sharded_scoring_job("multiprocess")
    resolved = job.executor_def.config_schema.resolve_config({})
    assert resolved.success and resolved.value["config"]["max_concurrent"] == 4


def test_ecs_executor_config_validates_against_dagster_aws_schema() -> None:
    schema = ecs_executor.config_schema.config_type
    ok = process_config(schema, ecs_executor_config())
    assert ok.success, ok.errors
    typo = process_config(schema, {**ecs_executor_config(), "max_concurent": 2})
    assert not typo.success
    assert "max_concurent" in typo.errors[0].message


def test_ecs_job_runs_each_step_in_its_own_sized_task() -> None:
    job = build_sharded_scoring_job("ecs")
    assert job.name == "sharded_scoring_job"
    assert job.executor_def.name == "ecs"
    resolved = job.executor_def.config_schema.resolve_config({})
    assert resolved.success, resolved.errors
    assert resolved.value["config"]["max_concurrent"] == ecs_executor_config()["max_concurrent"]
    assert job.tags["churn/executor"] == "ecs"
    assert _fargate_valid(dict(job.tags))  # the orchestrating run task
    for op_name in ("plan_shards", "score_shard", "swap_week"):
        tags = dict(job.get_node_named(op_name).definition.tags)
        assert _fargate_valid(tags), (op_name, tags)
    shard = job.get_node_named("score_shard").definition.tags
    run = job.tags
    # a shard task is bigger than the run task, which only launches and polls step tasks
    assert int(shard["ecs/memory"]) > int(run["ecs/memory"])
    # same graph as the one-machine job: only the executor differs
    assert {n.name for n in job.nodes} == {n.name for n in sharded_scoring_job.nodes}
