"""Merging the retrain ledger with the sensor's Dagster runs (pure)."""

from __future__ import annotations

from datetime import date

from churn_platform.app.retraining import merged_history, request_from_run_tags
from churn_platform.domain.policy import RetrainRecord

W = date(2025, 9, 1)


def test_ledger_wins_but_a_finished_run_beats_a_stale_requested_row() -> None:
    ledger = [RetrainRecord("a", W, "success"), RetrainRecord("b", W, "requested")]
    runs = [
        RetrainRecord("a", W, "failure"),  # ledger knows better (notification outage etc.)
        RetrainRecord("b", W, "failure"),  # the process died before writing its end
        RetrainRecord("c", W, "requested"),  # launched, not started yet
    ]
    merged = {r.run_key: r.status for r in merged_history(ledger, runs)}
    assert merged == {"a": "success", "b": "failure", "c": "requested"}


def test_runs_are_classified_by_trigger() -> None:
    sensor = request_from_run_tags(
        {"churn/retrain_request": "true", "churn/run_key": "retrain:c_index:2025-09-01:1"},
        "abcdef1234",
        W,
        "r",
    )
    assert (sensor.trigger, sensor.key) == ("sensor", "retrain:c_index:2025-09-01:1")
    sched = request_from_run_tags(
        {"dagster/schedule_name": "quarterly", "dagster/run_key": "retrain:scheduled:2025-10-06"},
        "x",
        W,
        "r",
    )
    assert (sched.trigger, sched.key) == ("schedule", "retrain:scheduled:2025-10-06")
    manual = request_from_run_tags({}, "abcdef1234", W, "r")
    assert (manual.trigger, manual.key) == ("manual", "run:abcdef1234")
