"""Training data: stacked past cohorts of any data source, or the CLI's one-off frame.

:func:`stacked_training_frame` is the one place that builds a training set from a
:class:`~churn_platform.domain.datasource.CustomerDataSource`: several past cohorts (customer x
snapshot week), each followed until the as-of date and censored there, each checked against
the contract on its own (ids are unique within a week, not across weeks).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from churn_platform.domain.datasource import (
    CohortPlan,
    CustomerDataSource,
    stack_cohorts,
    training_cohort_weeks,
)
from churn_platform.domain.schema import DEFAULT_CONTRACT, FeatureContract
from churn_platform.domain.simulator import make_training_frame


def stacked_training_frame(
    source: CustomerDataSource,
    as_of: date,
    plan: CohortPlan,
    contract: FeatureContract | None = None,
) -> tuple[pd.DataFrame, list[date]]:
    """Contract-valid training rows of the cohorts ``plan`` picks as of ``as_of``.

    Reads no snapshot after ``as_of`` and no event after the source's censoring date for
    ``as_of``. Returns the stacked frame and the cohort weeks used (oldest first).
    """
    contract = contract or source.contract()
    weeks = training_cohort_weeks(as_of, plan, source.first_week())
    frames = [
        (week, contract.validate(source.training_frame(week, as_of), with_target=True))
        for week in weeks
    ]
    return stack_cohorts(frames), weeks


def load_training_data(
    data_config: Path | None, *, n_customers: int, seed: int, as_of: date | None = None
) -> tuple[pd.DataFrame, FeatureContract]:
    """Contract-valid training rows (features + duration_days + event) and their contract.

    ``data_config`` may be a single-table config (``source`` + ``columns``: one row per
    customer with duration and event) or a weekly config (``snapshots`` + ``labels``: the
    configured cohorts are stacked as of ``as_of``, by default the last snapshot week).
    """
    if data_config is None:
        raw = make_training_frame(n_customers, seed=seed)
        return DEFAULT_CONTRACT.validate(raw, with_target=True), DEFAULT_CONTRACT
    import yaml

    from churn_platform.domain.source_config import is_weekly_config

    try:
        raw_doc = yaml.safe_load(Path(data_config).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raw_doc = None  # load_data_config below reports it with the file named
    if is_weekly_config(raw_doc):
        from churn_platform.io.configured_source import ConfiguredSource

        source = ConfiguredSource.from_path(str(data_config))
        training = source.config.training
        plan = CohortPlan(
            window_weeks=training.window_weeks,
            n_cohorts=training.cohorts,
            spacing_weeks=training.spacing_weeks,
        )
        frame, _ = stacked_training_frame(source, as_of or source.weeks()[-1], plan)
        return frame, source.contract()
    from churn_platform.domain.mapping import apply_mapping
    from churn_platform.io.sources import load_data_config, read_source

    config = load_data_config(data_config)
    return apply_mapping(read_source(config), config.columns, config.policies)
