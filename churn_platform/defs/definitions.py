"""The one explicit Dagster ``Definitions`` object of churn_platform.

Resources come from :func:`~churn_platform.defs.resources.build_resources` over the settings
read from the environment; connection values that came from the environment are ``EnvVar``
references (never shown in the UI). ``churn-platform dev`` bootstraps first (starting the
embedded PostgreSQL when nothing is configured) and exports the resolved locations to this
code location's process.
"""

from __future__ import annotations

from dagster import Definitions

from churn_platform.defs import (
    features,
    insights,
    monitoring,
    observability,
    promotion,
    scoring,
    training,
)
from churn_platform.defs.resources import build_resources
from churn_platform.settings import Settings

CAPABILITIES = (features, training, scoring, monitoring, insights, promotion, observability)
"""One package per capability under defs/, each listing its ASSETS, JOBS, SCHEDULES, SENSORS."""

ASSETS = [a for c in CAPABILITIES for a in c.ASSETS]

defs = Definitions(
    assets=ASSETS,
    jobs=[j for c in CAPABILITIES for j in c.JOBS],
    schedules=[s for c in CAPABILITIES for s in c.SCHEDULES],
    sensors=[s for c in CAPABILITIES for s in c.SENSORS],
    resources=build_resources(Settings.from_env()),
)
