"""Trained models on simulator data, shared by the model tests (fits are real, data small)."""

from __future__ import annotations

import pandas as pd
import pytest

from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.domain.simulator import make_training_frame


def simulated(n: int, seed: int, nonlinear: bool = True) -> pd.DataFrame:
    raw = make_training_frame(n, seed=seed, nonlinear=nonlinear)
    frame = DEFAULT_CONTRACT.validate(raw, with_target=True)
    frame["true_log_hazard"] = raw["true_log_hazard"].to_numpy()
    return frame


@pytest.fixture(scope="session")
def small_frame() -> pd.DataFrame:
    return simulated(6_000, seed=7)
