"""Which Dagster executor runs ``sharded_scoring_job``'s steps: one machine or one container each.

``CHURN_SHARD_EXECUTOR`` (read when the definitions load) picks it:

* ``multiprocess`` (default): every step is a process inside the run's worker, at most
  ``DEFAULT_SHARDS`` at a time; sized for one machine (the run task's ``ecs/cpu``/``ecs/memory``
  tags under the ECS run launcher).
* ``ecs``: dagster-aws's ``ecs_executor``: every step (plan, each shard, swap) is its own ECS
  task launched by the run task, sized by the op's ``ecs/cpu`` and ``ecs/memory`` tags (per-step
  resources: a shard task gets ``SHARD_TASK_CPU``/``SHARD_TASK_MEMORY``). It needs the ECS run
  launcher (deploy/dagster/dagster.ecs.yaml), the ``aws`` extra installed in the image
  (``dagster-aws``) and the IAM of terraform/modules/dagster_compute/step_executor.tf. The run
  task itself only orchestrates, so it is sized small (``RUN_TASK_TAGS``).

Why an environment variable and not run config: the executor is part of the job definition
(Dagster resolves it before the run starts); the deployment decides where steps run.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from dagster import ExecutorDefinition, multiprocess_executor

from churn_platform.errors import ConfigurationError

SHARD_EXECUTOR_ENV = "CHURN_SHARD_EXECUTOR"
ExecutorKind = Literal["multiprocess", "ecs"]
EXECUTOR_KINDS: tuple[ExecutorKind, ...] = ("multiprocess", "ecs")

DEFAULT_SHARDS = 4
# Per-step ECS task sizes (Fargate-valid cpu/memory pairs). A shard holds 1/K of the week's
# features plus the model; plan reads the whole week once (snapshot id) and swap is SQL only.
SHARD_TASK_CPU = 2048
SHARD_TASK_MEMORY = 8192
PLAN_TASK_CPU = 2048
PLAN_TASK_MEMORY = 8192
SWAP_TASK_CPU = 512
SWAP_TASK_MEMORY = 1024
# ECS executor: how many step tasks one run keeps in flight.
ECS_MAX_CONCURRENT = 32

# Run-level ECS task size per executor: the multiprocess worker hosts DEFAULT_SHARDS shard
# processes; under the ECS executor the run task only launches and polls step tasks.
RUN_TASK_TAGS: dict[ExecutorKind, dict[str, str]] = {
    "multiprocess": {"ecs/cpu": "4096", "ecs/memory": "16384"},
    "ecs": {"ecs/cpu": "512", "ecs/memory": "1024"},
}


def step_tags(cpu: int, memory: int) -> dict[str, str]:
    """Op tags that size the op's own ECS task under the ECS executor (ignored otherwise)."""
    return {"ecs/cpu": str(cpu), "ecs/memory": str(memory)}


def shard_executor_kind(env: dict[str, str] | None = None) -> ExecutorKind:
    """The executor named by ``CHURN_SHARD_EXECUTOR`` (``multiprocess`` when unset)."""
    raw = (os.environ if env is None else env).get(SHARD_EXECUTOR_ENV, "").strip().lower()
    if not raw:
        return "multiprocess"
    for kind in EXECUTOR_KINDS:
        if raw == kind:
            return kind
    raise ConfigurationError(
        f"{SHARD_EXECUTOR_ENV}={raw!r} is not an executor of sharded_scoring_job; use one of "
        f"{', '.join(EXECUTOR_KINDS)} (multiprocess: one machine, ecs: one ECS task per step)"
    )


def ecs_executor_config() -> dict[str, Any]:
    """The ECS executor's config: defaults for a step without its own ``ecs/*`` tags."""
    return {"max_concurrent": ECS_MAX_CONCURRENT, "cpu": SWAP_TASK_CPU, "memory": SWAP_TASK_MEMORY}


def shard_executor(kind: ExecutorKind) -> ExecutorDefinition:
    """The executor definition for ``kind``."""
    if kind == "multiprocess":
        return multiprocess_executor.configured({"max_concurrent": DEFAULT_SHARDS})
    try:
        from dagster_aws.ecs import ecs_executor
    except ImportError as exc:  # pragma: no cover - the dev environment has dagster-aws
        raise ConfigurationError(
            f"{SHARD_EXECUTOR_ENV}=ecs needs dagster-aws in the image: install the 'aws' extra "
            "(uv sync --extra aws)"
        ) from exc
    return ecs_executor.configured(ecs_executor_config(), name="ecs")
