"""Training data for the CLI's `train`: the built-in simulator or a bring-your-own config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churn_platform.domain.schema import DEFAULT_CONTRACT, FeatureContract
from churn_platform.domain.simulator import make_training_frame


def load_training_data(
    data_config: Path | None, *, n_customers: int, seed: int
) -> tuple[pd.DataFrame, FeatureContract]:
    """Contract-valid training rows (features + duration_days + event) and their contract."""
    if data_config is None:
        raw = make_training_frame(n_customers, seed=seed)
        return DEFAULT_CONTRACT.validate(raw, with_target=True), DEFAULT_CONTRACT
    from churn_platform.domain.mapping import apply_mapping
    from churn_platform.io.sources import load_data_config, read_source

    config = load_data_config(data_config)
    return apply_mapping(read_source(config), config.columns, config.policies)
