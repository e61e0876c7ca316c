"""``make demo``: a simulated subscription business run through the real platform.

Everything goes through the same code paths as production: an embedded PostgreSQL, a real
MLflow registry, and Dagster materializations recorded in a local Dagster instance (so
``churn-platform dev`` shows the runs afterwards). The only shortcut is the promotion: the demo
approves its own challenger, and says so in the alias history.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, materialize
from rich.console import Console
from rich.table import Table

from churn_platform.defs.definitions import ASSETS, build_resources
from churn_platform.defs.resources import DataSourceResource, WarehouseResource
from churn_platform.io.registry import CHALLENGER
from churn_platform.runtime import Runtime, resolve_runtime
from churn_platform.settings import get_settings

SIM_START = date(2025, 1, 6)
TRAIN_WINDOW_WEEKS = 26
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DEMO_APPROVER = "demo-auto-approval (not a human)"


@dataclass(frozen=True)
class DemoPlan:
    n_customers: int
    seed: int
    first_week: date
    weeks: int

    @property
    def scoring_weeks(self) -> list[date]:
        return [self.first_week + timedelta(weeks=i) for i in range(self.weeks)]


def export_runtime_env(rt: Runtime, home: Path) -> Path:
    """Point every component (Dagster runs, MLflow, `dagster dev`) at the same stores."""
    os.environ["DATABASE_URL"] = rt.database_url
    os.environ["MLFLOW_TRACKING_URI"] = rt.tracking_uri
    if rt.mlflow_artifact_root:
        os.environ["CHURN_MLFLOW_ARTIFACT_ROOT"] = rt.mlflow_artifact_root
    os.environ["CHURN_ARTIFACT_ROOT"] = rt.artifact_root
    dagster_home = (home / "dagster_home").resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    repo_yaml = Path(__file__).resolve().parents[1] / "dagster.yaml"
    if repo_yaml.exists():
        shutil.copy(repo_yaml, dagster_home / "dagster.yaml")
    else:  # installed as a wheel: an empty file means Dagster defaults
        (dagster_home / "dagster.yaml").touch()
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def demo_resources(plan: DemoPlan) -> dict[str, Any]:
    resources = build_resources(as_env_vars=False)
    resources["data_source"] = DataSourceResource(
        sim_customers=plan.n_customers, sim_seed=plan.seed, sim_start_week=SIM_START.isoformat()
    )
    return resources


def run_demo(weeks: int, n_customers: int, seed: int, console: Console) -> None:
    settings = get_settings()
    t0 = time.perf_counter()
    console.rule("[bold]churn_platform demo")
    console.print("starting embedded PostgreSQL + MLflow store under", settings.home.resolve())
    rt = resolve_runtime(settings)
    dagster_home = export_runtime_env(rt, settings.home)
    plan = DemoPlan(n_customers, seed, SIM_START + timedelta(weeks=TRAIN_WINDOW_WEEKS), weeks)
    resources = demo_resources(plan)
    warehouse: WarehouseResource = resources["warehouse"]
    registry = resources["mlflow_resource"].registry(warehouse)

    with DagsterInstance.get() as instance:
        console.print(
            f"[bold]1. training[/] on the base of {SIM_START} followed until {plan.first_week} "
            f"({n_customers} simulated customers)"
        )
        train = materialize(
            ASSETS,
            selection=["training_dataset", "churn_model"],
            resources=resources,
            instance=instance,
            run_config={
                **QUIET,
                "ops": {
                    "training_dataset": {
                        "config": {
                            "as_of_week": plan.first_week.isoformat(),
                            "label_window_weeks": TRAIN_WINDOW_WEEKS,
                            "reason": "demo initial model",
                        }
                    }
                },
            },
            tags={"churn/retrain_reason": "demo initial model"},
        )
        meta = train.asset_materializations_for_node("churn_model")[0].metadata
        version = int(_value(meta, "model_version"))
        console.print(
            f"   registered {registry.model_name} v{version}, holdout C-index "
            f"{meta['c_index'].value:.3f}, challenger={meta['challenger'].value}"
        )
        challenger = registry.version_for_alias(CHALLENGER)
        if challenger is None or int(challenger.version) != version:
            raise SystemExit("the freshly trained demo model did not pass the validation gate")
        console.print(f"[bold]2. promotion[/] v{version} -> production, approver: {DEMO_APPROVER}")
        registry.promote(version, approver=DEMO_APPROVER, reason="demo: auto-approved")

        console.print(f"[bold]3. weekly scoring[/] of {weeks} weeks through Dagster")
        summary = []
        for week in plan.scoring_weeks:
            result = materialize(
                ASSETS,
                selection=["customer_features", "churn_scores"],
                partition_key=week.isoformat(),
                resources=resources,
                instance=instance,
                run_config=QUIET,
            )
            m = result.asset_materializations_for_node("churn_scores")[0].metadata
            summary.append(
                (
                    week,
                    int(_value(m, "rows_written")),
                    int(_value(m, "model_version")),
                    float(_value(m, "mean_risk_score")),
                )
            )
            console.print(
                f"   {week}: {m['rows_written'].value} customers scored with "
                f"v{m['model_version'].value}"
            )

    table = Table(title="Predictions written (PostgreSQL churn.predictions)")
    for col in ("week", "customers", "model version", "mean risk score"):
        table.add_column(col)
    for week, rows, v, risk in summary:
        table.add_row(str(week), str(rows), str(v), f"{risk:.3f}")
    console.print(table)
    console.rule("where to look")
    console.print(
        f"predictions table : {warehouse.db_schema}.predictions in {_safe(rt.database_url)}"
    )
    console.print("Dagster UI        : make dev   (then http://127.0.0.1:3000, asset graph)")
    console.print(f"MLflow UI         : uv run mlflow ui --backend-store-uri '{rt.tracking_uri}'")
    console.print(f"Dagster instance  : {dagster_home}")
    console.print(f"done in {time.perf_counter() - t0:.0f}s")


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    """The plain value of a materialization metadata entry."""
    return metadata[key].value


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
