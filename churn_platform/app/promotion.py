"""Promotion lifecycle use cases: nominate (gate), promote, reject, roll back.

Each transition is planned by the pure state machine (``domain/promotion.py``) and applied so
that the MLflow aliases, the MLflow version tags (``churn.state``, ``churn.production_by``,
``churn.challenger_by``) and the PostgreSQL ledger always agree:

1. open a ledger transaction holding the model's advisory lock (transitions are serialized);
2. read the current states (ledger, else aliases) and plan; an illegal request raises a named
   error here, before anything changed;
3. write the ledger rows (and ``alias_history`` rows) in that transaction, uncommitted;
4. snapshot the MLflow aliases and tags the plan touches, then apply the MLflow changes;
5. commit. If step 4 or the commit fails, the MLflow snapshot is restored (compensation) and
   the transaction rolls back: nothing changed anywhere.

Notifications are *not* part of a transition: callers send them after it returned, with
:func:`notify_safely`, whose failure is logged and never undoes or fails the committed step.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from churn_platform.domain.promotion import (
    CHALLENGER_ALIAS,
    PRODUCTION_ALIAS,
    Plan,
    State,
    check_text,
    derive_states,
    plan_nominate,
    plan_promote,
    plan_reject,
    plan_rollback,
)
from churn_platform.errors import ChurnPlatformError, StorageError, TransitionFailedError
from churn_platform.io.ledger import LedgerRow, PromotionLedger
from churn_platform.io.notify import Notification, Notifier
from churn_platform.io.registry import ModelRegistry
from churn_platform.io.results import AliasHistory

log = logging.getLogger(__name__)

STATE_TAG = "churn.state"
BY_TAG = {PRODUCTION_ALIAS: "churn.production_by", CHALLENGER_ALIAS: "churn.challenger_by"}
MANAGED_TAGS = (STATE_TAG, *BY_TAG.values())
MANAGED_ALIASES = (PRODUCTION_ALIAS, CHALLENGER_ALIAS)
SNAPSHOT_PREFIXES = ("holdout.xgboost_cox.", "gate.", "comparison.")


@dataclass(frozen=True)
class TransitionResult:
    """A committed transition: what moved, who did it and why."""

    model_name: str
    action: str
    version: int
    transition_id: str
    moves: tuple[tuple[int, str | None, str], ...]  # (version, from_state, to_state)
    actor: str
    reason: str
    production: int | None  # version holding @production afterwards

    def describe(self) -> str:
        moved = ", ".join(f"v{v}: {a or 'new'} → {b}" for v, a, b in self.moves)
        return f"{self.model_name} {self.action} v{self.version} ({moved})"


def ledger_of(registry: ModelRegistry) -> PromotionLedger:
    """The promotion ledger in the same database/schema as the registry's alias history."""
    history = registry.alias_history
    if not isinstance(history, AliasHistory):
        raise StorageError(
            f"model {registry.model_name!r}: promotions need the PostgreSQL ledger, but this "
            "registry was opened without a database (alias_history)"
        )
    return PromotionLedger(history.engine, history.tables.schema)


def current_states(registry: ModelRegistry, ledger: PromotionLedger) -> dict[int, State]:
    """State of every registered version (outside any transition; for display)."""
    recorded = {v: State(s) for v, s in ledger.current_states(registry.model_name).items()}
    return derive_states(registry.versions(), recorded, registry.aliases())


# ---------------------------------------------------------------- the transaction machinery
@dataclass(frozen=True)
class _MlflowSnapshot:
    aliases: dict[str, int]
    tags: dict[int, dict[str, str]]


def _snapshot(registry: ModelRegistry, versions: set[int]) -> _MlflowSnapshot:
    aliases = {a: v for a, v in registry.aliases().items() if a in MANAGED_ALIASES}
    tags = {}
    for v in versions:
        all_tags = registry.version_tags(v)
        tags[v] = {k: all_tags[k] for k in MANAGED_TAGS if k in all_tags}
    return _MlflowSnapshot(aliases, tags)


def _restore(registry: ModelRegistry, snap: _MlflowSnapshot) -> None:
    """Compensation: put the managed aliases and tags back as they were (best effort, each
    call independent, so one failure does not stop the others)."""
    problems: list[str] = []
    for alias in MANAGED_ALIASES:
        try:
            registry.point_alias(alias, snap.aliases.get(alias))
        except Exception as exc:
            problems.append(f"alias {alias}: {exc}")
    for v, tags in snap.tags.items():
        for key in MANAGED_TAGS:
            try:
                registry.put_version_tag(v, key, tags.get(key))
            except Exception as exc:
                problems.append(f"v{v} tag {key}: {exc}")
    if problems:
        log.error("compensation incomplete for %s: %s", registry.model_name, "; ".join(problems))


def _apply(registry: ModelRegistry, plan: Plan, actor: str) -> None:
    """The MLflow side of a plan: aliases, then each version's tags."""
    for alias in plan.delete_aliases:
        if alias not in plan.set_aliases:
            registry.point_alias(alias, None)
    for alias, version in plan.set_aliases.items():
        registry.point_alias(alias, version)
    for step in plan.steps:
        registry.put_version_tag(step.version, STATE_TAG, step.to_state.value)
        if step.to_state == State.PRODUCTION:
            registry.put_version_tag(step.version, BY_TAG[PRODUCTION_ALIAS], actor)
        elif step.from_state == State.PRODUCTION:
            registry.put_version_tag(step.version, BY_TAG[PRODUCTION_ALIAS], None)
        if step.to_state == State.CHALLENGER:
            registry.put_version_tag(step.version, BY_TAG[CHALLENGER_ALIAS], actor)
        elif step.from_state == State.CHALLENGER:
            registry.put_version_tag(step.version, BY_TAG[CHALLENGER_ALIAS], None)


def _metrics_snapshot(registry: ModelRegistry, version: int) -> dict[str, float]:
    try:
        metrics = registry.run_metrics(registry.run_id_of(version))
    except Exception as exc:  # documentation only: a transition never fails for it
        log.warning("no metrics snapshot for v%s: %s", version, exc)
        return {}
    return {k: v for k, v in metrics.items() if k.startswith(SNAPSHOT_PREFIXES)}


def transition(
    registry: ModelRegistry,
    planner: Callable[[dict[int, State], list[int]], Plan],
    *,
    actor: str,
    reason: str,
    ledger: PromotionLedger | None = None,
) -> TransitionResult:
    """Plan and apply one transition atomically (see the module docstring)."""
    check_text("approver", actor)
    check_text("reason", reason, required=False)
    ledger = ledger or ledger_of(registry)
    name = registry.model_name
    snap: _MlflowSnapshot | None = None
    try:
        with ledger.transaction(name) as conn:
            recorded = {v: State(s) for v, s in ledger.states(conn, name).items()}
            aliases = registry.aliases()
            states = derive_states(registry.versions(), recorded, aliases)
            plan = planner(states, ledger.production_history(conn, name))
            tid = uuid.uuid4().hex
            rows = [
                LedgerRow(
                    tid,
                    name,
                    s.version,
                    s.action.value,
                    s.from_state.value if s.from_state else None,
                    s.to_state.value,
                    actor,
                    reason,
                    _metrics_snapshot(registry, s.version),
                )
                for s in plan.steps
            ]
            moves = [(a, v, aliases.get(a)) for a, v in plan.set_aliases.items()]
            ledger.append(conn, rows, moves)
            snap = _snapshot(registry, {s.version for s in plan.steps})
            _apply(registry, plan, actor)
    except ChurnPlatformError:
        if snap is not None:
            _restore(registry, snap)
        raise
    except Exception as exc:
        if snap is not None:
            _restore(registry, snap)
        raise TransitionFailedError(
            f"{name}: {planner.__name__ if hasattr(planner, '__name__') else 'transition'} "
            f"failed and was rolled back (ledger and MLflow unchanged): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    after = plan.states_after(states)
    production = next((v for v, s in after.items() if s == State.PRODUCTION), None)
    result = TransitionResult(
        name,
        plan.action.value,
        plan.version,
        tid,
        tuple(
            (s.version, s.from_state.value if s.from_state else None, s.to_state.value)
            for s in plan.steps
        ),
        actor,
        reason,
        production,
    )
    log.info("%s by %s: %s", result.describe(), actor, reason)
    return result


# ---------------------------------------------------------------- use cases
def nominate(registry: ModelRegistry, version: int, *, actor: str, reason: str) -> TransitionResult:
    """The validation gate passed: ``version`` becomes the challenger."""
    return transition(registry, lambda s, _h: plan_nominate(s, version), actor=actor, reason=reason)


def promote(
    registry: ModelRegistry, version: int, *, approver: str, reason: str
) -> TransitionResult:
    """Human approval: the challenger ``version`` becomes production; the old one is archived."""
    return transition(
        registry, lambda s, _h: plan_promote(s, version), actor=approver, reason=reason
    )


def reject(
    registry: ModelRegistry, version: int, *, approver: str, reason: str
) -> TransitionResult:
    """A human rejects ``version`` (not production: roll back first)."""
    return transition(
        registry, lambda s, _h: plan_reject(s, version), actor=approver, reason=reason
    )


def rollback(
    registry: ModelRegistry,
    *,
    approver: str,
    reason: str,
    to_version: int | None = None,
) -> TransitionResult:
    """Production goes back to ``to_version`` (default: the previous production version)."""
    return transition(
        registry, lambda s, h: plan_rollback(s, h, to_version), actor=approver, reason=reason
    )


# ---------------------------------------------------------------- notifications
def notify_safely(notifier: Notifier, message: Notification) -> str | None:
    """Send after the commit. Returns None on success, else the (logged) failure: a
    notification outage never fails or undoes a committed step."""
    try:
        notifier.send(message)
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
        log.warning("notification %r not delivered (the change stands): %s", message.title, problem)
        return problem
    return None


def transition_notification(result: TransitionResult) -> Notification:
    titles: Mapping[str, str] = {
        "promote": f"{result.model_name} v{result.version} is now in production",
        "rollback": f"{result.model_name} rolled back to v{result.version}",
        "reject": f"{result.model_name} v{result.version} was rejected",
        "nominate": f"{result.model_name} v{result.version} is the new challenger",
    }
    return Notification(
        title=titles.get(result.action, result.describe()),
        text=result.reason or "-",
        severity="warning" if result.action == "rollback" else "info",
        fields={
            "by": result.actor,
            "changes": ", ".join(f"v{v}: {a or 'new'} → {b}" for v, a, b in result.moves),
        },
    )


# ---------------------------------------------------------------- human approval
@dataclass(frozen=True)
class PromotionOutcome:
    """Which version became ``production``, who approved it, where its card is (None when the
    version has no card), the committed transition (None without a database: aliases only)
    and the notification failure, if any (the promotion stands regardless)."""

    model_name: str
    version: int
    approver: str
    reason: str
    model_card_uri: str | None
    transition: TransitionResult | None = None
    notification_problem: str | None = None


def approve_challenger(
    registry: ModelRegistry,
    version: int,
    *,
    approver: str,
    reason: str,
    notifier: Notifier | None = None,
) -> PromotionOutcome:
    """Human approval: the challenger becomes ``production`` (atomic transition: aliases, tags,
    ledger), the approval is written on its card, and (with a ``notifier``) everyone is told
    after the commit. Refuses any version that is not the challenger, before changing anything.
    The card and the message are documentation: their failure is logged, never raised."""
    from datetime import UTC, datetime

    from churn_platform.app.model_card import record_approval

    result: TransitionResult | None = None
    if isinstance(registry.alias_history, AliasHistory):
        result = promote(registry, version, approver=approver, reason=reason)
    else:  # no database: MLflow aliases only (no ledger to keep in step)
        check_text("approver", approver)
        registry.promote(version, approver=approver, reason=reason)
    card_uri: str | None = None
    try:
        card_uri = record_approval(
            registry, registry.run_id_of(version), approver, reason, datetime.now(UTC)
        )
    except Exception as exc:  # the card is optional documentation, never a reason to fail
        log.warning("approval not written on the model card of v%s: %s", version, exc)
    problem = None
    if notifier is not None:
        message = (
            transition_notification(result)
            if result is not None
            else Notification(
                title=f"{registry.model_name} v{version} is now in production",
                text=reason,
                fields={"approver": approver},
            )
        )
        problem = notify_safely(notifier, message)
    return PromotionOutcome(
        registry.model_name, int(version), approver, reason, card_uri, result, problem
    )
