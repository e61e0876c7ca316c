"""Weekly calibration monitoring of matured horizons (one use-case helper per step).

The delayed evaluation (:func:`churn_platform.app.monitoring.delayed_evaluation_week`) calls
:func:`calibrate_cohort` for each model version that scored the evaluated cohort: predicted
``P(churn within h days)`` against the labels now known, at every horizon inside the matured
label window (ICI, E50, E90, slope, Kaplan-Meier deciles; see
:mod:`churn_platform.domain.calibration`). Horizons beyond follow-up are not stored; their
reason is logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd

from churn_platform.domain.calibration import CalibrationResult, calibration_at
from churn_platform.errors import DataContractError

__all__ = ["calibrate_cohort", "calibration_rows", "worst_ici"]


def calibrate_cohort(
    predictions: pd.DataFrame, labels: pd.DataFrame, horizons: Sequence[int]
) -> dict[int, CalibrationResult]:
    """Calibration of one cohort's ``churn_prob_<h>d`` at each horizon against its labels.

    ``predictions``: customer_id, churn_prob_<h>d; ``labels``: customer_id, duration_days,
    event. Customers on one side only are left out, as in the delayed evaluation.
    """
    cols = ["customer_id", *[f"churn_prob_{int(h)}d" for h in horizons]]
    joined = predictions[cols].merge(labels, on="customer_id", how="inner", validate="one_to_one")
    if joined.empty:
        raise DataContractError("no customer of the scored cohort has a label yet")
    d = joined["duration_days"].to_numpy(float)
    e = joined["event"].to_numpy(int)
    return {
        int(h): calibration_at(joined[f"churn_prob_{int(h)}d"].to_numpy(float), d, e, int(h))
        for h in sorted(int(h) for h in horizons)
    }


def calibration_rows(
    results: dict[int, CalibrationResult],
    *,
    scoring_week: date,
    evaluated_week: date,
    model_name: str,
    model_version: int,
    label_lag_weeks: int,
    run_id: str,
) -> list[dict[str, Any]]:
    """``calibration_results`` rows for the defined (matured) horizons only."""
    return [
        {
            "scoring_week": scoring_week,
            "model_name": model_name,
            "model_version": int(model_version),
            "label_lag_weeks": int(label_lag_weeks),
            "horizon_days": h,
            "evaluated_week": evaluated_week,
            "n": r.n,
            "n_events": r.n_events,
            "expected_risk": r.expected_risk,
            "observed_risk": r.observed_risk,
            "ici": r.ici,
            "e50": r.e50,
            "e90": r.e90,
            "slope": r.slope,
            "deciles": r.deciles_json(),
            "mlflow_run_id": run_id,
        }
        for h, r in sorted(results.items())
        if r.defined
    ]


def worst_ici(rows: Sequence[dict[str, Any]]) -> tuple[float, dict[str, Any] | None]:
    """The largest ICI among stored calibration rows and its row (NaN, None when none)."""
    best: dict[str, Any] | None = None
    for row in rows:
        ici = float(row["ici"])
        if ici == ici and (best is None or ici > float(best["ici"])):
            best = row
    return (float(best["ici"]), best) if best is not None else (float("nan"), None)
