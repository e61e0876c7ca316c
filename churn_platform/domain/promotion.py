"""The promotion lifecycle of a model version as a pure state machine.

States::

    candidate ──gate passed──▶ challenger ──promote (human)──▶ production ──replaced──▶ archived
        │                          │  ▲                                        │   ▲
        └──────reject──────────────┴──┼──────────▶ rejected ◀──────reject──────┘   │
                                      │                                            │
                       superseded by a newer challenger: back to candidate         │
                       rollback: an archived former production ─▶ production ──────┘

* ``candidate``: registered, not (or no longer) the challenger.
* ``challenger``: passed the validation gate; holds the ``challenger`` alias; only this version
  can be promoted.
* ``production``: holds the ``production`` alias; exactly one version at a time.
* ``archived``: a former production version (replaced by a promotion or a rollback); the only
  state a rollback can return to production.
* ``rejected``: a human said no. Final: a rejected version is never promoted or rolled back to.

Production cannot be rejected directly: roll back (or promote a replacement) first, so there is
never a moment without a production model. Every function here only *plans* a transition from the
current states; the application layer applies the plan to MLflow and the ledger atomically.
Illegal requests raise :class:`~churn_platform.errors.IllegalTransitionError` (or a subclass)
before anything changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from churn_platform.errors import (
    IllegalTransitionError,
    InvalidActorError,
    NoPreviousProductionError,
)

PRODUCTION_ALIAS = "production"
CHALLENGER_ALIAS = "challenger"


class State(StrEnum):
    CANDIDATE = "candidate"
    CHALLENGER = "challenger"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    REJECTED = "rejected"


class Action(StrEnum):
    REGISTER = "register"
    NOMINATE = "nominate"  # the gate made it the challenger
    SUPERSEDE = "supersede"  # a newer challenger took the alias
    PROMOTE = "promote"
    REJECT = "reject"
    ROLLBACK = "rollback"
    ARCHIVE = "archive"  # the production version replaced by a promotion or rollback


#: Every legal (from, to) pair; anything else is refused.
LEGAL: frozenset[tuple[State | None, State]] = frozenset(
    {
        (None, State.CANDIDATE),
        (State.CANDIDATE, State.CHALLENGER),
        (State.CHALLENGER, State.CANDIDATE),
        (State.CHALLENGER, State.PRODUCTION),
        (State.PRODUCTION, State.ARCHIVED),
        (State.ARCHIVED, State.PRODUCTION),
        (State.CANDIDATE, State.REJECTED),
        (State.CHALLENGER, State.REJECTED),
        (State.ARCHIVED, State.REJECTED),
    }
)


@dataclass(frozen=True)
class Step:
    """One version moving from one state to another."""

    version: int
    from_state: State | None
    to_state: State
    action: Action

    def __post_init__(self) -> None:
        if (self.from_state, self.to_state) not in LEGAL:
            raise IllegalTransitionError(
                f"v{self.version}: {self.from_state} → {self.to_state} is not a legal transition"
            )


@dataclass(frozen=True)
class Plan:
    """What one transition changes: version states, and the aliases that follow from them."""

    action: Action
    version: int
    steps: tuple[Step, ...]
    set_aliases: Mapping[str, int] = field(default_factory=dict)
    delete_aliases: tuple[str, ...] = ()

    def states_after(self, states: Mapping[int, State]) -> dict[int, State]:
        after = dict(states)
        for step in self.steps:
            after[step.version] = step.to_state
        return after


def check_text(name: str, value: str, *, required: bool = True, limit: int = 2000) -> str:
    """Approver names and reasons are data: any printable text, but no NUL byte (PostgreSQL
    ``text`` cannot store it) and, for ``required`` fields, not blank. Raised before anything
    changes."""
    if not isinstance(value, str):
        raise InvalidActorError(f"{name} must be text, got {type(value).__name__}")
    if "\x00" in value:
        raise InvalidActorError(
            f"{name} contains a NUL byte (\\x00) at position {value.index(chr(0))}; "
            "remove it (nothing was changed)"
        )
    if required and not value.strip():
        raise InvalidActorError(f"{name} is required and must not be blank (nothing was changed)")
    if len(value) > limit:
        raise InvalidActorError(
            f"{name} is {len(value)} characters long; at most {limit} are allowed"
        )
    return value


def derive_states(
    versions: Sequence[int],
    ledger_states: Mapping[int, State],
    aliases: Mapping[str, int],
) -> dict[int, State]:
    """Current state of every version: the ledger's last word, else (versions registered before
    the ledger existed) what the aliases say: production, challenger, or candidate."""
    states: dict[int, State] = {}
    for v in versions:
        if v in ledger_states:
            states[v] = ledger_states[v]
        elif aliases.get(PRODUCTION_ALIAS) == v:
            states[v] = State.PRODUCTION
        elif aliases.get(CHALLENGER_ALIAS) == v:
            states[v] = State.CHALLENGER
        else:
            states[v] = State.CANDIDATE
    return states


def _state_of(states: Mapping[int, State], version: int) -> State:
    if version not in states:
        known = ", ".join(f"v{v}" for v in sorted(states)) or "none"
        raise IllegalTransitionError(
            f"version {version} is not registered (registered versions: {known})"
        )
    return states[version]


def _holder(states: Mapping[int, State], state: State) -> int | None:
    held = [v for v, s in states.items() if s == state]
    return max(held) if held else None


def plan_nominate(states: Mapping[int, State], version: int) -> Plan:
    """The gate passed: ``version`` becomes the challenger; an older challenger goes back to
    candidate (it can no longer be promoted)."""
    current = _state_of(states, version)
    if current != State.CANDIDATE:
        raise IllegalTransitionError(
            f"version {version} is {current}; only a candidate can become the challenger"
        )
    steps = []
    old = _holder(states, State.CHALLENGER)
    if old is not None:
        steps.append(Step(old, State.CHALLENGER, State.CANDIDATE, Action.SUPERSEDE))
    steps.append(Step(version, State.CANDIDATE, State.CHALLENGER, Action.NOMINATE))
    return Plan(Action.NOMINATE, version, tuple(steps), {CHALLENGER_ALIAS: version})


def plan_promote(states: Mapping[int, State], version: int) -> Plan:
    """Human approval: the challenger ``version`` becomes production; the old production is
    archived. The promoted version gives up the ``challenger`` alias."""
    current = _state_of(states, version)
    if current != State.CHALLENGER:
        challenger = _holder(states, State.CHALLENGER)
        held = "no version" if challenger is None else f"v{challenger}"
        hint = {
            State.REJECTED: "it was rejected; rejected versions are never promoted",
            State.PRODUCTION: "it already is production",
            State.ARCHIVED: "it is a former production version: use rollback --to-version",
        }.get(current, "only a challenger that passed the validation gate can be promoted")
        raise IllegalTransitionError(
            f"cannot promote version {version}: it is {current}, not the challenger "
            f"({held} is); {hint}"
        )
    steps = []
    old = _holder(states, State.PRODUCTION)
    if old is not None:
        steps.append(Step(old, State.PRODUCTION, State.ARCHIVED, Action.ARCHIVE))
    steps.append(Step(version, State.CHALLENGER, State.PRODUCTION, Action.PROMOTE))
    return Plan(
        Action.PROMOTE,
        version,
        tuple(steps),
        {PRODUCTION_ALIAS: version},
        (CHALLENGER_ALIAS,),
    )


def plan_reject(states: Mapping[int, State], version: int) -> Plan:
    """A human rejects ``version`` (candidate, challenger or archived). Production is refused:
    roll back or promote a replacement first."""
    current = _state_of(states, version)
    if current == State.PRODUCTION:
        raise IllegalTransitionError(
            f"cannot reject version {version}: it is production. Roll back first "
            "(`churn-platform rollback`), then reject it"
        )
    if current == State.REJECTED:
        raise IllegalTransitionError(f"version {version} is already rejected")
    deletes = (CHALLENGER_ALIAS,) if current == State.CHALLENGER else ()
    return Plan(
        Action.REJECT,
        version,
        (Step(version, current, State.REJECTED, Action.REJECT),),
        {},
        deletes,
    )


def plan_rollback(
    states: Mapping[int, State],
    production_history: Sequence[int],
    to_version: int | None = None,
) -> Plan:
    """Production goes back to an archived former production version (default: the one in
    production just before the current one); the current production is archived.

    ``production_history``: versions in the order they became production (the ledger's word).
    """
    current = _holder(states, State.PRODUCTION)
    if current is None:
        raise NoPreviousProductionError("cannot roll back: no version is in production")
    former = [v for v in production_history if v != current]
    if to_version is None:
        eligible = [v for v in former if states.get(v) == State.ARCHIVED]
        if not eligible:
            raise NoPreviousProductionError(
                f"cannot roll back v{current}: no earlier production version is archived "
                "(none before it, or they were rejected)"
            )
        target = eligible[-1]
    else:
        target = to_version
        state = _state_of(states, target)
        if target == current:
            raise IllegalTransitionError(f"version {target} already is production")
        if state != State.ARCHIVED or target not in former:
            raise IllegalTransitionError(
                f"cannot roll back to version {target}: it is {state}; only an archived former "
                "production version can be rolled back to"
            )
    return Plan(
        Action.ROLLBACK,
        target,
        (
            Step(current, State.PRODUCTION, State.ARCHIVED, Action.ARCHIVE),
            Step(target, State.ARCHIVED, State.PRODUCTION, Action.ROLLBACK),
        ),
        {PRODUCTION_ALIAS: target},
    )
