"""The weekly loop through the Dagster instance: score → monitor → sensor → retrain → approve.

Used by ``make demo`` (simulated history on the embedded stores), ``churn-platform run`` and the
end-to-end test. Nothing is materialized ad hoc: the initial model is a ``training_job`` run,
each week is a ``weekly_scoring_job`` run of that partition, and after each week the
``retraining_sensor`` is ticked through Dagster's sensor machinery, so its decision (run request
or skip reason) is stored in the sensor's tick history and the ``training_job`` it requests
carries the sensor's tags (``dagster/sensor_name``, ``dagster/run_key``). See
:mod:`churn_platform.entry.instance_runs`. Only the approval is automated, by the named approver.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from churn_platform.app.promotion import approve_challenger
from churn_platform.entry.instance_runs import InstanceRuns
from churn_platform.io.registry import CHALLENGER

QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SCORING_JOB = "weekly_scoring_job"
TRAINING_JOB = "training_job"
RETRAINING_SENSOR = "retraining_sensor"


@dataclass(frozen=True)
class WeekRecord:
    week: date
    model_version: int
    rows: int
    feature_breaches: tuple[str, ...]
    score_breached: bool
    c_index: float | None
    run_id: str = ""
    sensor: str = ""  # the retraining sensor's skip reason, or "requested <run key>"
    #: The week's calibration check (``calibration_ici_below_threshold``) on the evaluated
    #: cohort: its metadata plus ``passed``; empty when no cohort was evaluated.
    calibration: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetrainRecordView:
    week: date
    run_key: str
    reason: str
    version: int
    challenger: bool
    promoted: bool
    run_id: str = ""


@dataclass
class LoopReport:
    initial_version: int
    weeks: list[WeekRecord] = field(default_factory=list)
    retrains: list[RetrainRecordView] = field(default_factory=list)
    initial_run_id: str = ""


def training_config(as_of: date, reason: str, label_window_weeks: int) -> dict[str, Any]:
    """Run config of ``training_job`` for a model trained as of ``as_of``."""
    return {
        "ops": {
            "training_dataset": {
                "config": {
                    "as_of_week": as_of.isoformat(),
                    "reason": reason,
                    "label_window_weeks": label_window_weeks,
                }
            },
            "churn_model": {"config": {"reference_week": as_of.isoformat()}},
        }
    }


def run_weekly_loop(
    runs: InstanceRuns,
    resources: dict[str, Any],
    *,
    first_week: date,
    weeks: Sequence[date],
    label_window_weeks: int,
    approver: str,
    on_event: Callable[[str], None] = lambda _: None,
    initial_model: int | None = None,
    initial_run_config: dict[str, Any] | None = None,
    quiet: bool = False,
) -> LoopReport:
    """Train (unless ``initial_model`` names the production version already serving) and
    approve the first model, then score ``weeks`` one partition at a time, ticking the sensor
    after each. ``initial_run_config`` overrides the first training run's config
    (``churn-platform run`` trains on the weeks before ``--start``).

    ``quiet`` keeps the console to the story: the runs a sensor requests carry their own run
    config, so their Dagster console logger (DEBUG) is silenced by catching stderr during the
    tick; everything still goes to the run's event log, and a failure is raised with its message.

    ``resources`` must be the resources of the loaded location (``configured_resources()``):
    they are used here only to approve challengers in the same registry.
    """
    # imported here: loading the definitions module emits Dagster's preview warnings, which the
    # demo filters once it has started
    from churn_platform.defs.monitoring.assets import CALIBRATION_CHECK

    registry = resources["mlflow_resource"].registry(resources["warehouse"])
    initial_run_id = ""
    if initial_model is None:
        run = runs.launch(
            TRAINING_JOB,
            run_config={
                **QUIET,
                **(
                    initial_run_config
                    or training_config(first_week, "initial model", label_window_weeks)
                ),
            },
            tags={"churn/retrain_reason": "initial model"},
        )
        initial_run_id = run.run_id
        meta = runs.materializations(run.run_id)["churn_model"]
        version = int(meta["model_version"])
        on_event(
            f"trained {registry.model_name} v{version} (holdout C-index {meta['c_index']:.3f})"
        )
        _approve(registry, version, approver, "initial model")
    else:
        version = initial_model
    report = LoopReport(initial_version=version, initial_run_id=initial_run_id)
    for week in weeks:
        run = runs.launch(SCORING_JOB, partition_key=week.isoformat(), run_config=QUIET)
        mats = runs.materializations(run.run_id)
        scores, fdrift = mats.get("churn_scores", {}), mats.get("feature_drift", {})
        sdrift, ev = mats.get("score_drift", {}), mats.get("delayed_evaluation", {})
        calibration = runs.check_results(run.run_id).get(CALIBRATION_CHECK, {})
        with _console_quiet(quiet):  # a requested run logs to the console at DEBUG
            tick = runs.tick_sensor(RETRAINING_SENSOR)
        record = WeekRecord(
            week=week,
            model_version=int(scores["model_version"]),
            rows=int(scores["rows_written"]),
            feature_breaches=tuple(fdrift.get("breached", [])),
            score_breached=bool(sdrift.get("n_breached", 0)),
            c_index=float(ev["c_index"]) if "c_index" in ev else None,
            run_id=run.run_id,
            sensor=tick.skip_reason or f"requested {', '.join(tick.tick.run_keys)}",
            calibration=calibration if "ici" in calibration else {},
        )
        report.weeks.append(record)
        on_event(_describe(record))
        for training_run in tick.runs:
            report.retrains.append(
                _after_retrain(runs, registry, training_run, week, approver, on_event)
            )
    return report


def _after_retrain(
    runs: InstanceRuns,
    registry: Any,
    run: Any,
    week: date,
    approver: str,
    on_event: Callable[[str], None],
) -> RetrainRecordView:
    reason = run.tags.get("churn/retrain_reason", "")
    key = run.tags.get("dagster/run_key", "")
    on_event(
        f"{run.tags.get('dagster/sensor_name', 'sensor')} launched {run.job_name} ({key}): {reason}"
    )
    meta = runs.materializations(run.run_id)["churn_model"]
    version = int(meta["model_version"])
    challenger = bool(meta["challenger"])
    promoted = False
    if challenger and approver and registry.version_for_alias(CHALLENGER) is not None:
        _approve(registry, version, approver, f"retrain: {reason}")
        promoted = True
    on_event(f"v{version}: challenger={challenger}, promoted={promoted}")
    return RetrainRecordView(week, key, reason, version, challenger, promoted, run.run_id)


@contextlib.contextmanager
def _console_quiet(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def _approve(registry: Any, version: int, approver: str, reason: str) -> None:
    approve_challenger(registry, version, approver=approver, reason=reason)


def calibration_text(calibration: dict[str, Any]) -> str:
    """``v1 ICI@30d 0.0146 > 0.01 WARN`` / ``v2 ICI@30d 0.0093 <= 0.01 ok`` / ``-``."""
    if not calibration:
        return "-"
    ok = bool(calibration["passed"])
    return (
        f"v{int(calibration['model_version'])} ICI@{int(calibration['horizon_days'])}d "
        f"{float(calibration['ici']):.4f} {'<=' if ok else '>'} "
        f"{float(calibration['threshold']):g} {'ok' if ok else 'WARN'}"
    )


def _describe(r: WeekRecord) -> str:
    drift = ", ".join(r.feature_breaches) or "none"
    c = f"{r.c_index:.3f}" if r.c_index is not None else "-"
    return (
        f"{r.week}: {r.rows} scored by v{r.model_version}; feature drift: {drift}; "
        f"score drift: {'yes' if r.score_breached else 'no'}; delayed C-index: {c}; "
        f"calibration: {calibration_text(r.calibration)}; sensor: {r.sensor}"
    )


def weeks_frame(report: LoopReport) -> pd.DataFrame:
    return pd.DataFrame([r.__dict__ for r in report.weeks])
