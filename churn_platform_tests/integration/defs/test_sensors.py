"""Retraining sensor with build_sensor_context, real instance storage and real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunRequest, build_sensor_context

from churn_platform.defs.definitions import defs
from churn_platform.defs.resources import MonitoringResource, WarehouseResource
from churn_platform.defs.training.sensors import TAG_REQUESTED_WEEK, TAG_RUN_KEY, retraining_sensor

W0 = date(2025, 9, 1)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def warehouse(pg_url: str) -> WarehouseResource:
    return WarehouseResource(database_url=pg_url, db_schema=f"s_{uuid.uuid4().hex[:6]}")


def add_c_index(warehouse: WarehouseResource, week: date, c: float, version: int = 1) -> None:
    warehouse.evaluations().upsert(
        pd.DataFrame(
            [
                {
                    "scoring_week": week - timedelta(weeks=13),
                    "model_name": "churn_model",
                    "model_version": version,
                    "label_lag_weeks": 13,
                    "evaluated_week": week,
                    "n": 1000,
                    "n_events": 100,
                    "c_index": c,
                    "uno_c": c,
                    "ibs": 0.1,
                    "brier": {90: 0.1},
                    "auc": {90: c},
                    "mlflow_run_id": "r1",
                }
            ]
        )
    )


def evaluate(instance: DagsterInstance, warehouse: WarehouseResource) -> Any:
    # a context manager: the warehouse resource closes its pool at teardown
    with build_sensor_context(
        instance=instance,
        resources={"warehouse": warehouse, "monitoring": MonitoringResource()},
    ) as context:
        return retraining_sensor(context)


def launch(instance: DagsterInstance, request: RunRequest, status: DagsterRunStatus) -> None:
    """Record the run the daemon would launch for ``request`` (real run storage)."""
    job = defs.resolve_job_def("training_job")
    instance.create_run_for_job(
        job_def=job,
        run_config=request.run_config,
        tags={**request.tags, "dagster/run_key": request.run_key or ""},
        status=status,
    )


def test_no_results_skips(instance: DagsterInstance, warehouse: WarehouseResource) -> None:
    result = evaluate(instance, warehouse)
    assert not result.run_requests
    assert "no monitoring results" in str(result.skip_reason)


def test_one_breach_week_does_not_retrain(
    instance: DagsterInstance, warehouse: WarehouseResource
) -> None:
    add_c_index(warehouse, W0, 0.80)
    add_c_index(warehouse, W0 + timedelta(weeks=1), 0.70)
    result = evaluate(instance, warehouse)
    assert not result.run_requests


def test_two_consecutive_breaches_request_exactly_one_run_then_never_again(
    instance: DagsterInstance, warehouse: WarehouseResource
) -> None:
    add_c_index(warehouse, W0, 0.72)
    add_c_index(warehouse, W0 + timedelta(weeks=1), 0.71)
    result = evaluate(instance, warehouse)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.run_key == f"retrain:c_index:{W0.isoformat()}:1"
    assert "c_index" in request.tags["churn/retrain_reason"]
    assert request.tags[TAG_RUN_KEY] == request.run_key
    as_of = request.run_config["ops"]["training_dataset"]["config"]["as_of_week"]
    assert as_of == (W0 + timedelta(weeks=1)).isoformat()

    launch(instance, request, DagsterRunStatus.STARTED)
    again = evaluate(instance, warehouse)
    assert not again.run_requests  # same breach, run in flight: no duplicate


def test_cooldown_after_successful_retrain(
    instance: DagsterInstance, warehouse: WarehouseResource
) -> None:
    add_c_index(warehouse, W0, 0.72)
    add_c_index(warehouse, W0 + timedelta(weeks=1), 0.71)
    first = evaluate(instance, warehouse).run_requests[0]
    launch(instance, first, DagsterRunStatus.SUCCESS)
    # The breach persists right after the retrain: within the 4-week cooldown, nothing.
    for i in range(2, 5):
        add_c_index(warehouse, W0 + timedelta(weeks=i), 0.70)
        assert not evaluate(instance, warehouse).run_requests, f"week {i} inside cooldown"
    for i in range(5, 7):
        add_c_index(warehouse, W0 + timedelta(weeks=i), 0.70)
    after = evaluate(instance, warehouse).run_requests
    assert len(after) == 1 and after[0].run_key != first.run_key


def test_failed_retrain_is_requested_again_with_next_attempt(
    instance: DagsterInstance, warehouse: WarehouseResource
) -> None:
    add_c_index(warehouse, W0, 0.72)
    add_c_index(warehouse, W0 + timedelta(weeks=1), 0.71)
    first = evaluate(instance, warehouse).run_requests[0]
    launch(instance, first, DagsterRunStatus.FAILURE)
    retry = evaluate(instance, warehouse).run_requests
    assert len(retry) == 1
    assert retry[0].run_key == f"retrain:c_index:{W0.isoformat()}:2"
    assert retry[0].tags["churn/attempt"] == "2"


def test_drift_breach_requests_retrain_and_evidence_of_older_versions_is_ignored(
    instance: DagsterInstance, warehouse: WarehouseResource
) -> None:
    drift = warehouse.drift()
    frame = pd.DataFrame(
        [
            {
                "column_name": "monthly_charges",
                "test": "ks",
                "statistic": 0.3,
                "p_value": 1e-30,
                "effect": 0.3,
                "psi": 0.5,
                "breached": True,
                "new_levels": "",
                "n_reference": 100,
                "n_current": 100,
                "model_version": 1,
            }
        ]
    )
    drift.replace_week(W0, "feature", "churn_model", frame)
    result = evaluate(instance, warehouse)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags[TAG_REQUESTED_WEEK] == W0.isoformat()
    # version 2 now serves and is clean: v1's breach no longer counts
    clean = frame.assign(breached=False, model_version=2)
    drift.replace_week(W0 + timedelta(weeks=1), "feature", "churn_model", clean)
    assert not evaluate(instance, warehouse).run_requests


def test_run_failure_sends_a_critical_slack_alert(instance: DagsterInstance) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from dagster import DagsterEventType, build_run_status_sensor_context, job, op

    from churn_platform.defs.observability.sensors import run_failure_alert
    from churn_platform.defs.resources import NotifierResource

    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    @op
    def explode() -> None:
        raise RuntimeError("database went away")

    @job
    def weekly_scoring_job() -> None:
        explode()

    result = weekly_scoring_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(
        e
        for e in instance.all_logs(result.run_id)
        if e.dagster_event_type == DagsterEventType.RUN_FAILURE
    )
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/services/T/B/secret-token"
        context = build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            dagster_event=failure.dagster_event,
            resources={"notifier": NotifierResource(webhook_url=url)},
        ).for_run_failure()
        run_failure_alert(context)
    finally:
        server.shutdown()
    assert len(received) == 1
    text = json.dumps(received[0])
    assert "Run failed: weekly_scoring_job" in text
    assert result.run_id in text
    assert "secret-token" not in text


def test_quarterly_manual_and_pipeline_retrains_start_the_cooldown(
    instance: DagsterInstance, warehouse: WarehouseResource
) -> None:
    """A retrain the sensor did not launch still counts: one week after a successful scheduled
    retrain, a breach waits for the cooldown (recorded in the retrain ledger)."""
    from churn_platform.app.retraining import TrainingRequest, recorded_training

    ledger = warehouse.retrain_ledger()
    quarterly = TrainingRequest(
        "retrain:scheduled:2025-08-25",
        "schedule",
        W0 - timedelta(weeks=1),
        "quarterly_retraining_schedule",
        "q",
    )
    assert recorded_training(ledger, "churn_model", quarterly, lambda: 7, lambda v: v) == 7
    # the same key again (a re-executed run) is recorded once
    recorded_training(ledger, "churn_model", quarterly, lambda: 7, lambda v: v)
    rows = ledger.read("churn_model")
    assert len(rows) == 1 and rows.iloc[0]["status"] == "success"
    assert rows.iloc[0]["model_version"] == 7

    add_c_index(warehouse, W0, 0.72)
    add_c_index(warehouse, W0 + timedelta(weeks=1), 0.71)
    blocked = evaluate(instance, warehouse)
    assert not blocked.run_requests
    assert "cooldown" in str(blocked.skip_reason)
    assert "retrain:scheduled:2025-08-25" in str(blocked.skip_reason)


def test_a_failed_training_is_recorded_as_failure_and_does_not_block(
    instance: DagsterInstance, warehouse: WarehouseResource
) -> None:
    from churn_platform.app.retraining import pipeline_request, recorded_training

    ledger = warehouse.retrain_ledger()
    request = pipeline_request("ci-run-42", "ci", "nightly")

    def boom() -> int:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        recorded_training(ledger, "churn_model", request, boom, lambda v: v)
    rows = ledger.read("churn_model")
    assert list(rows["status"]) == ["failure"] and rows.iloc[0]["trigger"] == "pipeline"
    add_c_index(warehouse, W0, 0.72)
    add_c_index(warehouse, W0 + timedelta(weeks=1), 0.71)
    assert len(evaluate(instance, warehouse).run_requests) == 1
