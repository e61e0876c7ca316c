"""The production-shaped stack under the real Dagster daemon, end to end.

``stack_up`` starts PostgreSQL databases, S3 (moto server), the MLflow tracking server, the
Dagster code server, webserver and daemon with deploy/dagster/dagster.yaml (PostgreSQL storage,
QueuedRunCoordinator). The test trains and approves a first model through the webserver, then
switches the weekly scoring schedule and the retraining sensor on (the UI's toggle, through the
webserver's GraphQL API), as an operator would. The
daemon ticks the schedule (every minute here, ``CHURN_SCORING_CRON``) for the current week, in
which the simulated base drifts (prices up, usage down); the run scores it; the daemon's sensor
sees the drift and launches ``training_job`` exactly once. Everything is stopped at the end.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef

from churn_platform.app.promotion import approve_challenger
from churn_platform.defs.resources import MlflowResource, WarehouseResource
from churn_platform.entry.loop import training_config
from churn_platform.entry.stack import Stack, StackPorts, stack_down, stack_up

pytestmark = pytest.mark.slow

T = TypeVar("T")
TODAY = datetime.now(UTC).date()
M0 = TODAY - timedelta(days=TODAY.weekday())  # this week's Monday: the schedule's partition
START = M0 - timedelta(weeks=36)


def _wait(what: str, fn: Callable[[], T | None], timeout: float, stack: Stack) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value is not None:
            return value
        time.sleep(2)
    logs = "\n".join(
        f"--- {p.name}\n{p.read_text()[-3000:]}" for p in (Path(stack.home) / "logs").glob("*.log")
    )
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("stack")
    config = {
        "data_source": {
            "sim_customers": 3_000,  # 1,500 left the retrain 49 events, under the 50 needed
            "sim_seed": 11,
            "sim_start_week": START.isoformat(),
            "sim_feature_drift_week": M0.isoformat(),
        },
        # the initial model counts as a retrain in the retrain ledger: without this its 4-week
        # cooldown suppresses the drift retrain (seen: "suppressed: cooldown until ..."); and
        # retrain on the drift at once rather than waiting for outcomes after it
        "monitoring": {"cooldown_weeks": 0, "drift_learn_weeks": 0},
    }
    started = time.monotonic()
    running = stack_up(
        home,
        ports=StackPorts.free(),
        prefix=f"stack_{uuid.uuid4().hex[:8]}",
        code_target=("churn_platform.defs.location", "location_defs"),
        extra_env={
            "CHURN_START_WEEK": START.isoformat(),
            "CHURN_RESOURCE_CONFIG": json.dumps(config),
            "CHURN_SCORING_CRON": "* * * * *",
            "CHURN_SENSOR_INTERVAL_S": "5",
            "CHURN_AUTOMATION": "off",  # the test switches them on once a model is approved
        },
    )
    print(f"stack up in {time.monotonic() - started:.1f}s")
    try:
        yield running
    finally:
        stopped = stack_down(home, purge=True)
        assert stopped
        for pid in running.pids.values():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def _instance(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> DagsterInstance:
    for key, value in stack.env().items():
        if key.startswith("DAGSTER_"):
            monkeypatch.setenv(key, value)
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(stack.dagster_home)))


def _finished(instance: DagsterInstance, run_id: str) -> Any:
    run = instance.get_run_by_id(run_id)
    if run is None or not run.is_finished:
        return None
    return run


def _why(instance: DagsterInstance, run_id: str) -> str:
    """The failure messages of a run (step errors with their stack), for assertion messages."""
    messages = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or not event.is_failure:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE and event.step_failure_data.error:
            messages.append(event.step_failure_data.error.to_string())
        else:
            messages.append(str(event.message))
    return "\n".join(messages)[-6000:]


def _start(stack: Stack, kind: str, name: str) -> None:
    """Switch a schedule or sensor on through the webserver's GraphQL API (the UI's toggle)."""
    import urllib.request

    selector_type = "ScheduleSelector" if kind == "schedule" else "SensorSelector"
    mutation = "startSchedule" if kind == "schedule" else "startSensor"
    arg = "scheduleSelector" if kind == "schedule" else "sensorSelector"
    body = {
        "query": f"mutation($s: {selector_type}!) {{ {mutation}({arg}: $s) {{ __typename }} }}",
        "variables": {
            "s": {
                "repositoryLocationName": "churn_platform",
                "repositoryName": "__repository__",
                f"{kind}Name": name,
            }
        },
    }
    request = urllib.request.Request(
        f"{stack.webserver_url}/graphql",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as resp:
        answer = json.loads(resp.read())
    typename = answer.get("data", {}).get(mutation, {}).get("__typename", "")
    assert typename and "Error" not in typename, answer


def test_daemon_schedules_scoring_and_its_sensor_retrains_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_graphql import DagsterGraphQLClient

    started = time.monotonic()
    instance = _instance(stack, monkeypatch)
    client = DagsterGraphQLClient("127.0.0.1", port_number=stack.ports.webserver)

    # 1. a first model, trained by a queued training_job run that the daemon launches
    as_of = M0 - timedelta(weeks=1)
    run_id = client.submit_job_execution(
        "training_job",
        repository_location_name="churn_platform",
        repository_name="__repository__",
        run_config=training_config(as_of, "initial model", 26),
    )
    run = _wait("the initial training run", lambda: _finished(instance, run_id), 180, stack)
    assert run.status == DagsterRunStatus.SUCCESS, _why(instance, run_id)
    registry = MlflowResource(tracking_uri=stack.mlflow_url).registry(
        WarehouseResource(database_url=stack.db_url("churn"))
    )
    challenger = registry.version_for_alias("challenger")
    assert challenger is not None
    approve_challenger(
        registry, int(challenger.version), approver="stack-test", reason="initial model"
    )

    # 2. the operator switches automation on; the daemon ticks the schedule for this week
    _start(stack, "schedule", "weekly_scoring_job_schedule")
    _start(stack, "sensor", "retraining_sensor")

    def scoring_run() -> Any:
        runs = instance.get_runs(filters=RunsFilter(job_name="weekly_scoring_job"))
        return runs[0] if runs and runs[0].is_finished else None

    scored = _wait("the scheduled scoring run", scoring_run, 180, stack)
    assert scored.status == DagsterRunStatus.SUCCESS, _why(instance, scored.run_id)
    assert scored.tags["dagster/partition"] == M0.isoformat()
    assert scored.tags["dagster/schedule_name"] == "weekly_scoring_job_schedule"

    # 3. the drifted week makes the daemon's sensor launch training_job, exactly once
    def sensor_training() -> Any:
        runs = instance.get_runs(
            filters=RunsFilter(
                job_name="training_job", tags={"dagster/sensor_name": "retraining_sensor"}
            )
        )
        return runs if runs and all(r.is_finished for r in runs) else None

    retrains = _wait("the sensor's training run", sensor_training, 180, stack)
    assert len(retrains) == 1
    assert retrains[0].status == DagsterRunStatus.SUCCESS, _why(instance, retrains[0].run_id)
    assert retrains[0].tags["dagster/run_key"].startswith("retrain:feature_drift:")
    # more sensor ticks pass; none launches a second retrain
    [state] = [s for s in instance.all_instigator_state() if s.name == "retraining_sensor"]
    ticks_before = len(instance.get_ticks(state.instigator_origin_id, state.selector_id))
    _wait(
        "two more sensor ticks",
        lambda: (
            True
            if len(instance.get_ticks(state.instigator_origin_id, state.selector_id))
            >= ticks_before + 2
            else None
        ),
        60,
        stack,
    )
    all_training = instance.get_runs(filters=RunsFilter(job_name="training_job"))
    assert len(all_training) == 2  # the initial model and the one retrain
    print(f"stack scenario in {time.monotonic() - started:.1f}s")
    instance.dispose()
