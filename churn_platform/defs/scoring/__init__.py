"""Scoring: the weekly ``churn_scores`` asset, the weekly job and its Monday schedule, and the
sharded scoring job for bases too big for one process."""

from typing import Any

from churn_platform.defs.scoring.assets import churn_scores
from churn_platform.defs.scoring.jobs import weekly_scoring_job
from churn_platform.defs.scoring.schedules import weekly_scoring_schedule
from churn_platform.defs.scoring.sharded import sharded_scoring_job

ASSETS = [churn_scores]
JOBS = [weekly_scoring_job, sharded_scoring_job]
SCHEDULES = [weekly_scoring_schedule]
SENSORS: list[Any] = []
