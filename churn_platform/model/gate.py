"""Validation gate: may a freshly trained model become the ``challenger``?

A model is a challenger only if, on the same holdout rows,
1. it ranks customers better than the Kaplan–Meier null (which cannot rank: C = 0.5) by at
   least ``min_c_over_null``, and its Brier score at the gate horizon is no worse than the null's
   (its probabilities carry information, not just its ranking); and
2. like for like, on the same held-out customers neither model trained on (censored where not
   matured), it is not significantly worse than production overall (paired bootstrap interval
   of the C-index difference) and not worse on the most recent population; and
3. its probabilities are not worse calibrated than production's on those customers: its
   integrated calibration index (ICI, Austin et al. 2020) at ``calibration_horizon`` may exceed
   production's by at most ``max_ici_regression`` (0.01 = one percentage point of churn
   probability on average, the weekly WARN threshold: a challenger that would trip the
   calibration check where production does not is not promoted).
The rules are a list of checks (:data:`DEFAULT_CHECKS`); each says why, pass or fail.
Promotion from challenger to production is a separate, human decision (see registry.promote).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churn_platform.domain.bootstrap import PairedComparison
from churn_platform.domain.calibration import CalibrationResult
from churn_platform.domain.metrics import SurvivalEvaluation, evaluate_survival
from churn_platform.domain.schema import FeatureContract


@dataclass(frozen=True)
class GateConfig:
    min_c_over_null: float = 0.02
    max_c_regression: float = 0.01
    brier_horizon: int = 90
    calibration_horizon: int = 90
    max_ici_regression: float = 0.01


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GateInputs:
    """Everything the checks may look at. ``comparison`` is the paired bootstrap of production
    (a) vs the challenger (b) on the same held-out customers; ``recent`` the same restricted to
    the most recent population (the latest cohort in the holdout)."""

    challenger: SurvivalEvaluation
    km_null: SurvivalEvaluation
    champion: SurvivalEvaluation | None = None
    comparison: PairedComparison | None = None
    recent: PairedComparison | None = None
    calibration: CalibrationResult | None = None
    champion_calibration: CalibrationResult | None = None


@dataclass(frozen=True)
class CheckResult:
    """One rule's verdict with a sentence that says why, pass or fail."""

    passed: bool
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)


GateCheck = Callable[[GateInputs, GateConfig], "CheckResult | None"]
"""A gate rule; ``None`` when it does not apply (e.g. no production model to compare with)."""


def beats_null(inputs: GateInputs, config: GateConfig) -> CheckResult:
    """It ranks customers better than the Kaplan-Meier null (C = 0.5) by a margin."""
    c, null_c = inputs.challenger.c_index, inputs.km_null.c_index
    metrics = {"challenger_c_index": c, "km_null_c_index": null_c}
    if c >= null_c + config.min_c_over_null:
        return CheckResult(True, f"C-index {c:.4f} beats KM null {null_c:.4f}", metrics)
    return CheckResult(
        False,
        f"C-index {c:.4f} does not beat KM null {null_c:.4f} by {config.min_c_over_null}",
        metrics,
    )


def brier_vs_null(inputs: GateInputs, config: GateConfig) -> CheckResult | None:
    """Its probabilities at the gate horizon carry information: Brier no worse than the null."""
    h = config.brier_horizon
    ch, km = inputs.challenger, inputs.km_null
    if h not in ch.brier or h not in km.brier:
        return None
    cb, kb = ch.brier[h], km.brier[h]
    if not (np.isfinite(cb) and np.isfinite(kb)):
        why = ch.undefined.get(f"brier_{h}d", "undefined on the holdout")
        return CheckResult(True, f"Brier@{h}d not compared: {why}")
    if cb <= kb:
        return CheckResult(True, f"Brier@{h}d {cb:.4f} <= KM null {kb:.4f}")
    return CheckResult(False, f"Brier@{h}d {cb:.4f} worse than KM null {kb:.4f}")


def not_worse_than_production(inputs: GateInputs, config: GateConfig) -> CheckResult:
    """Like for like: production and the challenger scored on the same held-out customers.

    With the paired bootstrap (``comparison``): the challenger fails when it is significantly
    worse overall (the whole interval of C(challenger) - C(production) is below 0). Without it
    (older callers): it fails when it loses by more than ``max_c_regression``.
    """
    if inputs.champion is None and inputs.comparison is None:
        return CheckResult(True, "no production model to compare with")
    cmp = inputs.comparison
    if cmp is not None:
        metrics = {
            "champion_c_index": cmp.a.estimate,
            "comparison.c_index_diff": cmp.difference.estimate,
            "comparison.c_index_diff_low": cmp.difference.low,
            "comparison.c_index_diff_high": cmp.difference.high,
            "comparison.n": float(cmp.n),
        }
        text = cmp.describe("production", "challenger")
        if cmp.difference.high < 0:
            return CheckResult(False, f"significantly worse than production: {text}", metrics)
        return CheckResult(True, f"not significantly worse than production: {text}", metrics)
    assert inputs.champion is not None
    c, champ = inputs.challenger.c_index, inputs.champion.c_index
    metrics = {"champion_c_index": champ}
    if c >= champ - config.max_c_regression:
        return CheckResult(
            True,
            f"C-index {c:.4f} vs production {champ:.4f} "
            f"(allowed regression {config.max_c_regression})",
            metrics,
        )
    return CheckResult(
        False,
        f"C-index {c:.4f} loses to production {champ:.4f} by more than {config.max_c_regression}",
        metrics,
    )


def not_worse_on_recent(inputs: GateInputs, config: GateConfig) -> CheckResult | None:
    """On the most recent population (the one it will score next) the challenger must not be
    worse: not significantly (interval entirely below 0) and not by more than
    ``max_c_regression`` in point estimate (a small recent sample is noisy, so an exact
    ``>= 0`` would reject an equally good model half the time)."""
    cmp = inputs.recent
    if cmp is None:
        return None
    metrics = {
        "recent.c_index_diff": cmp.difference.estimate,
        "recent.c_index_diff_low": cmp.difference.low,
        "recent.c_index_diff_high": cmp.difference.high,
        "recent.n": float(cmp.n),
    }
    text = cmp.describe("production", "challenger")
    if cmp.difference.high < 0 or cmp.difference.estimate < -config.max_c_regression:
        return CheckResult(False, f"worse on the most recent customers: {text}", metrics)
    return CheckResult(True, f"not worse on the most recent customers: {text}", metrics)


def calibration_not_worse(inputs: GateInputs, config: GateConfig) -> CheckResult | None:
    """The challenger's ICI at the calibration horizon is not worse than production's by more
    than ``max_ici_regression`` (both on the same held-out customers). Not applicable without
    both calibrations; a horizon the holdout cannot calibrate passes with the reason."""
    ch, prod = inputs.calibration, inputs.champion_calibration
    if ch is None or prod is None:
        return None
    h = ch.horizon_days
    if not (ch.defined and prod.defined):
        why = ch.undefined or prod.undefined
        return CheckResult(True, f"calibration@{h}d not compared: {why}")
    metrics = {f"challenger_ici_{h}d": ch.ici, f"champion_ici_{h}d": prod.ici}
    text = (
        f"ICI@{h}d {ch.ici:.4f} vs production {prod.ici:.4f} "
        f"(allowed regression {config.max_ici_regression})"
    )
    if ch.ici <= prod.ici + config.max_ici_regression:
        return CheckResult(True, text, metrics)
    return CheckResult(False, f"worse calibrated than production: {text}", metrics)


DEFAULT_CHECKS: tuple[GateCheck, ...] = (
    beats_null,
    brier_vs_null,
    not_worse_than_production,
    not_worse_on_recent,
    calibration_not_worse,
)


def gate_decision(
    challenger: SurvivalEvaluation,
    km_null: SurvivalEvaluation,
    champion: SurvivalEvaluation | None,
    config: GateConfig = GateConfig(),
    *,
    comparison: PairedComparison | None = None,
    recent: PairedComparison | None = None,
    calibration: CalibrationResult | None = None,
    champion_calibration: CalibrationResult | None = None,
    checks: Sequence[GateCheck] = DEFAULT_CHECKS,
) -> GateResult:
    """Run every check; each adds a human-readable reason, pass or fail. Passed only if all
    applicable checks pass. ``checks`` is a list so new rules (calibration, ...) slot in."""
    inputs = GateInputs(
        challenger, km_null, champion, comparison, recent, calibration, champion_calibration
    )
    reasons: list[str] = []
    metrics: dict[str, float] = {}
    ok = True
    for check in checks:
        result = check(inputs, config)
        if result is None:
            continue
        ok = ok and result.passed
        reasons.append(result.reason)
        metrics.update(result.metrics)
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
