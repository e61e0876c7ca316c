"""Launch the real jobs and tick the real sensors through a Dagster instance, in process.

The weekly loop must leave the same trace in the instance as a deployment does: runs of
``weekly_scoring_job`` (one per partition) and ``training_job``, a ``retraining_sensor`` tick
history, and the training run carrying the sensor's ``dagster/sensor_name`` and run-key tags.
Rather than ``materialize()`` (an ``__ephemeral_asset_job__``) or calling the sensor function,
this module drives Dagster's own machinery:

* the code location is ``churn_platform.defs.location:location_defs`` loaded in process under
  the deployed location name (``churn_platform``), so the UI of ``dagster dev`` on the same
  instance lists the runs under their jobs and the ticks under the sensor;
* a job launch creates the run from the location's job snapshot and execution plan, as the
  daemon's schedule and sensor code does, then calls ``instance.submit_run`` (run coordinator,
  then run launcher);
* a sensor tick is the sensor daemon's own per-sensor tick function
  (``dagster._daemon.sensor._process_tick_generator``, the body of ``execute_sensor_iteration``
  for one sensor): it creates and stores the tick, evaluates the sensor through the code
  location, creates the requested run with the sensor's tags and submits it. The only thing the
  loop changes is *when*: it clears the last-tick timestamps first, because simulated weeks
  pass in seconds while the sensor's ``minimum_interval_seconds`` is ten minutes.

The instance the loop uses has ``SyncInMemoryRunLauncher`` + ``DefaultRunCoordinator``
(:func:`loop_instance_overrides`): a submitted run executes synchronously in this process, so
the loop is as fast as ``materialize`` while every run goes through ``submit_run``. The
instance's own ``dagster.yaml`` (used by ``dagster dev`` and the daemon) is not changed.
Pinned Dagster version: see pyproject; ``_process_tick_generator`` is private API, covered by
churn_platform_tests/system/e2e/test_weekly_loop.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
)
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.instance.ref import InstanceRef
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.code_location import CodeLocation
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorTick,
    InstigatorType,
    SensorInstigatorData,
    TickStatus,
)
from dagster._core.storage.tags import PARTITION_NAME_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import _process_tick_generator
from dagster._time import get_current_timestamp

from churn_platform.defs.location import LOCATION_NAME
from churn_platform.errors import ChurnPlatformError

REPOSITORY_NAME = "__repository__"
LOCATION_TARGET = LoadableTargetOrigin(
    module_name="churn_platform.defs.location", attribute="location_defs"
)
_log = logging.getLogger("churn_platform.loop")


class DagsterRunError(ChurnPlatformError):
    """A run launched by the loop (or a sensor tick) did not succeed."""


def loop_instance_overrides() -> dict[str, Any]:
    """Instance overrides for the loop: run submitted runs synchronously, in this process."""
    return {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "DefaultRunCoordinator",
        },
        "run_launcher": {
            "module": "dagster._core.launcher.sync_in_memory_run_launcher",
            "class": "SyncInMemoryRunLauncher",
        },
    }


def loop_instance(dagster_home: Path) -> DagsterInstance:
    """The instance under ``dagster_home`` (its dagster.yaml) with the loop's launcher."""
    ref = InstanceRef.from_dir(str(dagster_home), overrides=loop_instance_overrides())
    return DagsterInstance.from_ref(ref)


@dataclass(frozen=True)
class SensorTick:
    """One evaluation of a sensor as stored in its tick history, and the runs it launched."""

    tick: InstigatorTick
    runs: tuple[DagsterRun, ...]

    @property
    def skip_reason(self) -> str | None:
        return self.tick.skip_reason

    @property
    def status(self) -> TickStatus:
        return self.tick.status


class InstanceRuns:
    """Launch jobs and tick sensors of the churn_platform code location on ``instance``."""

    def __init__(self, instance: DagsterInstance, context: WorkspaceProcessContext) -> None:
        self.instance = instance
        self._context = context

    def _location(self) -> CodeLocation:
        request = self._context.create_request_context()
        return request.get_code_location(LOCATION_NAME)

    def launch(
        self,
        job_name: str,
        *,
        partition_key: str | None = None,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> DagsterRun:
        """Create a run of ``job_name`` and submit it; returns the finished run.

        Raises :class:`DagsterRunError` with the failing step's message when it did not succeed.
        """
        location = self._location()
        selector = JobSubsetSelector(
            location_name=location.name,
            repository_name=REPOSITORY_NAME,
            job_name=job_name,
            op_selection=None,
        )
        remote_job = location.get_job(selector)
        config = dict(run_config or {})
        plan = location.get_execution_plan(
            remote_job, config, step_keys_to_execute=None, known_state=None, instance=self.instance
        )
        all_tags = {**(remote_job.run_tags or {}), **(tags or {})}
        if partition_key is not None:
            all_tags[PARTITION_NAME_TAG] = partition_key
        run = self.instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config=config,
            resolved_op_selection=remote_job.resolved_op_selection,
            step_keys_to_execute=None,
            status=DagsterRunStatus.NOT_STARTED,
            op_selection=None,
            root_run_id=None,
            parent_run_id=None,
            tags=all_tags,
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=location.get_repository(REPOSITORY_NAME).asset_graph,
        )
        self.instance.submit_run(run.run_id, self._context.create_request_context())
        return self.finished(run.run_id)

    def finished(self, run_id: str) -> DagsterRun:
        """The stored run; raises :class:`DagsterRunError` unless it succeeded."""
        run = self.instance.get_run_by_id(run_id)
        if run is None:
            raise DagsterRunError(f"run {run_id} is not in the instance")
        if run.status != DagsterRunStatus.SUCCESS:
            raise DagsterRunError(
                f"{run.job_name} run {run_id} ended {run.status.value}: {self._failure(run_id)}"
            )
        return run

    def _failure(self, run_id: str) -> str:
        for record in self.instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
            event = record.dagster_event
            data = event.step_failure_data if event is not None else None
            if data is not None and data.error is not None:
                return f"step {event.step_key if event else '?'}: {data.error.message.strip()}"
        return "no step failure recorded (see the run's logs)"

    def tick_sensor(self, sensor_name: str) -> SensorTick:
        """Evaluate ``sensor_name`` once, as the sensor daemon does; its runs run to completion."""
        location = self._location()
        remote_sensor = location.get_repository(REPOSITORY_NAME).get_sensor(sensor_name)
        origin_id, selector_id = remote_sensor.get_remote_origin_id(), remote_sensor.selector_id
        state = self.instance.get_instigator_state(origin_id, selector_id)
        if state is None:
            state = InstigatorState(
                remote_sensor.get_remote_origin(),
                InstigatorType.SENSOR,
                InstigatorStatus.DECLARED_IN_CODE,
                SensorInstigatorData(
                    min_interval=remote_sensor.min_interval_seconds,
                    last_sensor_start_timestamp=get_current_timestamp(),
                    sensor_type=remote_sensor.sensor_type,
                ),
            )
            self.instance.add_instigator_state(state)
        else:
            data = state.instigator_data
            if isinstance(data, SensorInstigatorData):
                # the loop decides when the next evaluation is due (see the module docstring)
                state = state.with_data(
                    data._replace(last_tick_timestamp=None, last_tick_start_timestamp=None)
                )
                self.instance.update_instigator_state(state)
        before = {t.tick_id for t in self.instance.get_ticks(origin_id, selector_id, limit=5)}
        errors = [
            e
            for e in _process_tick_generator(
                self._context,
                _log,
                remote_sensor,
                state,
                None,
                self.instance.get_tick_retention_settings(InstigatorType.SENSOR),
                None,
            )
            if e is not None
        ]
        ticks = [
            t
            for t in self.instance.get_ticks(origin_id, selector_id, limit=5)
            if t.tick_id not in before
        ]
        if not ticks:
            raise DagsterRunError(f"sensor {sensor_name} recorded no tick: {errors or '-'}")
        tick = ticks[0]
        if tick.status == TickStatus.FAILURE:
            raise DagsterRunError(f"sensor {sensor_name} tick failed: {_root_cause(tick.error)}")
        runs = tuple(self.finished(run_id) for run_id in tick.run_ids)
        return SensorTick(tick=tick, runs=runs)

    def materializations(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Metadata values of each asset materialized by ``run_id``, by asset name."""
        out: dict[str, dict[str, Any]] = {}
        for record in self.instance.all_logs(
            run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
        ):
            event = record.dagster_event
            mat = event.step_materialization_data.materialization if event else None
            if mat is None:
                continue
            key: AssetKey = mat.asset_key
            out[key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
        return out

    def check_results(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Asset check evaluations of ``run_id`` by check name: ``passed``, ``severity`` and
        the check's metadata values."""
        out: dict[str, dict[str, Any]] = {}
        for record in self.instance.all_logs(
            run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        ):
            event = record.dagster_event
            data = event.event_specific_data if event else None
            if not isinstance(data, AssetCheckEvaluation):
                continue
            out[str(data.check_name)] = {
                "passed": bool(data.passed),
                "severity": str(data.severity.value),
                **{k: v.value for k, v in data.metadata.items()},
            }
        return out


def _root_cause(error: Any) -> str:
    """The innermost message of a serialized error chain (the user code's own exception)."""
    if error is None:
        return "no error recorded"
    while error.cause is not None:
        error = error.cause
    return str(error.message).strip()


@contextmanager
def instance_runs(instance: DagsterInstance) -> Iterator[InstanceRuns]:
    """Load the churn_platform location in process on ``instance`` for the duration."""
    target = InProcessWorkspaceLoadTarget(
        InProcessCodeLocationOrigin(LOCATION_TARGET, location_name=LOCATION_NAME)
    )
    with WorkspaceProcessContext(instance, target) as context:
        location = context.create_request_context().get_code_location(LOCATION_NAME)
        if location is None:  # pragma: no cover - load errors raise above
            raise DagsterRunError("the churn_platform code location did not load")
        yield InstanceRuns(instance, context)
