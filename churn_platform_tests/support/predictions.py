"""Prediction-shaped frames for the predictions repository tests (ranked by risk)."""

from __future__ import annotations

import uuid
from datetime import date

import numpy as np
import pandas as pd

WEEK = date(2024, 3, 4)


MODEL = "churn_model"


def predictions(
    n: int, week: date = WEEK, model: str = MODEL, seed: int = 0, start: int = 0
) -> pd.DataFrame:
    """A prediction-shaped frame for ``n`` customers, ranked by risk."""
    rng = np.random.default_rng(seed)
    risk = rng.lognormal(size=n)
    rank = pd.Series(risk).rank(ascending=False, method="first").astype("int64").to_numpy()
    return pd.DataFrame(
        {
            "customer_id": np.arange(start, start + n, dtype=np.int64),
            "scoring_week": week,
            "model_name": model,
            "risk_score": risk,
            "churn_prob_30d": 1 - np.exp(-0.01 * risk),
            "churn_prob_90d": 1 - np.exp(-0.03 * risk),
            "churn_prob_180d": 1 - np.exp(-0.06 * risk),
            "risk_rank": rank,
            "risk_decile": (10 - (rank - 1) * 10 // n).astype(np.int64),
            "top_drivers": '[["tenure", 0.4], ["contract", 0.2]]',
            "model_version": 3,
            "model_run_id": f"run{seed}",
            "model_alias": "production",
            "feature_snapshot_id": "snap",
            "dagster_run_id": str(uuid.uuid4()),
            "code_version": "abc123",
            "scored_at": pd.Timestamp.now(tz="UTC"),
        }
    )
