"""The weekly loop, driven through Dagster: score → monitor → sensor → retrain → approve.

Used by ``make demo`` (simulated history on the embedded stores) and by the end-to-end test.
Every step is a real Dagster materialization recorded in the given instance; the retraining
sensor is evaluated with the same instance, and the run it requests is launched with the
request's own run config and tags. Only the approval is automated, by the named approver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
from dagster import (
    AssetsDefinition,
    DagsterInstance,
    RunRequest,
    SensorResult,
    build_sensor_context,
    materialize,
)

from churn_platform.app.promotion import approve_challenger
from churn_platform.defs.scoring.jobs import WEEKLY_ASSETS
from churn_platform.defs.training.sensors import retraining_sensor
from churn_platform.io.registry import CHALLENGER

QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SCORING_SELECTION = list(WEEKLY_ASSETS)


@dataclass(frozen=True)
class WeekRecord:
    week: date
    model_version: int
    rows: int
    feature_breaches: tuple[str, ...]
    score_breached: bool
    c_index: float | None


@dataclass(frozen=True)
class RetrainRecordView:
    week: date
    run_key: str
    reason: str
    version: int
    challenger: bool
    promoted: bool


@dataclass
class LoopReport:
    initial_version: int
    weeks: list[WeekRecord] = field(default_factory=list)
    retrains: list[RetrainRecordView] = field(default_factory=list)


def _meta(result: Any, node: str) -> dict[str, Any]:
    mats = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mats[0].metadata.items()} if mats else {}


def train_run(
    assets: Sequence[AssetsDefinition],
    resources: dict[str, Any],
    instance: DagsterInstance,
    as_of: date,
    *,
    label_window_weeks: int,
    reason: str,
    tags: dict[str, str] | None = None,
    run_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Materialize training_dataset + churn_model; returns the churn_model metadata."""
    config = run_config or {
        "ops": {
            "training_dataset": {"config": {"as_of_week": as_of.isoformat(), "reason": reason}},
            "churn_model": {"config": {"reference_week": as_of.isoformat()}},
        }
    }
    config["ops"]["training_dataset"]["config"].setdefault("label_window_weeks", label_window_weeks)
    result = materialize(
        assets,
        selection=["training_dataset", "churn_model"],
        resources=resources,
        instance=instance,
        run_config={**QUIET, **config},
        tags={"churn/retrain_reason": reason, **(tags or {})},
    )
    return _meta(result, "churn_model")


def run_weekly_loop(
    assets: Sequence[AssetsDefinition],
    resources: dict[str, Any],
    instance: DagsterInstance,
    *,
    first_week: date,
    weeks: Sequence[date],
    label_window_weeks: int,
    approver: str,
    on_event: Callable[[str], None] = lambda _: None,
    initial_model: int | None = None,
    initial_run_config: dict[str, Any] | None = None,
) -> LoopReport:
    """Train (unless ``initial_model`` names the production version already serving) and
    approve the first model, then score and monitor each of ``weeks`` through Dagster, letting
    the retraining sensor decide after every week. ``initial_run_config`` overrides the first
    training run's config (``churn-platform run`` trains on the weeks before ``--start``)."""
    registry = resources["mlflow_resource"].registry(resources["warehouse"])
    if initial_model is None:
        meta = train_run(
            assets,
            resources,
            instance,
            first_week,
            label_window_weeks=label_window_weeks,
            reason="initial model",
            run_config=initial_run_config,
        )
        version = int(meta["model_version"])
        on_event(
            f"trained {registry.model_name} v{version} (holdout C-index {meta['c_index']:.3f})"
        )
        _approve(registry, version, approver, "initial model")
    else:
        version = initial_model
    report = LoopReport(initial_version=version)
    for week in weeks:
        result = materialize(
            assets,
            selection=SCORING_SELECTION,
            partition_key=week.isoformat(),
            resources=resources,
            instance=instance,
            run_config=QUIET,
        )
        scores, fdrift = _meta(result, "churn_scores"), _meta(result, "feature_drift")
        sdrift, ev = _meta(result, "score_drift"), _meta(result, "delayed_evaluation")
        record = WeekRecord(
            week=week,
            model_version=int(scores["model_version"]),
            rows=int(scores["rows_written"]),
            feature_breaches=tuple(fdrift.get("breached", [])),
            score_breached=bool(sdrift.get("n_breached", 0)),
            c_index=float(ev["c_index"]) if "c_index" in ev else None,
        )
        report.weeks.append(record)
        on_event(_describe(record))
        request = _sensor_request(instance, resources)
        if request is not None:
            report.retrains.append(
                _retrain(
                    assets,
                    resources,
                    instance,
                    registry,
                    request,
                    week,
                    label_window_weeks,
                    approver,
                    on_event,
                )
            )
    return report


def _sensor_request(instance: DagsterInstance, resources: dict[str, Any]) -> RunRequest | None:
    # a context manager: the warehouse closes its pool at teardown, as after a run
    with build_sensor_context(
        instance=instance,
        resources={"warehouse": resources["warehouse"], "monitoring": resources["monitoring"]},
    ) as context:
        result = retraining_sensor(context)
    if not isinstance(result, SensorResult):
        return None
    requests = list(result.run_requests or [])
    return requests[0] if requests else None


def _retrain(
    assets: Sequence[AssetsDefinition],
    resources: dict[str, Any],
    instance: DagsterInstance,
    registry: Any,
    request: RunRequest,
    week: date,
    label_window_weeks: int,
    approver: str,
    on_event: Callable[[str], None],
) -> RetrainRecordView:
    reason = request.tags.get("churn/retrain_reason", "")
    on_event(f"sensor requested training_job ({request.run_key}): {reason}")
    meta = train_run(
        assets,
        resources,
        instance,
        week,
        label_window_weeks=label_window_weeks,
        reason=reason,
        tags=dict(request.tags),
        run_config=dict(request.run_config),
    )
    version = int(meta["model_version"])
    challenger = bool(meta["challenger"])
    promoted = False
    if challenger and approver and registry.version_for_alias(CHALLENGER) is not None:
        _approve(registry, version, approver, f"retrain: {reason}")
        promoted = True
    on_event(f"v{version}: challenger={challenger}, promoted={promoted}")
    return RetrainRecordView(week, request.run_key or "", reason, version, challenger, promoted)


def _approve(registry: Any, version: int, approver: str, reason: str) -> None:
    approve_challenger(registry, version, approver=approver, reason=reason)


def _describe(r: WeekRecord) -> str:
    drift = ", ".join(r.feature_breaches) or "none"
    c = f"{r.c_index:.3f}" if r.c_index is not None else "-"
    return (
        f"{r.week}: {r.rows} scored by v{r.model_version}; feature drift: {drift}; "
        f"score drift: {'yes' if r.score_breached else 'no'}; delayed C-index: {c}"
    )


def weeks_frame(report: LoopReport) -> pd.DataFrame:
    return pd.DataFrame([r.__dict__ for r in report.weeks])
