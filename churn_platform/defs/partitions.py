"""Weekly partitions: one partition per Monday, keyed by its ISO date (e.g. ``2025-03-03``)."""

from __future__ import annotations

import logging
from datetime import date

from dagster import TimeWindowPartitionMapping, WeeklyPartitionsDefinition

from churn_platform.settings import Settings

DEFAULT_START_WEEK = "2025-01-06"  # the simulator's first week


def start_week(settings: Settings | None = None) -> str:
    """The first weekly partition: where the data starts.

    ``CHURN_START_WEEK`` if set (``churn-platform run`` sets it from the data); else, with a
    configured source (``CHURN_DATA_CONFIG``), the Monday of its first snapshot; else the
    simulator's first week.
    """
    s = settings or Settings.from_env()  # read when partitions are first imported
    if "CHURN_START_WEEK" in s.from_environment:
        return s.start_week
    if s.data_config:
        from churn_platform.errors import ChurnPlatformError
        from churn_platform.io.configured_source import ConfiguredSource

        try:
            return ConfiguredSource.from_path(s.data_config).first_week().isoformat()
        except ChurnPlatformError as exc:  # the definitions still load; the assets will say why
            logging.getLogger(__name__).warning(
                "weekly partitions start on %s: the first week of %s could not be read: %s",
                DEFAULT_START_WEEK,
                s.data_config,
                exc,
            )
    return DEFAULT_START_WEEK


# The first week the platform knows about.
START_WEEK = start_week()

# day_offset=1: weeks start on Monday. end_offset=1: the week that starts today is already a
# partition, so Monday's scheduled run scores the week that begins that day.
weekly_partitions = WeeklyPartitionsDefinition(start_date=START_WEEK, day_offset=1, end_offset=1)


def week_of(partition_key: str) -> date:
    """The Monday a partition key stands for."""
    week = date.fromisoformat(partition_key)
    if week.weekday() != 0:
        raise ValueError(f"partition key {partition_key!r} is not a Monday")
    return week


DEFAULT_LABEL_LAG_WEEKS = 13
"""Weeks between scoring a cohort and evaluating it (``MonitoringResource.label_lag_weeks``)."""


def scored_cohort_mapping(
    lag_weeks: int = DEFAULT_LABEL_LAG_WEEKS, *, through_current: bool = False
) -> TimeWindowPartitionMapping:
    """Dependency on ``churn_scores`` of an asset that reads the cohort scored ``lag_weeks``
    before its own week (``through_current=True``: every week from that cohort to its own, for
    assets that read both). Weeks before the first partition are allowed to be missing: the
    first ``lag_weeks`` evaluations have no cohort yet and say so. The mapping is fixed when the
    definitions load; a deployment that configures another ``label_lag_weeks`` still reads the
    right cohort, only the lineage drawn in the UI keeps the default."""
    return TimeWindowPartitionMapping(
        start_offset=-lag_weeks,
        end_offset=0 if through_current else -lag_weeks,
        allow_nonexistent_upstream_partitions=True,
    )
