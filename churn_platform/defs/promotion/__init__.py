"""Promotion: the human-in-the-loop lifecycle jobs (promote the challenger, reject, roll back)."""

from typing import Any

from churn_platform.defs.promotion.jobs import (
    promote_model_job,
    reject_model_job,
    rollback_model_job,
)

ASSETS: list[Any] = []
JOBS = [promote_model_job, reject_model_job, rollback_model_job]
SCHEDULES: list[Any] = []
SENSORS: list[Any] = []
