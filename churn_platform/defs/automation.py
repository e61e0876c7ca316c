"""Whether schedules and sensors run by default, and how often: one switch for deployments.

Schedules and sensors are declared ``RUNNING`` so a fresh deployment scores every Monday and
watches its monitors without anyone clicking a toggle. ``CHURN_AUTOMATION=off`` (read by the
code location when it loads) declares them ``STOPPED`` instead, e.g. for a staging copy of
production data; an operator can still start or stop each one in the UI (Automation) or with
``dagster schedule start|stop`` / ``dagster sensor start|stop``, and that choice is stored in
the instance and wins over the default.

``CHURN_SCORING_CRON`` (default ``0 6 * * 1``, Mondays 06:00 UTC) and
``CHURN_SENSOR_INTERVAL_S`` (default 600) exist for the local stack's system test, which cannot
wait for Monday: it ticks the scoring schedule every minute (each week is still scored once:
the run key is the week) and evaluates the retraining sensor every few seconds.
"""

from __future__ import annotations

import os

from dagster import DefaultScheduleStatus, DefaultSensorStatus

AUTOMATION_ENV = "CHURN_AUTOMATION"
SCORING_CRON_ENV = "CHURN_SCORING_CRON"
SENSOR_INTERVAL_ENV = "CHURN_SENSOR_INTERVAL_S"
DEFAULT_SCORING_CRON = "0 6 * * 1"
DEFAULT_SENSOR_INTERVAL_S = 600


def automation_on() -> bool:
    """False when ``CHURN_AUTOMATION`` is off/false/0/no (case-insensitive); True otherwise."""
    return os.environ.get(AUTOMATION_ENV, "on").strip().lower() not in {"off", "false", "0", "no"}


def schedule_status() -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if automation_on() else DefaultScheduleStatus.STOPPED


def sensor_status() -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if automation_on() else DefaultSensorStatus.STOPPED


def scoring_cron() -> str:
    return os.environ.get(SCORING_CRON_ENV, "").strip() or DEFAULT_SCORING_CRON


def sensor_interval_s() -> int:
    raw = os.environ.get(SENSOR_INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_SENSOR_INTERVAL_S
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{SENSOR_INTERVAL_ENV} must be whole seconds, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{SENSOR_INTERVAL_ENV} must be >= 1, got {value}")
    return value
