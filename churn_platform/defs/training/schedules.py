"""Retrain every quarter, even without an alert (on by default: defs/automation.py)."""

from dagster import RunRequest, ScheduleEvaluationContext, schedule

from churn_platform.defs.automation import schedule_status
from churn_platform.defs.training.jobs import training_job


@schedule(
    job=training_job,
    cron_schedule="0 3 1 1,4,7,10 *",
    execution_timezone="UTC",
    default_status=schedule_status(),
    description="Quarterly retraining, even when no monitor breached (captures slow change).",
)
def quarterly_retraining_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    when = context.scheduled_execution_time
    monday = when.date().toordinal() - when.date().weekday()
    as_of = when.date().fromordinal(monday).isoformat()
    return RunRequest(
        run_key=f"retrain:scheduled:{as_of}",
        run_config={
            "ops": {
                "training_dataset": {
                    "config": {"as_of_week": as_of, "reason": "scheduled quarterly"}
                }
            }
        },
        tags={"churn/retrain_reason": "scheduled quarterly retraining"},
    )
