"""Validation gate: may a freshly trained model become the ``challenger``?

A model is a challenger only if, on the same holdout rows,
1. it ranks customers better than the Kaplan–Meier null (which cannot rank: C = 0.5) by at
   least ``min_c_over_null``, and its Brier score at the gate horizon is no worse than the null's
   (its probabilities carry information, not just its ranking); and
2. it does not lose to the current production model by more than ``max_c_regression``.
Promotion from challenger to production is a separate, human decision (see registry.promote).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churn_platform.domain.metrics import SurvivalEvaluation, evaluate_survival
from churn_platform.domain.schema import FeatureContract


@dataclass(frozen=True)
class GateConfig:
    min_c_over_null: float = 0.02
    max_c_regression: float = 0.01
    brier_horizon: int = 90


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)


def gate_decision(
    challenger: SurvivalEvaluation,
    km_null: SurvivalEvaluation,
    champion: SurvivalEvaluation | None,
    config: GateConfig = GateConfig(),
) -> GateResult:
    """Apply the gate rules; every rule adds a human-readable reason, pass or fail."""
    reasons: list[str] = []
    ok = True
    null_c = km_null.c_index
    if challenger.c_index >= null_c + config.min_c_over_null:
        reasons.append(f"C-index {challenger.c_index:.4f} beats KM null {null_c:.4f}")
    else:
        ok = False
        reasons.append(
            f"C-index {challenger.c_index:.4f} does not beat KM null {null_c:.4f} "
            f"by {config.min_c_over_null}"
        )
    h = config.brier_horizon
    if h in challenger.brier and h in km_null.brier:
        cb, kb = challenger.brier[h], km_null.brier[h]
        if not (np.isfinite(cb) and np.isfinite(kb)):
            why = challenger.undefined.get(f"brier_{h}d", "undefined on the holdout")
            reasons.append(f"Brier@{h}d not compared: {why}")
        elif cb <= kb:
            reasons.append(f"Brier@{h}d {cb:.4f} <= KM null {kb:.4f}")
        else:
            ok = False
            reasons.append(f"Brier@{h}d {cb:.4f} worse than KM null {kb:.4f}")
    metrics = {"challenger_c_index": challenger.c_index, "km_null_c_index": null_c}
    if champion is None:
        reasons.append("no production model to compare with")
    else:
        metrics["champion_c_index"] = champion.c_index
        floor = champion.c_index - config.max_c_regression
        if challenger.c_index >= floor:
            reasons.append(
                f"C-index {challenger.c_index:.4f} vs production {champion.c_index:.4f} "
                f"(allowed regression {config.max_c_regression})"
            )
        else:
            ok = False
            reasons.append(
                f"C-index {challenger.c_index:.4f} loses to production {champion.c_index:.4f} "
                f"by more than {config.max_c_regression}"
            )
    return GateResult(passed=ok, reasons=tuple(reasons), metrics=metrics)


def evaluate_predictor(
    predict: Callable[[pd.DataFrame], pd.DataFrame],
    train: pd.DataFrame,
    test: pd.DataFrame,
    contract: FeatureContract,
    horizons: Sequence[int],
) -> SurvivalEvaluation:
    """Evaluate any model exposing the pyfunc output (risk_score, churn_prob_<h>d) on ``test``."""
    dur, ev = contract.duration_column, contract.event_column
    pred = predict(test[list(contract.feature_names)])
    hs = [int(h) for h in horizons if f"churn_prob_{int(h)}d" in pred.columns]
    surv = {h: 1.0 - pred[f"churn_prob_{h}d"].to_numpy(dtype=float) for h in hs}
    return evaluate_survival(
        train[dur].to_numpy(float),
        train[ev].to_numpy(int),
        test[dur].to_numpy(float),
        test[ev].to_numpy(int),
        np.asarray(pred["risk_score"], dtype=float),
        surv,
        hs,
    )
