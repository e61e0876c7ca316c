"""Observability: the Prometheus metrics export (asset, job, hourly schedule) and the alert on
failed runs."""

from typing import Any

from churn_platform.defs.observability.assets import (
    monitoring_metrics_export,
    monitoring_metrics_export_schedule,
)
from churn_platform.defs.observability.sensors import run_failure_alert

ASSETS = [monitoring_metrics_export]
JOBS: list[Any] = []
SCHEDULES = [monitoring_metrics_export_schedule]
SENSORS = [run_failure_alert]
