"""Schedules: score every Monday morning; retrain every quarter even without an alert."""

from dagster import (
    RunRequest,
    ScheduleEvaluationContext,
    build_schedule_from_partitioned_job,
    schedule,
)

from churn_platform.defs.jobs import training_job, weekly_scoring_job

weekly_scoring_schedule = build_schedule_from_partitioned_job(
    weekly_scoring_job,
    hour_of_day=6,
    description="Every Monday 06:00 UTC: score the week that starts that day.",
)


@schedule(
    job=training_job,
    cron_schedule="0 3 1 1,4,7,10 *",
    execution_timezone="UTC",
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
