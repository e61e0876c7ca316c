"""Validation gate rules (pure)."""

from __future__ import annotations

from churn_platform.domain.metrics import SurvivalEvaluation
from churn_platform.model.gate import GateConfig, gate_decision


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
