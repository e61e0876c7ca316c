"""``make demo``: a simulated subscription business run through the real platform.

Everything goes through production code paths: an embedded PostgreSQL, a real MLflow registry,
Dagster materializations recorded in a local Dagster instance (``churn-platform dev`` shows the
runs afterwards) and the real retraining sensor. The simulated base changes at
``drift_week``: prices rise and usage falls; the drift monitors catch it, the sensor requests
training, the new challenger is approved and scores the following weeks. The only shortcut is
the approval: the demo approves its own challengers and says so in the alias history.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from typing import Any

from dagster import DagsterInstance
from rich.console import Console
from rich.table import Table

from churn_platform.defs.definitions import ASSETS
from churn_platform.defs.resources import (
    DataSourceResource,
    MonitoringResource,
    build_resources,
)
from churn_platform.entry.loop import LoopReport, run_weekly_loop
from churn_platform.runtime import bootstrap, export_runtime_env
from churn_platform.settings import Settings

SIM_START = date(2025, 1, 6)
TRAIN_WINDOW_WEEKS = 26
DEMO_APPROVER = "demo-auto-approval (not a human)"


def quiet_libraries() -> None:
    """Keep the demo's console to the story: no per-artifact progress bars or MLflow chatter."""
    import logging
    import warnings

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*Hint: Inferred schema contains integer.*")
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # pgserver, harmless


def demo_resources(
    settings: Settings,
    n_customers: int,
    seed: int,
    drift_week: date | None,
    label_lag_weeks: int,
) -> dict[str, Any]:
    """The platform's resources (``settings`` resolved by bootstrap) with the simulated base."""
    return build_resources(
        settings,
        as_env_vars=False,
        data_source=DataSourceResource(
            sim_customers=n_customers,
            sim_seed=seed,
            sim_start_week=SIM_START.isoformat(),
            sim_feature_drift_week=drift_week.isoformat() if drift_week else None,
        ),
        monitoring=MonitoringResource(label_lag_weeks=label_lag_weeks),
    )


def run_demo(
    weeks: int,
    n_customers: int,
    seed: int,
    console: Console,
    drift_after_weeks: int = 6,
    label_lag_weeks: int = 13,
) -> LoopReport:
    settings = Settings.from_env()
    t0 = time.perf_counter()
    quiet_libraries()
    console.rule("[bold]churn_platform demo")
    console.print(f"embedded PostgreSQL + MLflow store under {settings.home.resolve()}")
    rt = bootstrap(settings)  # starts the embedded PostgreSQL once, here
    dagster_home = export_runtime_env(rt, settings.home)
    first_week = SIM_START + timedelta(weeks=TRAIN_WINDOW_WEEKS)
    drift_week = first_week + timedelta(weeks=drift_after_weeks)
    scoring_weeks = [first_week + timedelta(weeks=i) for i in range(weeks)]
    resources = demo_resources(rt.settings, n_customers, seed, drift_week, label_lag_weeks)
    console.print(
        f"{n_customers} simulated customers; weekly scoring {scoring_weeks[0]} → "
        f"{scoring_weeks[-1]}; prices rise and usage falls from {drift_week}; labels "
        f"evaluated {label_lag_weeks} weeks after scoring; approvals by '{DEMO_APPROVER}'"
    )
    with DagsterInstance.get() as instance:
        report = run_weekly_loop(
            ASSETS,
            resources,
            instance,
            first_week=first_week,
            weeks=scoring_weeks,
            label_window_weeks=TRAIN_WINDOW_WEEKS,
            approver=DEMO_APPROVER,
            on_event=lambda msg: console.print("  " + msg),
        )
    _summary(console, resources, report)
    console.rule("where to look")
    warehouse = resources["warehouse"]
    console.print(
        f"tables       : {warehouse.db_schema}.predictions, .model_evaluations, "
        f".drift_results, .alias_history  ({_safe(rt.database_url)})"
    )
    console.print(
        "Dagster UI   : make dev  → http://127.0.0.1:3000 (Assets → Global asset lineage)"
    )
    console.print(f"MLflow UI    : uv run mlflow ui --backend-store-uri '{rt.tracking_uri}'")
    console.print(f"reports      : {rt.artifact_root}/reports/drift/<week>/evidently.html")
    console.print(f"Dagster home : {dagster_home}")
    console.print(f"done in {time.perf_counter() - t0:.0f}s")
    return report


def _summary(console: Console, resources: dict[str, Any], report: LoopReport) -> None:
    warehouse = resources["warehouse"]
    model_name = resources["mlflow_resource"].model_name
    weeks = Table(title="Weekly scoring and monitoring")
    for col in ("week", "customers", "model", "feature drift", "score drift", "delayed C"):
        weeks.add_column(col)
    for r in report.weeks:
        weeks.add_row(
            str(r.week),
            str(r.rows),
            f"v{r.model_version}",
            ", ".join(r.feature_breaches) or "-",
            "breach" if r.score_breached else "-",
            f"{r.c_index:.3f}" if r.c_index is not None else "-",
        )
    console.print(weeks)
    evals = warehouse.evaluations().read(model_name)
    table = Table(title="Delayed C-index per model version (logged to each version's MLflow run)")
    for col in ("model version", "scoring week", "evaluated week", "n", "events", "C-index"):
        table.add_column(col)
    for row in evals.itertuples(index=False):
        table.add_row(
            f"v{row.model_version}",
            str(row.scoring_week),
            str(row.evaluated_week),
            str(row.n),
            str(row.n_events),
            f"{row.c_index:.3f}",
        )
    console.print(table)
    history = warehouse.alias_history().read(model_name)
    aliases = Table(title="Alias history")
    for col in ("changed at", "alias", "version", "previous", "by", "reason"):
        aliases.add_column(col)
    for row in history.itertuples(index=False):
        aliases.add_row(
            str(row.changed_at)[:19],
            row.alias,
            f"v{row.version}",
            "-"
            if row.previous_version is None or row.previous_version != row.previous_version
            else f"v{int(row.previous_version)}",
            row.changed_by,
            row.reason[:60],
        )
    console.print(aliases)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
