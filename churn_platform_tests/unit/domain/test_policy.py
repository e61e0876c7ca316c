"""Retraining policy: consecutive breaches, cooldown, retries of failed retrains, one request."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn_platform.domain.policy import (
    SIGNALS,
    TAG_ATTEMPT,
    TAG_BREACH_ID,
    TAG_BREACH_WEEK,
    TAG_RETRAIN_REASON,
    TAG_RETRY_OF,
    Decision,
    Observation,
    PolicyConfig,
    RetrainRecord,
    decide,
    parse_run_key,
    run_key,
)

W0 = date(2025, 3, 3)  # a Monday


def week(i: int) -> date:
    return W0 + timedelta(weeks=i)


def cidx(i: int, value: float) -> Observation:
    return Observation(week(i), "c_index", value, breached=False)


def drift(i: int, breached: bool, signal: str = "feature_drift", value: float = 0.3) -> Observation:
    return Observation(week(i), signal, value, breached)  # type: ignore[arg-type]


def requested(decision: Decision, i: int, status: str = "requested") -> RetrainRecord:
    assert decision.run_key is not None
    return RetrainRecord(decision.run_key, week(i), status)  # type: ignore[arg-type]


# --- C-index needs two consecutive evaluated weeks below the threshold -------------------------


def test_one_breach_week_does_not_retrain() -> None:
    d = decide([cidx(0, 0.80), cidx(1, 0.71)], [], today=week(1))
    assert not d.should_retrain
    assert d.run_key is None
    assert d.tags == {}


def test_two_consecutive_breach_weeks_request_exactly_one_retrain() -> None:
    d = decide([cidx(0, 0.80), cidx(1, 0.72), cidx(2, 0.71)], [], today=week(2))
    assert d.should_retrain
    assert d.run_key == "retrain:c_index:2025-03-10:1"
    assert d.breach_week == week(1)
    assert d.reasons == ("c_index 0.71 < 0.75 for 2 consecutive weeks (2025-03-10, 2025-03-17)",)
    assert d.tags == {
        TAG_RETRAIN_REASON: "c_index",
        TAG_BREACH_ID: "c_index:2025-03-10",
        TAG_BREACH_WEEK: "2025-03-10",
        TAG_ATTEMPT: "1",
    }


def test_callers_breached_flag_is_ignored_for_c_index() -> None:
    obs = [Observation(week(i), "c_index", 0.9, breached=True) for i in range(3)]
    assert not decide(obs, [], today=week(2)).should_retrain


def test_evaluating_again_with_the_request_in_history_does_not_duplicate() -> None:
    obs = [cidx(0, 0.72), cidx(1, 0.71)]
    first = decide(obs, [], today=week(1))
    assert first.should_retrain
    history = [requested(first, 1)]
    for status in ("requested", "success"):
        history = [requested(first, 1, status)]
        again = decide(obs, history, today=week(1))
        assert not again.should_retrain
        assert again.run_key is None
    # the breach goes on in later weeks: still no second request within the cooldown
    later = decide([*obs, cidx(2, 0.70), cidx(3, 0.70)], history, today=week(3))
    assert not later.should_retrain


def test_non_consecutive_breaches_do_not_retrain() -> None:
    obs = [cidx(0, 0.70), cidx(1, 0.80), cidx(2, 0.70)]
    for today in range(3):
        assert not decide(obs, [], today=week(today)).should_retrain


def test_recovered_breach_does_not_retrain() -> None:
    obs = [cidx(0, 0.70), cidx(1, 0.70), cidx(2, 0.80)]
    assert not decide(obs, [], today=week(2)).should_retrain


def test_missing_and_nan_evaluations_do_not_break_a_run() -> None:
    # weeks 1 (missing) and 2 (NaN: nothing to evaluate) are not evidence of recovery
    obs = [cidx(0, 0.70), cidx(2, float("nan")), cidx(3, 0.70)]
    d = decide(obs, [], today=week(3))
    assert d.run_key == "retrain:c_index:2025-03-03:1"


def test_observations_after_today_are_ignored() -> None:
    obs = [cidx(0, 0.70), cidx(1, 0.70)]
    assert not decide(obs, [], today=week(0)).should_retrain


def test_threshold_and_consecutive_are_configurable() -> None:
    cfg = PolicyConfig(c_index_threshold=0.8, c_index_consecutive=3)
    obs = [cidx(0, 0.79), cidx(1, 0.78)]
    assert not decide(obs, [], week(1), cfg).should_retrain
    d = decide([*obs, cidx(2, 0.77)], [], week(2), cfg)
    assert d.run_key == "retrain:c_index:2025-03-03:1"
    assert "0.77 < 0.8 for 3 consecutive weeks" in d.reasons[0]


# --- drift signals ------------------------------------------------------------------------------


def test_feature_drift_breaches_when_any_feature_breached_that_week() -> None:
    obs = [
        drift(0, False),
        Observation(week(1), "feature_drift", 0.05, False),  # tenure fine
        Observation(week(1), "feature_drift", 0.41, True),  # monthly_charges drifted
    ]
    d = decide(obs, [], today=week(1))
    assert d.run_key == "retrain:feature_drift:2025-03-10:1"
    assert d.reasons == (
        "feature_drift breached (latest value 0.41) for 1 consecutive week (2025-03-10)",
    )


def test_drift_consecutive_is_configurable() -> None:
    cfg = PolicyConfig(drift_consecutive=2)
    obs = [drift(0, True, "score_drift")]
    assert not decide(obs, [], week(0), cfg).should_retrain
    d = decide([*obs, drift(1, True, "score_drift")], [], week(1), cfg)
    assert d.run_key == "retrain:score_drift:2025-03-03:1"


# --- cooldown -----------------------------------------------------------------------------------


def test_cooldown_blocks_a_new_breach_then_allows_it_with_a_new_breach_id() -> None:
    obs = [cidx(0, 0.70), cidx(1, 0.70)]
    first = decide(obs, [], today=week(1))
    history = [requested(first, 1, "success")]

    # new model is fine for a week, then feature drift breaches within the cooldown
    obs += [cidx(2, 0.80), drift(2, False), drift(3, True)]
    blocked = decide(obs, history, today=week(3))
    assert not blocked.should_retrain
    assert blocked.breach_week == week(3)
    assert any("cooldown until 2025-04-07" in r for r in blocked.reasons)

    obs += [drift(4, True)]
    assert not decide(obs, history, today=week(4)).should_retrain

    obs += [drift(5, True)]  # cooldown (4 weeks after week 1) is over at week 5
    after = decide(obs, history, today=week(5))
    assert after.should_retrain
    assert after.run_key == "retrain:feature_drift:2025-03-24:1"
    assert after.tags[TAG_BREACH_ID] != first.tags[TAG_BREACH_ID]


def test_in_flight_request_also_starts_the_cooldown() -> None:
    history = [RetrainRecord("retrain:scheduled:2025-03-03:1", week(0), "requested")]
    obs = [drift(1, True)]
    assert not decide(obs, history, today=week(1)).should_retrain
    assert decide([*obs, drift(4, True)], history, today=week(4)).should_retrain


def test_breach_persisting_after_a_successful_retrain_counts_only_new_weeks() -> None:
    obs = [cidx(i, 0.70) for i in range(8)]
    first = decide(obs, [], today=week(1))
    history = [requested(first, 1, "success")]
    d = decide(obs, history, today=week(5))
    assert d.should_retrain
    assert d.run_key == "retrain:c_index:2025-03-17:1"  # first breached week after the retrain


def test_zero_cooldown() -> None:
    cfg = PolicyConfig(cooldown_weeks=0)
    history = [RetrainRecord("retrain:scheduled:2025-03-03:1", week(0), "success")]
    assert decide([drift(1, True)], history, week(1), cfg).should_retrain


# --- failed retrains ------------------------------------------------------------------------------


def test_failed_retrain_is_requested_again_with_the_next_attempt() -> None:
    obs = [cidx(0, 0.70), cidx(1, 0.70)]
    first = decide(obs, [], today=week(1))
    history = [requested(first, 1, "failure")]

    retry = decide(obs, history, today=week(1))  # failure does not start a cooldown
    assert retry.should_retrain
    assert retry.run_key == "retrain:c_index:2025-03-03:2"
    assert retry.tags[TAG_ATTEMPT] == "2"
    assert retry.tags[TAG_RETRY_OF] == first.run_key
    assert retry.tags[TAG_BREACH_ID] == first.tags[TAG_BREACH_ID]

    history.append(requested(retry, 2, "failure"))
    third = decide([*obs, cidx(2, 0.70)], history, today=week(2))
    assert third.run_key == "retrain:c_index:2025-03-03:3"
    assert third.tags[TAG_RETRY_OF] == retry.run_key

    history.append(requested(third, 2, "requested"))
    assert not decide([*obs, cidx(2, 0.70)], history, today=week(2)).should_retrain


def test_failed_retrain_of_a_recovered_breach_is_not_retried() -> None:
    obs = [cidx(0, 0.70), cidx(1, 0.70)]
    history = [requested(decide(obs, [], week(1)), 1, "failure")]
    assert not decide([*obs, cidx(2, 0.80)], history, today=week(2)).should_retrain


# --- several signals at once ----------------------------------------------------------------------


def test_several_signals_breaching_give_one_decision_with_all_reasons() -> None:
    obs = [
        drift(0, True, "score_drift", 0.2),
        cidx(1, 0.70),
        drift(1, True, "feature_drift", 0.5),
        drift(1, True, "score_drift", 0.3),
        cidx(2, 0.69),
        drift(2, True, "feature_drift", 0.6),
        drift(2, True, "score_drift", 0.4),
    ]
    d = decide(obs, [], today=week(2))
    assert d.should_retrain
    assert d.run_key == "retrain:score_drift:2025-03-03:1"  # earliest breach defines the key
    assert d.breach_week == week(0)
    assert d.tags[TAG_RETRAIN_REASON] == "score_drift,c_index,feature_drift"
    assert len(d.reasons) == 3
    assert d.reasons[0].startswith(
        "score_drift breached (latest value 0.4) for 3 consecutive weeks"
    )
    assert d.reasons[1].startswith("c_index 0.69 < 0.75 for 2 consecutive weeks")
    assert d.reasons[2].startswith("feature_drift breached (latest value 0.6) for 2 consecutive")


def test_same_week_breaches_tie_break_in_signal_order() -> None:
    obs = [drift(0, True, "score_drift"), drift(0, True, "feature_drift")]
    d = decide(obs, [], today=week(0))
    assert d.run_key == "retrain:feature_drift:2025-03-03:1"
    assert d.tags[TAG_RETRAIN_REASON] == "feature_drift,score_drift"


# --- run keys and config ------------------------------------------------------------------------


def test_run_key_round_trip() -> None:
    key = run_key("c_index", week(0), 3)
    parsed = parse_run_key(key)
    assert parsed is not None
    assert (parsed.trigger, parsed.breach_week, parsed.attempt) == ("c_index", week(0), 3)
    assert parsed.breach_id == "c_index:2025-03-03"
    assert parse_run_key("manual-run") is None
    assert parse_run_key("retrain:c_index:2025-02-30:1") is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"c_index_threshold": 1.5},
        {"c_index_threshold": float("nan")},
        {"c_index_consecutive": 0},
        {"drift_consecutive": 0},
        {"cooldown_weeks": -1},
    ],
)
def test_invalid_config_is_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PolicyConfig(**kwargs)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------------

N_WEEKS = 16

observations_st = st.lists(
    st.builds(
        Observation,
        week=st.integers(0, N_WEEKS - 1).map(week),
        signal=st.sampled_from(SIGNALS),
        value=st.one_of(st.floats(0.5, 1.0), st.just(float("nan"))),
        breached=st.booleans(),
    ),
    max_size=60,
)
outcomes_st = st.lists(
    st.tuples(st.sampled_from(["success", "failure", "requested"]), st.integers(0, 3)),
    min_size=N_WEEKS,
    max_size=N_WEEKS,
)
config_st = st.builds(
    PolicyConfig,
    c_index_threshold=st.floats(0.6, 0.9),
    c_index_consecutive=st.integers(1, 3),
    drift_consecutive=st.integers(1, 3),
    cooldown_weeks=st.integers(0, 5),
)


@settings(max_examples=300, deadline=None)
@given(observations=observations_st, outcomes=outcomes_st, cfg=config_st)
def test_replaying_decisions_never_emits_the_same_run_key_twice(
    observations: list[Observation],
    outcomes: list[tuple[str, int]],
    cfg: PolicyConfig,
) -> None:
    """Run the sensor weekly; each request is in flight for a while, then succeeds or fails."""
    emitted: list[tuple[str, int, str, int]] = []  # key, week requested, final status, resolve week
    for t in range(N_WEEKS):
        history = [
            RetrainRecord(key, week(w), final if t >= resolved else "requested")  # type: ignore[arg-type]
            for key, w, final, resolved in emitted
        ]
        d = decide(observations, history, today=week(t), config=cfg)
        assert d.reasons
        if not d.should_retrain:
            assert d.run_key is None
            continue
        assert d.run_key is not None
        assert d.run_key not in {key for key, *_ in emitted}
        parsed = parse_run_key(d.run_key)
        assert parsed is not None
        assert d.tags[TAG_BREACH_ID] == parsed.breach_id
        assert d.tags[TAG_ATTEMPT] == str(parsed.attempt)
        assert d.breach_week == parsed.breach_week <= week(t)
        # never inside a cooldown started by a retrain that succeeded or is in flight
        for record in history:
            if record.status != "failure":
                assert week(t) >= record.requested_week + timedelta(weeks=cfg.cooldown_weeks)
        final, delay = outcomes[t]
        emitted.append((d.run_key, t, final, t + delay))


@settings(max_examples=200, deadline=None)
@given(observations=observations_st, t=st.integers(0, N_WEEKS - 1))
def test_decision_is_idempotent_once_requested(observations: list[Observation], t: int) -> None:
    d = decide(observations, [], today=week(t))
    if d.should_retrain:
        assert d.run_key is not None
        again = decide(observations, [RetrainRecord(d.run_key, week(t), "requested")], week(t))
        assert not again.should_retrain


# --- attempt cap and learning after a drift -------------------------------------------------------


def test_attempts_per_breach_are_capped() -> None:
    obs = [cidx(0, 0.70), cidx(1, 0.70)]
    cfg = PolicyConfig(max_attempts=2)
    history: list[RetrainRecord] = []
    for attempt in (1, 2):
        d = decide(obs, history, today=week(1), config=cfg)
        assert d.should_retrain and d.tags[TAG_ATTEMPT] == str(attempt)
        history.append(requested(d, 1, "failure"))
    stop = decide(obs, history, today=week(1), config=cfg)
    assert not stop.should_retrain and stop.run_key is None
    assert any("gave up on breach c_index:2025-03-03" in r and "cap 2" in r for r in stop.reasons)


def test_drift_retrain_waits_for_outcomes_after_the_drift() -> None:
    cfg = PolicyConfig(drift_learn_weeks=3, cooldown_weeks=0)
    obs = [drift(i, True) for i in range(6)]
    for t in (0, 1, 2):
        d = decide(obs, [], today=week(t), config=cfg)
        assert not d.should_retrain
        assert any("waiting until 2025-03-24" in r for r in d.reasons)
    ready = decide(obs, [], today=week(3), config=cfg)
    assert ready.should_retrain and ready.run_key == "retrain:feature_drift:2025-03-03:1"
    # a C-index breach is evidence from outcomes already: no wait
    c = decide([cidx(0, 0.7), cidx(1, 0.7)], [], today=week(1), config=cfg)
    assert c.should_retrain


# --- a skip says why, with the figures -----------------------------------------------------------


def test_a_skip_without_breach_carries_the_latest_figures() -> None:
    obs = [
        cidx(0, 0.79),
        cidx(1, 0.8123),
        Observation(week(2), "feature_drift", 0.0, False, tested=20),
        Observation(week(2), "score_drift", 0.0, False, tested=4),
    ]
    d = decide(obs, [], today=week(2), model_label="v2")
    assert not d.should_retrain
    assert d.reasons == (
        "C-index 0.8123 ≥ 0.75 for v2 (week 2025-03-10)",
        "0 of 20 features breached (week 2025-03-17)",
        "0 of 4 score columns breached (week 2025-03-17)",
    )


def test_one_bad_week_is_reported_as_one_of_the_weeks_needed() -> None:
    d = decide([cidx(0, 0.80), cidx(1, 0.71)], [], today=week(1))
    assert d.reasons[0] == "C-index 0.71 < 0.75 (week 2025-03-10), 1 of 2 consecutive weeks needed"
    assert d.reasons[1:] == ("feature drift: not evaluated yet", "score drift: not evaluated yet")


def test_no_evaluation_yet_says_labels_are_pending() -> None:
    d = decide([Observation(week(0), "feature_drift", 0.0, False, tested=3)], [], today=week(0))
    assert d.reasons[0] == "no C-index evaluated yet (labels still pending)"
    assert d.reasons[1] == "0 of 3 features breached (week 2025-03-03)"
