"""The pure promotion state machine: every legal transition and the refused ones."""

from __future__ import annotations

import pytest

from churn_platform.domain.promotion import (
    LEGAL,
    Action,
    State,
    Step,
    check_text,
    derive_states,
    plan_nominate,
    plan_promote,
    plan_reject,
    plan_rollback,
)
from churn_platform.errors import (
    IllegalTransitionError,
    InvalidActorError,
    NoPreviousProductionError,
)

C, CH, P, A, R = State.CANDIDATE, State.CHALLENGER, State.PRODUCTION, State.ARCHIVED, State.REJECTED


def test_promote_archives_the_old_production_and_drops_the_challenger_alias() -> None:
    plan = plan_promote({1: P, 2: CH}, 2)
    assert [(s.version, s.from_state, s.to_state) for s in plan.steps] == [(1, P, A), (2, CH, P)]
    assert dict(plan.set_aliases) == {"production": 2}
    assert plan.delete_aliases == ("challenger",)
    assert plan.states_after({1: P, 2: CH}) == {1: A, 2: P}


def test_first_promotion_has_nothing_to_archive() -> None:
    assert [s.to_state for s in plan_promote({1: CH}, 1).steps] == [P]


@pytest.mark.parametrize(
    ("state", "match"),
    [
        (R, "never promoted"),
        (P, "already is production"),
        (A, "rollback"),
        (C, "validation gate"),
    ],
)
def test_only_the_challenger_is_promoted(state: State, match: str) -> None:
    with pytest.raises(IllegalTransitionError, match=match):
        plan_promote({1: state, 2: CH}, 1)


def test_nominate_supersedes_the_previous_challenger() -> None:
    plan = plan_nominate({1: P, 2: CH, 3: C}, 3)
    assert [(s.version, s.to_state, s.action) for s in plan.steps] == [
        (2, C, Action.SUPERSEDE),
        (3, CH, Action.NOMINATE),
    ]
    with pytest.raises(IllegalTransitionError):
        plan_nominate({1: R}, 1)


def test_reject_from_every_non_production_state() -> None:
    for state in (C, CH, A):
        plan = plan_reject({1: state}, 1)
        assert plan.steps[0].to_state == R
        assert plan.delete_aliases == (("challenger",) if state == CH else ())
    with pytest.raises(IllegalTransitionError, match="Roll back first"):
        plan_reject({1: P}, 1)
    with pytest.raises(IllegalTransitionError, match="already rejected"):
        plan_reject({1: R}, 1)
    with pytest.raises(IllegalTransitionError, match="not registered"):
        plan_reject({1: C}, 7)


def test_rollback_defaults_to_the_previous_production() -> None:
    states = {1: A, 2: A, 3: P}
    plan = plan_rollback(states, [1, 2, 3])
    assert plan.version == 2
    assert plan.states_after(states) == {1: A, 2: P, 3: A}
    assert plan_rollback(states, [1, 2, 3], to_version=1).version == 1
    # a rejected former production is skipped by default, refused by name
    assert plan_rollback({1: A, 2: R, 3: P}, [1, 2, 3]).version == 1
    with pytest.raises(IllegalTransitionError, match="only an archived former production"):
        plan_rollback({1: A, 2: R, 3: P}, [1, 2, 3], to_version=2)


def test_rollback_refusals() -> None:
    with pytest.raises(NoPreviousProductionError, match="no version is in production"):
        plan_rollback({1: CH}, [])
    with pytest.raises(NoPreviousProductionError, match="no earlier production"):
        plan_rollback({1: P}, [1])
    with pytest.raises(IllegalTransitionError, match="only an archived former production"):
        plan_rollback({1: A, 2: P}, [2], to_version=1)  # archived, but a superseded... never prod
    with pytest.raises(IllegalTransitionError, match="already is production"):
        plan_rollback({1: A, 2: P}, [1, 2], to_version=2)


def test_steps_outside_the_legal_set_cannot_be_built() -> None:
    assert (R, P) not in LEGAL
    with pytest.raises(IllegalTransitionError):
        Step(1, R, P, Action.PROMOTE)


def test_derive_states_prefers_the_ledger_then_the_aliases() -> None:
    aliases = {"production": 1, "challenger": 3}
    assert derive_states([1, 2, 3, 4], {4: R}, aliases) == {1: P, 2: C, 3: CH, 4: R}


@pytest.mark.parametrize("bad", ["a\x00b", "", "  "])
def test_approver_text_is_checked_before_anything(bad: str) -> None:
    with pytest.raises(InvalidActorError, match="approver"):
        check_text("approver", bad)
    assert check_text("approver", "[/bold] Zoë") == "[/bold] Zoë"
    assert check_text("reason", "", required=False) == ""
