"""Features: the week's validated customer features (``customer_features``)."""

from typing import Any

from churn_platform.defs.features.assets import customer_features

ASSETS = [customer_features]
JOBS: list[Any] = []
SCHEDULES: list[Any] = []
SENSORS: list[Any] = []
