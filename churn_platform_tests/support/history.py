"""A small simulated monitoring history shared by the observability tests and the docs figure.

Two model versions: v1 serves weeks 1-3, v2 (promoted after a drift breach) serves weeks 4-6.
Delayed evaluations exist for the first weeks, feature and score drift for every week.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

WEEKS = [date(2025, 7, 7) + timedelta(weeks=i) for i in range(6)]
FEATURES = {"tenure_days": "ks", "monthly_charges": "ks", "plan": "chi2"}
C_INDEX = {  # scoring week -> (version, C-index), labels arrive later
    WEEKS[0]: (1, 0.812),
    WEEKS[1]: (1, 0.796),
    WEEKS[2]: (1, 0.741),
    WEEKS[3]: (2, 0.803),
}


def version_for(week: date) -> int:
    return 1 if week < WEEKS[3] else 2


def evaluations(model_name: str) -> pd.DataFrame:
    rows = [
        {
            "scoring_week": week,
            "model_name": model_name,
            "model_version": version,
            "label_lag_weeks": 13,
            "evaluated_week": week + timedelta(weeks=13),
            "n": 500 + i,
            "n_events": 40 + i,
            "c_index": c,
            "uno_c": c - 0.01,
            "ibs": 0.11 + i / 100,
            "brier": {"90": 0.1},
            "auc": {"90": 0.8},
        }
        for i, (week, (version, c)) in enumerate(C_INDEX.items())
    ]
    return pd.DataFrame(rows)


def calibration(model_name: str) -> pd.DataFrame:
    """Calibration rows at the matured 30-day horizon: the ICI grows for version 1 after the
    drift, the retrained version 2 is calibrated again."""
    rows = []
    for i, (week, (version, _)) in enumerate(C_INDEX.items()):
        ici = 0.003 + (0.004 * i if version == 1 else 0.0)
        rows.append(
            {
                "scoring_week": week,
                "model_name": model_name,
                "model_version": version,
                "label_lag_weeks": 13,
                "horizon_days": 30,
                "evaluated_week": week + timedelta(weeks=13),
                "n": 500 + i,
                "n_events": 20 + i,
                "expected_risk": 0.04,
                "observed_risk": 0.04 + ici,
                "ici": ici,
                "e50": ici / 2,
                "e90": 2 * ici,
                "slope": 1.0 - 5 * ici,
                "deciles": [
                    {"group": g, "n": 50, "n_events": g, "predicted": g / 100, "observed": g / 90}
                    for g in range(1, 11)
                ],
            }
        )
    return pd.DataFrame(rows)


def feature_drift(week: date) -> pd.DataFrame:
    """Drift grows from week 4 on (prices rise): monthly_charges breaches in the last week."""
    i = WEEKS.index(week)
    rows = []
    for j, (feature, test) in enumerate(FEATURES.items()):
        effect = 0.02 + 0.01 * j + (0.05 * i if feature == "monthly_charges" else 0.0)
        p = 1e-6 if effect >= 0.1 else 0.3
        rows.append(
            {
                "column_name": feature,
                "test": test,
                "statistic": effect if test == "ks" else 12.5,
                "p_value": p,
                "effect": effect,
                "psi": effect / 2 if test == "ks" else effect,
                "breached": bool(p < 0.01 and effect >= (0.1 if test == "ks" else 0.2)),
                "model_version": version_for(week),
            }
        )
    return pd.DataFrame(rows)


def score_drift(week: date) -> pd.DataFrame:
    i = WEEKS.index(week)
    return pd.DataFrame(
        [
            {
                "column_name": "risk_score",
                "test": "ks",
                "statistic": 0.03 * i,
                "p_value": 0.5 / (i + 1),
                "effect": 0.03 * i,
                "psi": 0.01 * i,
                "breached": False,
                "model_version": version_for(week),
            }
        ]
    )


def predictions(
    week: date, model_name: str, n: int, horizons: tuple[int, ...], seed: int = 0
) -> pd.DataFrame:
    """Prediction rows shaped like the predictions table (risk scores lognormal)."""
    rng = np.random.default_rng(seed + WEEKS.index(week))
    risk = np.exp(rng.normal(0.1 * WEEKS.index(week), 0.6, n))
    order = np.argsort(-risk)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "scoring_week": week,
            "model_name": model_name,
            "risk_score": risk,
            **{f"churn_prob_{h}d": 1 - np.exp(-risk * h / 1000) for h in horizons},
            "risk_rank": rank,
            "risk_decile": 10 - (rank - 1) * 10 // n,
            "top_drivers": "[]",
            "model_version": version_for(week),
            "model_run_id": f"run{version_for(week)}",
            "model_alias": "production",
            "feature_snapshot_id": f"snap-{week}",
            "dagster_run_id": "test",
            "code_version": "test",
            "scored_at": datetime.combine(week, datetime.min.time(), tzinfo=UTC)
            + timedelta(hours=6, minutes=WEEKS.index(week)),
        }
    )
    return frame
