"""Score every Monday morning (on by default: defs/automation.py).

A plain cron schedule rather than ``build_schedule_from_partitioned_job`` so that the stack's
system test can tick it every minute (``CHURN_SCORING_CRON``); it requests the partition of the
week that starts on the day it ticks, as the partitioned schedule did, with that week as run
key: however often it ticks, each week is scored once.
"""

from datetime import timedelta

from dagster import RunRequest, ScheduleEvaluationContext, schedule

from churn_platform.defs.automation import schedule_status, scoring_cron
from churn_platform.defs.scoring.jobs import weekly_scoring_job


@schedule(
    name="weekly_scoring_job_schedule",
    job=weekly_scoring_job,
    cron_schedule=scoring_cron(),
    execution_timezone="UTC",
    default_status=schedule_status(),
    description="Every Monday 06:00 UTC: score the week that starts that day (one run per week: "
    "the run key is the week).",
)
def weekly_scoring_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = context.scheduled_execution_time.date()
    week = (day - timedelta(days=day.weekday())).isoformat()
    return RunRequest(run_key=f"score:{week}", partition_key=week)
