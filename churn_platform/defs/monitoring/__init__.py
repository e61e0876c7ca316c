"""Monitoring: delayed labels and evaluation, feature drift, score drift (with checks)."""

from typing import Any

from churn_platform.defs.monitoring.assets import (
    churn_labels,
    delayed_evaluation,
    feature_drift,
    score_drift,
)

ASSETS = [churn_labels, delayed_evaluation, feature_drift, score_drift]
JOBS: list[Any] = []
SCHEDULES: list[Any] = []
SENSORS: list[Any] = []
