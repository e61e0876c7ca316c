"""Trained models on simulator data, shared by the model tests (fits are real, data small)."""

from __future__ import annotations

import pandas as pd
import pytest

from churn_platform_tests.support.data import simulated


@pytest.fixture(scope="session")
def small_frame() -> pd.DataFrame:
    return simulated(6_000, seed=7)
