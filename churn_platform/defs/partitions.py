"""Weekly partitions: one partition per Monday, keyed by its ISO date (e.g. ``2025-03-03``)."""

from __future__ import annotations

import os
from datetime import date

from dagster import WeeklyPartitionsDefinition

# The first week the platform knows about; the simulator's history starts here too.
START_WEEK = os.environ.get("CHURN_START_WEEK", "2025-01-06")

# day_offset=1: weeks start on Monday. end_offset=1: the week that starts today is already a
# partition, so Monday's scheduled run scores the week that begins that day.
weekly_partitions = WeeklyPartitionsDefinition(start_date=START_WEEK, day_offset=1, end_offset=1)


def week_of(partition_key: str) -> date:
    """The Monday a partition key stands for."""
    week = date.fromisoformat(partition_key)
    if week.weekday() != 0:
        raise ValueError(f"partition key {partition_key!r} is not a Monday")
    return week
