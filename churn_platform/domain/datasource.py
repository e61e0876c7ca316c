"""The customer data-source interface and the label/cohort arithmetic every source shares.

A subscription business has two things: weekly *snapshots* of its active customers with their
features, and a record of churn *events* (who left, on which day). Everything the platform does
with a source goes through :class:`CustomerDataSource`; it has two implementations, the built-in
simulator (:class:`SimulatorSource`, below) and the configured source
(``churn_platform.io.configured_source.ConfiguredSource``: CSV/Parquet/PostgreSQL via a YAML file).

As-of discipline: work done "as of week W" reads no snapshot after W and no event after W. The
sources enforce it where they read (a ``WHERE`` clause, a Parquet filter, a row filter before
type inference); :func:`cohort_labels` enforces it again on what it is given.

Durations are days from the scoring (cohort) week to the churn date; a customer with no event
by the censoring date (the evaluation date, or the date events are complete up to) is censored
there. Pure code: no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from churn_platform.domain.schema import DEFAULT_CONTRACT, FeatureContract
from churn_platform.domain.simulator import CustomerSimulator

__all__ = [
    "CHURNED_ON",
    "MIN_DURATION_DAYS",
    "CohortPlan",
    "CustomerDataSource",
    "SimulatorSource",
    "cohort_labels",
    "export_tables",
    "stack_cohorts",
    "training_cohort_weeks",
]

log = logging.getLogger(__name__)

CHURNED_ON = "churned_on"
MIN_DURATION_DAYS = 0.5
SNAPSHOT_WEEK = "snapshot_week"
"""Duration of a customer who churned (or is censored) on the day of their cohort: durations
must be > 0 for the survival models."""


@runtime_checkable
class CustomerDataSource(Protocol):
    """Weekly snapshots of active customers plus churn events, read as of a week."""

    def describe(self) -> str:
        """One line naming the source (file, table, simulator size) for logs and metadata."""
        ...

    def first_week(self) -> date:
        """The earliest snapshot week (a Monday): weekly partitions start here."""
        ...

    def contract(self) -> FeatureContract:
        """The feature contract: inferred once from the reference snapshot, then enforced."""
        ...

    def default_cohorts(self) -> int:
        """How many past cohorts a training set stacks by default (see docs/data-sources.md)."""
        ...

    def features_for_week(self, week: date) -> pd.DataFrame:
        """The snapshot of ``week``: ``customer_id`` + contract features, one row per customer.

        Reads nothing from a later snapshot. Raises ``EmptyPartitionError`` for a week without
        rows and ``ContractViolation`` for a snapshot that breaks the contract.
        """
        ...

    def events(self, as_of: date) -> pd.DataFrame:
        """Churn events known as of ``as_of``: ``customer_id``, ``churned_on`` (date).

        Never returns an event dated after ``as_of`` (nor after the date events are complete up
        to, when the source declares one).
        """
        ...

    def censor_date(self, as_of: date) -> date:
        """The date up to which events are complete when read as of ``as_of``."""
        ...

    def labels_for_cohort(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        """``customer_id``, ``duration_days``, ``event`` of the ``cohort_week`` base as of
        ``as_of``."""
        ...

    def training_frame(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        """Features of ``cohort_week`` with their labels as of ``as_of`` (one cohort)."""
        ...


# --------------------------------------------------------------------------------------------
# Labels: durations from the cohort week, censored at the evaluation date
# --------------------------------------------------------------------------------------------


def cohort_labels(
    cohort_ids: pd.Series,
    events: pd.DataFrame,
    cohort_week: date,
    censor_at: date,
    *,
    id_column: str = "customer_id",
) -> pd.DataFrame:
    """Survival labels of one cohort: days from ``cohort_week`` to churn, censored at
    ``censor_at``.

    ``events`` holds ``id_column`` and ``churned_on`` (dates). Per customer the first event on
    or after ``cohort_week`` and on or before ``censor_at`` counts; policies (logged, documented
    in docs/data-sources.md):

    * an event dated *before* the cohort week belongs to an earlier spell (the customer came
      back: they are in this snapshot, so active) and is ignored for this cohort;
    * an event after ``censor_at`` is not known yet and is ignored (as-of discipline);
    * events of customers outside the cohort are not used.

    A churn on the cohort day itself gets :data:`MIN_DURATION_DAYS`. Rows come back in the
    order of ``cohort_ids``.
    """
    if censor_at < cohort_week:
        raise ValueError(f"censoring date {censor_at} is before the cohort week {cohort_week}")
    ids = pd.Series(cohort_ids.to_numpy(), name=id_column)
    start = pd.Timestamp(cohort_week)
    end = pd.Timestamp(censor_at)
    ev = events[[id_column, CHURNED_ON]]
    when = pd.to_datetime(ev[CHURNED_ON])
    in_cohort = ev[id_column].isin(ids)
    before = in_cohort & (when < start)
    if before.any():
        log.info(
            "%d churn event(s) of customers in the %s snapshot are dated before it (came back "
            "after churning?); ignored for this cohort",
            int(before.sum()),
            cohort_week,
        )
    outside = ~in_cohort & (when >= start) & (when <= end)
    if outside.any():
        log.info(
            "%d churn event(s) between %s and %s are of customers not in the %s snapshot "
            "(unknown ids or customers who joined later); not used for this cohort",
            int(outside.sum()),
            cohort_week,
            censor_at,
            cohort_week,
        )
    usable = in_cohort & (when >= start) & (when <= end)
    first = (
        pd.DataFrame({id_column: ev[id_column][usable].to_numpy(), "t": when[usable].to_numpy()})
        .groupby(id_column, sort=False)["t"]
        .min()
    )
    churn_at = ids.map(first)
    event = churn_at.notna().to_numpy()
    days_to_churn = ((churn_at - start).dt.total_seconds() / 86_400.0).to_numpy(dtype=float)
    window = float((end - start).days)
    duration = np.where(event, days_to_churn, window)
    duration = np.maximum(duration, MIN_DURATION_DAYS)
    return pd.DataFrame(
        {
            id_column: ids.to_numpy(),
            "duration_days": duration.astype(np.float64),
            "event": event.astype(np.int64),
        }
    )


# --------------------------------------------------------------------------------------------
# Training cohorts: which past weeks a training set stacks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortPlan:
    """Which past cohorts a training set as of ``as_of`` stacks.

    ``window_weeks``: the oldest cohort is this many weeks before ``as_of`` (clipped to the first
    week of data). ``n_cohorts`` cohorts are taken every ``spacing_weeks`` from there, each
    followed until ``as_of`` and censored there; cohorts followed for less than
    ``min_follow_weeks`` are left out (they would add almost only censored rows).
    """

    window_weeks: int = 26
    n_cohorts: int = 1
    spacing_weeks: int = 4
    min_follow_weeks: int = 4

    def __post_init__(self) -> None:
        for name in ("window_weeks", "n_cohorts", "spacing_weeks", "min_follow_weeks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def training_cohort_weeks(as_of: date, plan: CohortPlan, first_week: date) -> list[date]:
    """The cohort weeks a training set as of ``as_of`` stacks (oldest first, at least one).

    Shared by every source (the simulator and configured sources): one definition of "which
    past cohorts", so a training set means the same thing everywhere.
    """
    oldest = max(as_of - timedelta(weeks=plan.window_weeks), first_week)
    latest = as_of - timedelta(weeks=plan.min_follow_weeks)
    weeks = [oldest + timedelta(weeks=plan.spacing_weeks * i) for i in range(plan.n_cohorts)]
    kept = [w for w in weeks if w <= latest]
    if not kept:
        if oldest >= as_of:
            raise ValueError(
                f"no snapshot before {as_of} to train on: the data starts on {first_week}"
            )
        kept = [oldest]
    return kept


def stack_cohorts(frames: Sequence[tuple[date, pd.DataFrame]]) -> pd.DataFrame:
    """Concatenate per-cohort training frames (customer x snapshot week).

    The same customer appears once per cohort they belong to; the ``snapshot_week`` column
    (ISO date) says which (the gate compares models on the most recent one). Ids are unique
    within a cohort (checked per week by the contract), not across; the training split holds
    customers out by a hash of their id, so one customer's rows never straddle train and test,
    and training weights each row 1/snapshots of its customer.
    """
    parts = [df.assign(**{SNAPSHOT_WEEK: week.isoformat()}) for week, df in frames]
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------------------------
# The simulator behind the interface
# --------------------------------------------------------------------------------------------


class SimulatorSource:
    """The built-in simulator as a :class:`CustomerDataSource`.

    Churn events are the simulated churn days as calendar dates; a churn becomes known
    ``label_delay_weeks`` after it happens (events are complete up to ``as_of`` minus that
    delay), exactly as a configured source with ``labels.delay_days`` would report them.
    """

    def __init__(self, simulator: CustomerSimulator, *, n_cohorts: int = 1) -> None:
        self.simulator = simulator
        self._n_cohorts = n_cohorts

    def describe(self) -> str:
        cfg = self.simulator.config
        return f"simulator ({cfg.n_customers} customers, seed {cfg.seed})"

    def first_week(self) -> date:
        return self.simulator.config.start_week

    def contract(self) -> FeatureContract:
        return DEFAULT_CONTRACT

    def default_cohorts(self) -> int:
        return self._n_cohorts

    def features_for_week(self, week: date) -> pd.DataFrame:
        return self.simulator.features_for_week(week)

    def censor_date(self, as_of: date) -> date:
        return as_of - timedelta(weeks=self.simulator.config.label_delay_weeks)

    def events(self, as_of: date) -> pd.DataFrame:
        return self.simulator.churn_events(self.censor_date(as_of))

    def labels_for_cohort(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        ids = self.simulator.features_for_week(cohort_week)["customer_id"]
        censor = max(self.censor_date(as_of), cohort_week)
        return cohort_labels(ids, self.events(as_of), cohort_week, censor)

    def training_frame(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        features = self.features_for_week(cohort_week)
        labels = self.labels_for_cohort(cohort_week, as_of)
        return features.merge(labels, on="customer_id", how="inner", validate="one_to_one")


def export_tables(
    source: CustomerDataSource, weeks: Sequence[date], *, week_column: str = "snapshot_week"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The snapshots (one row per customer and week, ``week_column`` first) and the churn
    events (``customer_id``, ``churned_on``; complete up to the last week) of ``weeks``.

    Exports the simulator as a user's files or tables would look, for the public example in
    ``configs/`` and the equivalence tests (configured source vs simulator path). Hidden
    ground-truth columns are left out.
    """
    parts = []
    for week in weeks:
        snap = source.features_for_week(week)
        keep = ["customer_id", *source.contract().feature_names]
        frame = snap[keep].copy()
        frame.insert(0, week_column, week.isoformat())
        parts.append(frame)
    snapshots = pd.concat(parts, ignore_index=True)
    last = max(weeks)
    if isinstance(source, SimulatorSource):
        events = source.simulator.churn_events(last)
    else:
        events = source.events(last)
    events = events[events["customer_id"].isin(snapshots["customer_id"])]
    events = events.assign(churned_on=[d.isoformat() for d in events[CHURNED_ON]])
    return snapshots, events.reset_index(drop=True)
