"""Score every Monday morning."""

from dagster import build_schedule_from_partitioned_job

from churn_platform.defs.scoring.jobs import weekly_scoring_job

weekly_scoring_schedule = build_schedule_from_partitioned_job(
    weekly_scoring_job,
    hour_of_day=6,
    description="Every Monday 06:00 UTC: score the week that starts that day.",
)
