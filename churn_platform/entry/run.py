"""``churn-platform run``: replay a range of weeks of YOUR data through the weekly loop.

The same Dagster assets, sensor and approval path as the schedule and ``make demo``
(:func:`churn_platform.entry.loop.run_weekly_loop`), fed by a configured source (snapshots +
churn events) or, without ``--data-config``, the simulator. With no ``production`` model it
first trains on the snapshots before ``--start`` with labels as of ``--start``; the new
challenger is promoted only with ``--approver NAME`` (otherwise the command stops and says how
to approve). Weekly partitions start where the data starts.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from churn_platform.errors import ChurnPlatformError, DataSourceConfigError

__all__ = ["ReplayOutcome", "run_replay"]

MIN_HISTORY_WEEKS = 4


@dataclass(frozen=True)
class ReplayOutcome:
    weeks: list[date]
    report: Any  # LoopReport, or None when the run stopped for approval
    awaiting_approval: int | None = None


class ApprovalRequired(ChurnPlatformError):
    """A challenger was trained but nobody approved it (pass --approver NAME)."""


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def run_replay(
    data_config: Path | None,
    start: date,
    end: date,
    *,
    approver: str | None,
    console: Console,
    label_lag_weeks: int = 13,
    n_customers: int = 20_000,
    seed: int = 0,
) -> ReplayOutcome:
    """Replay ``start``..``end`` (Mondays, inclusive) through Dagster; see the module doc."""
    if start.weekday() != 0 or end.weekday() != 0:
        raise DataSourceConfigError(
            f"--start {start} and --end {end} must be Mondays (weekly partition keys)"
        )
    if end < start:
        raise DataSourceConfigError(f"--end {end} is before --start {start}")
    if data_config is not None:
        from churn_platform.io.configured_source import ConfiguredSource

        config_path = str(Path(data_config).resolve())
        source = ConfiguredSource.from_path(config_path)
        first = source.first_week()
        os.environ["CHURN_DATA_CONFIG"] = config_path
    else:
        from churn_platform.entry.demo import SIM_START

        config_path = None
        first = SIM_START
    # Partitions start where the data starts: set before the definitions are imported.
    os.environ["CHURN_START_WEEK"] = first.isoformat()
    history = (start - first).days // 7
    if history < MIN_HISTORY_WEEKS:
        raise DataSourceConfigError(
            f"--start {start}: only {history} week(s) of snapshots before it (data starts "
            f"{first}); training needs at least {MIN_HISTORY_WEEKS}"
        )

    import json

    from churn_platform.defs.location import RESOURCE_CONFIG_ENV, configured_resources
    from churn_platform.entry.demo import _summary, quiet_libraries
    from churn_platform.entry.instance_runs import instance_runs, loop_instance
    from churn_platform.entry.loop import QUIET, TRAINING_JOB, run_weekly_loop
    from churn_platform.io.registry import PRODUCTION
    from churn_platform.runtime import bootstrap, export_runtime_env
    from churn_platform.settings import Settings

    settings = Settings.from_env()  # after CHURN_DATA_CONFIG / CHURN_START_WEEK above
    quiet_libraries()
    t0 = time.perf_counter()
    rt = bootstrap(settings)  # starts the embedded PostgreSQL once, here
    dagster_home = export_runtime_env(rt, settings.home)
    # the code location the loop loads reads its data source and monitoring from here
    overrides: dict[str, Any] = {"monitoring": {"label_lag_weeks": label_lag_weeks}}
    if config_path is not None:
        overrides["data_source"] = {"config_path": config_path}
    else:
        overrides["data_source"] = {
            "sim_customers": n_customers,
            "sim_seed": seed,
            "sim_start_week": first.isoformat(),
        }
    os.environ[RESOURCE_CONFIG_ENV] = json.dumps(overrides)
    resources = configured_resources(as_env_vars=False)
    weeks = [start + timedelta(weeks=i) for i in range((end - start).days // 7 + 1)]
    registry = resources["mlflow_resource"].registry(resources["warehouse"])
    current = registry.version_for_alias(PRODUCTION)
    production = int(current.version) if current is not None else None
    if production is None and approver is not None:
        from churn_platform.io.registry import CHALLENGER

        challenger = registry.version_for_alias(CHALLENGER)
        if challenger is not None:  # trained by an earlier run that stopped for approval
            waiting = int(challenger.version)
            from churn_platform.app.promotion import approve_challenger

            approve_challenger(registry, waiting, approver=approver, reason="initial model")
            console.print(f"{registry.model_name} v{waiting} approved by {approver}")
            production = waiting
    console.print(
        f"replaying {len(weeks)} week(s) {start} → {end} from "
        f"{resources['data_source'].describe()}; data starts {first}"
    )
    last_history_week = start - timedelta(weeks=1)
    initial_config: dict[str, Any] = {
        "ops": {
            "training_dataset": {
                "config": {
                    "as_of_week": start.isoformat(),
                    "reason": "initial model",
                    "label_window_weeks": history,
                }
            },
            "churn_model": {"config": {"reference_week": last_history_week.isoformat()}},
        }
    }
    with loop_instance(dagster_home) as instance, instance_runs(instance) as runs:
        if production is None and approver is None:
            run = runs.launch(
                TRAINING_JOB,
                run_config={**QUIET, **initial_config},
                tags={"churn/retrain_reason": "initial model"},
            )
            meta = runs.materializations(run.run_id)["churn_model"]
            version = int(meta["model_version"])
            console.print(
                f"trained {registry.model_name} v{version} on the snapshots before {start} "
                f"(holdout C-index {meta['c_index']:.3f}); challenger={meta['challenger']}"
            )
            raise ApprovalRequired(
                f"no production model: v{version} awaits a human decision. Review its model "
                f"card, then `churn-platform promote --version {version} --approver NAME` and "
                "rerun, or rerun this command with --approver NAME"
            )
        report = run_weekly_loop(
            runs,
            resources,
            first_week=start,
            weeks=weeks,
            label_window_weeks=min(history, 26),
            approver=approver or "",
            on_event=lambda msg: console.print("  " + msg),
            quiet=True,
            initial_model=production,
            initial_run_config=initial_config,
        )
    _summary(console, resources, report)
    console.print(f"done in {time.perf_counter() - t0:.0f}s")
    return ReplayOutcome(weeks, report)
