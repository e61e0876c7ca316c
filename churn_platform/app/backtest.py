"""Backtest: how well would the platform's models rank and calibrate on *your* data?

Trains ``xgboost_cox`` and the lifelines ``coxph`` baseline on one part of a file and compares
them with the Kaplan–Meier null on the held-out part. Pure computation over a DataFrame that
already went through the column mapping and the feature contract.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from churn_platform.domain.schema import DEFAULT_HORIZONS, FeatureContract
from churn_platform.model.train import MODEL_NAMES, TrainConfig, TrainingResult, train_models


@dataclass(frozen=True)
class BacktestReport:
    n_train: int
    n_test: int
    horizons: tuple[int, ...]
    result: TrainingResult

    def to_dict(self) -> dict[str, Any]:
        models: dict[str, Any] = {}
        for name in MODEL_NAMES:
            ev = self.result.evaluations[name]
            models[name] = {
                "c_index": ev.c_index,
                "uno_c": ev.uno_c,
                "brier": {str(h): v for h, v in ev.brier.items()},
                "auc": {str(h): v for h, v in ev.auc.items()},
                "ibs": ev.ibs,
                "n_events": ev.n_events,
            }
        return _json_safe({"n_train": self.n_train, "n_test": self.n_test, "models": models})

    def table(self) -> pd.DataFrame:
        rows = []
        for name in MODEL_NAMES:
            ev = self.result.evaluations[name]
            row: dict[str, Any] = {"model": name, "c_index": ev.c_index, "uno_c": ev.uno_c}
            for h in self.horizons:
                row[f"brier_{h}d"] = ev.brier.get(h, float("nan"))
            row["ibs"] = ev.ibs
            rows.append(row)
        return pd.DataFrame(rows)


def run_backtest(
    data: pd.DataFrame,
    contract: FeatureContract,
    *,
    test_size: float = 0.3,
    seed: int = 0,
    horizons: tuple[int, ...] = DEFAULT_HORIZONS,
    min_events: int = 50,
    progress: Callable[[int, float], None] | None = None,
) -> BacktestReport:
    config = TrainConfig(horizons=horizons, seed=seed, min_events=min_events)
    result = train_models(data, contract, config, test_size=test_size, progress=progress)
    return BacktestReport(
        n_train=result.n_train + result.n_validation,
        n_test=result.n_test,
        horizons=horizons,
        result=result,
    )


def _json_safe(value: Any) -> Any:
    """NaN/inf (a metric undefined at a horizon) become null, so the JSON is valid."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
