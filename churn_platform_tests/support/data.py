"""Simulated, contract-valid training frames (with the true log-hazard kept for checks)."""

from __future__ import annotations

import pandas as pd

from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.domain.simulator import make_training_frame


def simulated(n: int, seed: int, nonlinear: bool = True) -> pd.DataFrame:
    raw = make_training_frame(n, seed=seed, nonlinear=nonlinear)
    frame = DEFAULT_CONTRACT.validate(raw, with_target=True)
    frame["true_log_hazard"] = raw["true_log_hazard"].to_numpy()
    return frame
