"""Request retraining when the monitors breach.

The decision itself lives in pure code (``domain/policy.py``): consecutive-breach counting,
cooldown after a retrain, and a run key derived from the breach (plus an attempt number, so a
failed retrain can be requested again: Dagster never relaunches a run key it has seen,
dagster-io/dagster#15982). At most one RunRequest per evaluation (dagster-io/dagster#26753).
"""

from datetime import date

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from churn_platform.app.monitoring import policy_observations
from churn_platform.app.retraining import ledger_history, merged_history
from churn_platform.defs.automation import sensor_interval_s, sensor_status
from churn_platform.defs.resources import MonitoringResource, WarehouseResource
from churn_platform.defs.training.jobs import training_job
from churn_platform.domain.policy import RetrainRecord, RetrainStatus, decide

TAG_RUN_KEY = "churn/run_key"
TAG_REQUESTED_WEEK = "churn/requested_week"
TAG_RETRAIN_REQUEST = "churn/retrain_request"


def retrain_history(instance: DagsterInstance) -> list[RetrainRecord]:
    """Earlier retrain requests with their outcome, read from the Dagster run storage."""
    records = []
    for run in instance.get_runs(filters=RunsFilter(tags={TAG_RETRAIN_REQUEST: "true"})):
        key = run.tags.get(TAG_RUN_KEY)
        if key is None:
            continue
        status: RetrainStatus
        if run.status == DagsterRunStatus.SUCCESS:
            status = "success"
        elif run.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED):
            status = "failure"
        else:
            status = "requested"
        week = date.fromisoformat(run.tags.get(TAG_REQUESTED_WEEK, "1970-01-05"))
        records.append(RetrainRecord(run_key=key, requested_week=week, status=status))
    return records


def retraining_request(
    instance: DagsterInstance, warehouse: WarehouseResource, monitoring: MonitoringResource
) -> RunRequest | SkipReason:
    """The policy's decision for the current evidence, as a RunRequest or a SkipReason."""
    observations, version = policy_observations(
        warehouse.evaluations().read(), warehouse.drift().read()
    )
    if not observations:
        return SkipReason("no monitoring results yet")
    today = max(o.week for o in observations)
    # every training run counts (sensor, schedule, manual, pipeline): the retrain ledger,
    # merged with the Dagster runs this sensor launched
    history = merged_history(ledger_history(warehouse.retrain_ledger()), retrain_history(instance))
    decision = decide(
        observations,
        history,
        today,
        monitoring.policy(),
        model_label=f"v{version}" if version is not None else None,
    )
    if not decision.should_retrain or decision.run_key is None:
        return SkipReason("; ".join(decision.reasons) or "no breach")
    as_of = today.isoformat()
    reason = "; ".join(decision.reasons)
    return RunRequest(
        run_key=decision.run_key,
        run_config={
            "ops": {
                "training_dataset": {"config": {"as_of_week": as_of, "reason": reason}},
                "churn_model": {"config": {"reference_week": as_of}},
            }
        },
        tags={
            **decision.tags,
            TAG_RUN_KEY: decision.run_key,
            TAG_RETRAIN_REQUEST: "true",
            TAG_REQUESTED_WEEK: as_of,
            "churn/replaced_version": str(version),
        },
    )


@sensor(
    job=training_job,
    minimum_interval_seconds=sensor_interval_s(),
    default_status=sensor_status(),
    description="Requests training_job when the C-index stays below threshold or drift breaches.",
)
def retraining_sensor(
    context: SensorEvaluationContext,
    warehouse: WarehouseResource,
    monitoring: MonitoringResource,
) -> SensorResult:
    result = retraining_request(context.instance, warehouse, monitoring)
    if isinstance(result, SkipReason):
        return SensorResult(skip_reason=result)
    context.log.info("requesting retraining: %s", result.tags.get("churn/retrain_reason"))
    return SensorResult(run_requests=[result])
