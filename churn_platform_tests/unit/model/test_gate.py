"""Validation gate rules (pure)."""

from __future__ import annotations

import pytest

from churn_platform.domain.bootstrap import Interval, PairedComparison
from churn_platform.domain.calibration import CalibrationResult
from churn_platform.domain.metrics import SurvivalEvaluation
from churn_platform.model.gate import DEFAULT_CHECKS, CheckResult, GateConfig, gate_decision


def ev(c: float, brier90: float) -> SurvivalEvaluation:
    return SurvivalEvaluation(
        n=100, n_events=20, c_index=c, uno_c=c, brier={90: brier90}, auc={90: c}, ibs=brier90
    )


NULL = ev(0.5, 0.10)


def test_passes_without_champion_when_it_beats_null() -> None:
    result = gate_decision(ev(0.75, 0.08), NULL, None)
    assert result.passed
    assert "no production model to compare with" in result.reasons


def test_fails_when_not_better_than_null_ranking() -> None:
    result = gate_decision(ev(0.51, 0.08), NULL, None)
    assert not result.passed
    assert any("does not beat KM null" in r for r in result.reasons)


def test_fails_when_probabilities_worse_than_null() -> None:
    result = gate_decision(ev(0.75, 0.12), NULL, None)
    assert not result.passed
    assert any("Brier@90d" in r and "worse" in r for r in result.reasons)


def test_fails_when_losing_to_production_beyond_margin() -> None:
    result = gate_decision(ev(0.74, 0.08), NULL, ev(0.76, 0.08), GateConfig(max_c_regression=0.01))
    assert not result.passed
    assert any("loses to production" in r for r in result.reasons)
    assert result.metrics["champion_c_index"] == 0.76


def test_small_regression_within_margin_passes() -> None:
    result = gate_decision(ev(0.755, 0.08), NULL, ev(0.76, 0.08), GateConfig(max_c_regression=0.01))
    assert result.passed


def _cmp(diff: float, low: float, high: float, n: int = 500) -> PairedComparison:
    return PairedComparison(
        a=Interval(0.80, 0.78, 0.82),
        b=Interval(0.80 + diff, 0.78 + diff, 0.82 + diff),
        difference=Interval(diff, low, high),
        n=n,
        n_events=100,
        resamples=200,
    )


def _ev(c: float) -> SurvivalEvaluation:
    return ev(c, 0.08)


@pytest.mark.parametrize(
    ("overall", "recent", "passed", "needle"),
    [
        ((0.002, -0.01, 0.014), (0.01, -0.01, 0.03), True, "not significantly worse"),
        ((-0.02, -0.03, -0.01), (0.01, -0.01, 0.03), False, "significantly worse than production"),
        ((0.0, -0.01, 0.01), (-0.03, -0.05, -0.01), False, "worse on the most recent"),
        ((0.0, -0.01, 0.01), (-0.02, -0.05, 0.01), False, "worse on the most recent"),
        ((0.0, -0.01, 0.01), (-0.004, -0.03, 0.02), True, "not worse on the most recent"),
    ],
)
def test_like_for_like_rules_say_why(
    overall: tuple[float, float, float],
    recent: tuple[float, float, float],
    passed: bool,
    needle: str,
) -> None:
    result = gate_decision(
        _ev(0.8),
        _ev(0.5),
        _ev(0.8),
        GateConfig(),
        comparison=_cmp(*overall),
        recent=_cmp(*recent, n=100),
    )
    assert result.passed is passed
    assert any(needle in r for r in result.reasons), result.reasons
    assert any("95% CI" in r for r in result.reasons)
    assert result.metrics["comparison.c_index_diff"] == overall[0]


def test_checks_are_a_list_new_rules_slot_in() -> None:
    def never(inputs: object, config: GateConfig) -> CheckResult:
        return CheckResult(False, "calibration: ICI too high", {"ici": 0.2})

    result = gate_decision(_ev(0.8), _ev(0.5), None, checks=(*DEFAULT_CHECKS, never))
    assert not result.passed
    assert result.reasons[-1] == "calibration: ICI too high"
    assert result.metrics["ici"] == 0.2


def _cal(ici: float, undefined: str = "") -> CalibrationResult:
    nan = float("nan")
    return CalibrationResult(
        90, 1000, 80, 0.08, 0.08 + ici, nan if undefined else ici, ici, ici, 1.0,
        undefined=undefined,
    )  # fmt: skip


def test_worse_calibrated_challenger_fails_beyond_the_margin() -> None:
    config = GateConfig(max_ici_regression=0.01)
    champ = ev(0.76, 0.08)
    worse = gate_decision(
        ev(0.77, 0.08),
        NULL,
        champ,
        config,
        calibration=_cal(0.025),
        champion_calibration=_cal(0.01),
    )
    assert not worse.passed
    assert any("worse calibrated than production" in r for r in worse.reasons)
    assert worse.metrics["challenger_ici_90d"] == 0.025
    within = gate_decision(
        ev(0.77, 0.08),
        NULL,
        champ,
        config,
        calibration=_cal(0.018),
        champion_calibration=_cal(0.01),
    )
    assert within.passed and any(r.startswith("ICI@90d 0.0180") for r in within.reasons)


def test_calibration_check_skips_without_production_or_matured_horizon() -> None:
    alone = gate_decision(ev(0.77, 0.08), NULL, None, calibration=_cal(0.5))
    assert alone.passed and not any("ICI" in r for r in alone.reasons)
    young = gate_decision(
        ev(0.77, 0.08),
        NULL,
        ev(0.76, 0.08),
        calibration=_cal(0.0, undefined="calibration at 90 days: no customer was followed up"),
        champion_calibration=_cal(0.01),
    )
    assert young.passed and any("calibration@90d not compared" in r for r in young.reasons)
