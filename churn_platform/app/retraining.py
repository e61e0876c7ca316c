"""The retrain ledger: every training request, whoever made it, recorded once.

The retraining sensor decides from the history of retrains (cooldown, attempts per breach).
Reading that history only from sensor-launched Dagster runs missed the quarterly schedule,
manual launches and the CI pipeline (`churn-platform train`): one week after a successful
quarterly retrain, a drift breach requested another. Every training run now records itself in
``retrain_ledger`` (key unique per model, so a re-execution is not counted twice) with its
trigger, the week it is "as of", and its outcome; the sensor merges the ledger with the Dagster
runs it launched (a run that died before writing its outcome still shows its Dagster status).

A training run's outcome is the model's, not the notification's: notifications cannot fail a
run (see ``app/promotion.notify_safely``), so a Slack outage never counts as a failed retrain.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import pandas as pd

from churn_platform.domain.policy import RetrainRecord, RetrainStatus, parse_run_key
from churn_platform.io.ledger import RetrainLedger

T = TypeVar("T")

TRIGGERS = ("sensor", "schedule", "manual", "pipeline")


@dataclass(frozen=True)
class TrainingRequest:
    """Who asked for this training run, under which unique key, as of which week."""

    key: str
    trigger: str
    requested_week: date
    requested_by: str
    reason: str


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def request_from_run_tags(
    tags: Mapping[str, str], run_id: str, requested_week: date, reason: str
) -> TrainingRequest:
    """Classify a Dagster training run: sensor (its policy run key), schedule (the schedule's
    run key), or manual (the run id)."""
    if tags.get("churn/retrain_request") == "true" and tags.get("churn/run_key"):
        return TrainingRequest(
            tags["churn/run_key"], "sensor", requested_week, "retraining_sensor", reason
        )
    if tags.get("dagster/schedule_name"):
        key = tags.get("dagster/run_key") or f"schedule:{run_id}"
        return TrainingRequest(
            key, "schedule", requested_week, tags["dagster/schedule_name"], reason
        )
    return TrainingRequest(
        f"run:{run_id}", "manual", requested_week, f"dagster run {run_id[:8]}", reason
    )


def pipeline_request(key: str | None, requested_by: str, reason: str) -> TrainingRequest:
    """A training run outside Dagster (`churn-platform train`, the CI pipeline). A pipeline
    passes its own unique key (e.g. the CI run id) so a retried job is recorded once."""
    return TrainingRequest(
        key or f"cli:{uuid.uuid4().hex[:12]}",
        "pipeline" if key else "manual",
        monday(date.today()),
        requested_by,
        reason,
    )


def recorded_training(
    ledger: RetrainLedger | None,
    model_name: str,
    request: TrainingRequest,
    train: Callable[[], T],
    version_of: Callable[[T], int],
    dagster_run_id: str | None = None,
) -> T:
    """Run ``train`` between a ledger ``requested`` row and its ``success``/``failure``."""
    if ledger is None:
        return train()
    parsed = parse_run_key(request.key)
    ledger.request(
        model_name,
        request.key,
        trigger=request.trigger,
        requested_week=request.requested_week,
        requested_by=request.requested_by,
        reason=request.reason,
        breach_id=parsed.breach_id if parsed else None,
        attempt=parsed.attempt if parsed else None,
        dagster_run_id=dagster_run_id,
    )
    try:
        result = train()
    except BaseException:
        ledger.finish(model_name, request.key, "failure")
        raise
    ledger.finish(model_name, request.key, "success", model_version=version_of(result))
    return result


def ledger_history(ledger: RetrainLedger, model_name: str | None = None) -> list[RetrainRecord]:
    """The ledger's requests as policy records (of one model, or of all)."""
    rows = ledger.read(model_name)
    out = []
    for key, week, status in zip(
        rows["request_key"], rows["requested_week"], rows["status"], strict=True
    ):
        st: RetrainStatus = (
            "success"
            if status == "success"
            else ("failure" if status == "failure" else "requested")
        )
        out.append(RetrainRecord(str(key), pd.Timestamp(str(week)).date(), st))
    return out


def merged_history(
    from_ledger: Iterable[RetrainRecord], from_runs: Iterable[RetrainRecord]
) -> list[RetrainRecord]:
    """One record per key: the ledger's, except that a run Dagster knows finished beats a
    ledger row still saying ``requested`` (the process died before recording its end)."""
    merged: dict[str, RetrainRecord] = {r.run_key: r for r in from_ledger}
    for run in from_runs:
        known = merged.get(run.run_key)
        if known is None or (known.status == "requested" and run.status != "requested"):
            status: RetrainStatus = run.status
            week = known.requested_week if known is not None else run.requested_week
            merged[run.run_key] = RetrainRecord(run.run_key, week, status)
    return sorted(merged.values(), key=lambda r: (r.requested_week, r.run_key))
