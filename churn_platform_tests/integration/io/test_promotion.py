"""Promotion lifecycle against a real MLflow registry and the real PostgreSQL ledger.

Versions are registered from runs without model artifacts: the lifecycle never loads a model,
so the tests stay fast while MLflow aliases/tags and the ledger are all real.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import pytest

from churn_platform.app import promotion
from churn_platform.app.promotion import STATE_TAG, current_states, ledger_of
from churn_platform.domain.promotion import State
from churn_platform.errors import (
    IllegalTransitionError,
    InvalidActorError,
    NoPreviousProductionError,
    StorageError,
    TransitionFailedError,
)
from churn_platform.io.db import ensure_schema, make_engine
from churn_platform.io.registry import CHALLENGER, PRODUCTION, ModelRegistry
from churn_platform.io.results import AliasHistory
from churn_platform_tests.support.lifecycle import new_version


@pytest.fixture
def registry(pg_url: str, mlflow_tracking_uri: str) -> ModelRegistry:
    ensure_schema(make_engine(pg_url))
    return ModelRegistry(
        f"lifecycle_{uuid.uuid4().hex[:6]}",
        tracking_uri=mlflow_tracking_uri,
        artifact_location=os.environ["CHURN_MLFLOW_ARTIFACT_ROOT"],
        alias_history=AliasHistory(pg_url),
    )


def world(registry: ModelRegistry) -> dict[str, Any]:
    """Everything a transition may touch: ledger, alias history, aliases, managed tags."""
    ledger = ledger_of(registry)
    tags = {}
    for v in registry.versions():
        all_tags = registry.version_tags(v)
        tags[v] = {k: all_tags[k] for k in promotion.MANAGED_TAGS if k in all_tags}
    return {
        "ledger": ledger.read(registry.model_name).drop(columns=["occurred_at"]).to_dict("records"),
        "history": len(AliasHistory(ledger.engine).read(registry.model_name)),
        "aliases": registry.aliases(),
        "tags": tags,
    }


def assert_consistent(registry: ModelRegistry) -> None:
    """Ledger states, MLflow aliases and MLflow state tags agree."""
    ledger = ledger_of(registry)
    recorded = ledger.current_states(registry.model_name)
    aliases = registry.aliases()
    for v, state in recorded.items():
        assert registry.version_tags(v).get(STATE_TAG) == state, (v, state)
        assert (aliases.get(PRODUCTION) == v) == (state == "production"), (v, state, aliases)
        assert (aliases.get(CHALLENGER) == v) == (state == "challenger"), (v, state, aliases)
        if state != "production":
            assert "churn.production_by" not in registry.version_tags(v)


def nominated(registry: ModelRegistry) -> int:
    v = new_version(registry)
    promotion.nominate(registry, v, actor="gate", reason="passed")
    return v


def in_production(registry: ModelRegistry) -> int:
    v = nominated(registry)
    promotion.promote(registry, v, approver="alice", reason="ok")
    return v


def test_full_lifecycle_promote_archive_rollback_reject(registry: ModelRegistry) -> None:
    v1 = in_production(registry)
    assert_consistent(registry)
    v2 = nominated(registry)
    result = promotion.promote(registry, v2, approver="bob", reason="better on recent customers")
    assert result.moves == ((v1, "production", "archived"), (v2, "challenger", "production"))
    states = current_states(registry, ledger_of(registry))
    assert states[v1] == State.ARCHIVED and states[v2] == State.PRODUCTION
    assert registry.aliases() == {PRODUCTION: v2}  # the challenger alias is given up
    assert "churn.production_by" not in registry.version_tags(v1)
    assert registry.version_tags(v2)["churn.production_by"] == "bob"
    assert_consistent(registry)

    back = promotion.rollback(registry, approver="carol", reason="v2 misbehaves")
    assert back.version == v1 and back.production == v1
    assert registry.aliases() == {PRODUCTION: v1}
    assert_consistent(registry)

    gone = promotion.reject(registry, v2, approver="carol", reason="post-mortem")
    assert gone.moves == ((v2, "archived", "rejected"),)
    assert_consistent(registry)

    rows = ledger_of(registry).read(registry.model_name)
    assert list(rows["to_state"]) == [
        "challenger",
        "production",
        "challenger",
        "archived",
        "production",
        "archived",
        "production",
        "rejected",
    ]
    assert rows["actor"].iloc[-1] == "carol" and rows["reason"].iloc[-1] == "post-mortem"
    assert rows["metrics"].iloc[-1]["holdout.xgboost_cox.c_index"] == pytest.approx(0.8)


def test_new_challenger_supersedes_the_old_one(registry: ModelRegistry) -> None:
    v1 = nominated(registry)
    v2 = nominated(registry)
    states = current_states(registry, ledger_of(registry))
    assert (states[v1], states[v2]) == (State.CANDIDATE, State.CHALLENGER)
    with pytest.raises(IllegalTransitionError, match="not the challenger"):
        promotion.promote(registry, v1, approver="alice", reason="old one")
    assert_consistent(registry)


def _refused(registry: ModelRegistry, call: Any, error: type[Exception], match: str) -> None:
    before = world(registry)
    with pytest.raises(error, match=match):
        call()
    assert world(registry) == before


def test_illegal_transitions_are_named_and_change_nothing(registry: ModelRegistry) -> None:
    _refused(
        registry,
        lambda: promotion.rollback(registry, approver="a", reason="r"),
        NoPreviousProductionError,
        "no version is in production",
    )
    v1 = in_production(registry)
    _refused(
        registry,
        lambda: promotion.reject(registry, v1, approver="a", reason="r"),
        IllegalTransitionError,
        "it is production. Roll back first",
    )
    _refused(
        registry,
        lambda: promotion.rollback(registry, approver="a", reason="r"),
        NoPreviousProductionError,
        "no earlier production version",
    )
    v2 = nominated(registry)
    promotion.reject(registry, v2, approver="a", reason="worse on recent customers")
    _refused(
        registry,
        lambda: promotion.promote(registry, v2, approver="a", reason="r"),
        IllegalTransitionError,
        "rejected versions are never promoted",
    )
    _refused(
        registry,
        lambda: promotion.rollback(registry, approver="a", reason="r", to_version=v2),
        IllegalTransitionError,
        "only an archived former production",
    )
    _refused(
        registry,
        lambda: promotion.reject(registry, v2, approver="a", reason="r"),
        IllegalTransitionError,
        "already rejected",
    )
    _refused(
        registry,
        lambda: promotion.promote(registry, 999, approver="a", reason="r"),
        IllegalTransitionError,
        "not registered",
    )
    v3 = nominated(registry)
    for bad in ("ali\x00ce", "   "):
        _refused(
            registry,
            lambda bad=bad: promotion.promote(registry, v3, approver=bad, reason="r"),
            InvalidActorError,
            "approver",
        )
    _refused(
        registry,
        lambda: promotion.promote(registry, v3, approver="alice", reason="why\x00"),
        InvalidActorError,
        "NUL byte",
    )
    assert_consistent(registry)


def test_markup_and_unicode_are_stored_verbatim(registry: ModelRegistry) -> None:
    v = nominated(registry)
    who, why = "[/bold] Zoë 'O\"Brien'; DROP TABLE x", "[red]ok[/red] ✓ \\ %s"
    promotion.promote(registry, v, approver=who, reason=why)
    row = ledger_of(registry).read(registry.model_name).iloc[-1]
    assert (row["actor"], row["reason"]) == (who, why)
    assert registry.version_tags(v)["churn.production_by"] == who


@pytest.mark.parametrize("fail_at", ["alias", "tag", "commit"])
def test_a_failure_between_the_steps_rolls_everything_back(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    v1 = in_production(registry)
    v2 = nominated(registry)
    before = world(registry)
    if fail_at == "alias":
        real = registry.point_alias

        def broken_alias(alias: str, version: int | None) -> None:
            real(alias, version)
            if alias == PRODUCTION:
                raise RuntimeError("registry went away after moving production")

        monkeypatch.setattr(registry, "point_alias", broken_alias)
    elif fail_at == "tag":
        calls = {"n": 0}
        real_tag = registry.put_version_tag

        def broken_tag(version: int, key: str, value: str | None) -> None:
            calls["n"] += 1
            if calls["n"] == 3:  # after the aliases and some tags moved
                raise RuntimeError("tag write failed")
            real_tag(version, key, value)

        monkeypatch.setattr(registry, "put_version_tag", broken_tag)
    else:
        from churn_platform.io import ledger as ledger_module

        real_append = ledger_module.PromotionLedger.append

        def append_then_poison(self: Any, conn: Any, rows: Any, moves: Any = ()) -> None:
            real_append(self, conn, rows, moves)
            # a deferred failure: the commit itself will fail (after MLflow was changed)
            import sqlalchemy as sa

            conn.execute(
                sa.text("CREATE TEMP TABLE poison (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
            )
            conn.execute(sa.text("INSERT INTO poison VALUES (1), (1)"))

        monkeypatch.setattr(ledger_module.PromotionLedger, "append", append_then_poison)
    expected = StorageError if fail_at == "commit" else TransitionFailedError
    with pytest.raises(expected):
        promotion.promote(registry, v2, approver="alice", reason="will fail")
    monkeypatch.undo()
    assert world(registry) == before
    assert registry.aliases() == {PRODUCTION: v1, CHALLENGER: v2}
    assert_consistent(registry)


def test_two_promotions_at_once_one_wins_the_other_is_refused(
    registry: ModelRegistry, pg_url: str, mlflow_tracking_uri: str
) -> None:
    in_production(registry)
    v2 = nominated(registry)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def approve(who: str) -> None:
        own = ModelRegistry(
            registry.model_name,
            tracking_uri=mlflow_tracking_uri,
            alias_history=AliasHistory(pg_url),
        )
        barrier.wait()
        try:
            promotion.promote(own, v2, approver=who, reason="race")
            outcomes.append("ok")
        except IllegalTransitionError as exc:
            outcomes.append(f"refused: {exc}")

    threads = [threading.Thread(target=approve, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o[:7] for o in outcomes) == ["ok", "refused"], outcomes
    assert any("already is production" in o for o in outcomes)
    rows = ledger_of(registry).read(registry.model_name)
    assert (rows["to_state"] == "production").sum() == 2  # v1 once, v2 once
    assert_consistent(registry)
