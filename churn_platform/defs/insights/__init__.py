"""Insights: performance estimate before labels, segment monitoring, retention list."""

from typing import Any

from churn_platform.defs.insights.assets import (
    performance_estimate,
    retention_list_asset,
    segment_monitoring,
)

ASSETS = [performance_estimate, segment_monitoring, retention_list_asset]
JOBS: list[Any] = []
SCHEDULES: list[Any] = []
SENSORS: list[Any] = []
