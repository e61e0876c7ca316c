"""``make demo``: a simulated subscription business run through the real platform.

Everything goes through production code paths: an embedded PostgreSQL, a real MLflow registry,
and the real Dagster jobs and sensor launched through the local Dagster instance
(``churn-platform dev`` shows afterwards one ``weekly_scoring_job`` run per week, the
``training_job`` runs, and ``retraining_sensor``'s ticks with its skip reasons and the request
that retrained the model). Every demo starts from a clean state (embedded databases, Dagster
home and artifacts are reset; ``--keep`` opts out) so that a rerun tells the same story.

The simulated base changes at ``drift_week``: prices rise and usage falls, and what drives churn
changes too (a competitor arrives). The drift monitors catch it at once; the retraining policy
waits ``DRIFT_LEARN_WEEKS`` weeks so the retrain can learn from outcomes observed after the drift
(training stacks recent weekly cohorts, each censored at the as-of date); the gate compares the
challenger with production on the same held-out customers (paired bootstrap interval); the
challenger is approved; and at the end the version trained after the drift is compared with the
one it replaced on the same post-drift customers. Calibration is watched all along: the check
fires for the old version's cohorts once their 30-day window sees the changed world, and clears
for the retrained version's (the default 30 weeks are what it takes: the retrain scores from
week 16 and a cohort is evaluated 13 weeks after it was scored). The only shortcut is the
approval: the demo approves its own challengers and says so in the promotion ledger.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from churn_platform.defs.location import RESOURCE_CONFIG_ENV, configured_resources
from churn_platform.entry.instance_runs import instance_runs, loop_instance
from churn_platform.entry.loop import LoopReport, run_weekly_loop
from churn_platform.errors import mask_url
from churn_platform.io.embedded import database_url, reset_databases
from churn_platform.runtime import Runtime, bootstrap, export_runtime_env
from churn_platform.settings import Settings

SIM_START = date(2025, 1, 6)
TRAIN_WINDOW_WEEKS = 26
DEMO_APPROVER = "demo-auto-approval (not a human)"
DEMO_COHORTS = 6
DRIFT_LEARN_WEEKS = 8  # a drift retrain waits for 8 weeks of outcomes of the changed world


def quiet_libraries() -> None:
    """Keep the demo's console to the story: no per-artifact progress bars or MLflow chatter."""
    import logging
    import warnings

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*Hint: Inferred schema contains integer.*")
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # pgserver, harmless
    # Dagster flags APIs we use on purpose (partitioned asset checks, nonexistent upstream
    # partitions of the label-lag mapping) on every definitions load; the demo knows.
    from dagster import BetaWarning, PreviewWarning

    warnings.filterwarnings("ignore", category=BetaWarning)
    warnings.filterwarnings("ignore", category=PreviewWarning)


def export_demo_config(
    n_customers: int, seed: int, drift_week: date | None, label_lag_weeks: int
) -> None:
    """Simulator and monitoring settings of the demo, for the code location the loop loads
    (``CHURN_RESOURCE_CONFIG``, see defs/location.py)."""
    drift = drift_week.isoformat() if drift_week else None
    os.environ[RESOURCE_CONFIG_ENV] = json.dumps(
        {
            "data_source": {
                "sim_customers": n_customers,
                "sim_seed": seed,
                "sim_start_week": SIM_START.isoformat(),
                "sim_feature_drift_week": drift,
                # the world changes, not only the features: what drives churn shifts too
                "sim_concept_drift_week": drift,
                # training stacks 6 weekly cohorts (every 4 weeks), each censored at the as-of
                # date: customers seen after the drift contribute their partial follow-up
                "sim_cohorts": DEMO_COHORTS,
            },
            "monitoring": {
                "label_lag_weeks": label_lag_weeks,
                "drift_learn_weeks": DRIFT_LEARN_WEEKS,
            },
        }
    )


def reset_demo_state(rt: Runtime, home: Path) -> None:
    """Forget earlier demos: embedded databases, Dagster home and local artifacts start empty."""
    if rt.embedded:
        reset_databases(database_url(rt.database_url, "postgres"))
    for folder in (home / "dagster_home", home / "cache", Path(rt.artifact_root)):
        if folder.is_dir() and "://" not in str(folder):
            shutil.rmtree(folder)


def run_demo(
    weeks: int,
    n_customers: int,
    seed: int,
    console: Console,
    drift_after_weeks: int = 6,
    label_lag_weeks: int = 13,
    fresh: bool = True,
) -> LoopReport:
    settings = Settings.from_env()
    t0 = time.perf_counter()
    quiet_libraries()
    console.rule("[bold]churn_platform demo")
    console.print(f"embedded PostgreSQL + MLflow store under {settings.home.resolve()}")
    rt = bootstrap(settings)  # starts the embedded PostgreSQL once, here
    if fresh:
        reset_demo_state(rt, settings.home)
        console.print("fresh start: earlier demo runs, models and tables were removed")
    dagster_home = export_runtime_env(rt, settings.home)
    first_week = SIM_START + timedelta(weeks=TRAIN_WINDOW_WEEKS)
    drift_week = first_week + timedelta(weeks=drift_after_weeks)
    scoring_weeks = [first_week + timedelta(weeks=i) for i in range(weeks)]
    export_demo_config(n_customers, seed, drift_week, label_lag_weeks)
    resources = configured_resources(as_env_vars=False)
    console.print(
        f"{n_customers} simulated customers; weekly scoring {scoring_weeks[0]} → "
        f"{scoring_weeks[-1]}; prices rise, usage falls and churn drivers change from "
        f"{drift_week} (retrain waits {DRIFT_LEARN_WEEKS} weeks for outcomes); labels "
        f"evaluated {label_lag_weeks} weeks after scoring; approvals by '{DEMO_APPROVER}'"
    )
    with loop_instance(dagster_home) as instance, instance_runs(instance) as runs:
        report = run_weekly_loop(
            runs,
            resources,
            first_week=first_week,
            weeks=scoring_weeks,
            label_window_weeks=TRAIN_WINDOW_WEEKS,
            approver=DEMO_APPROVER,
            on_event=lambda msg: console.print("  " + msg),
            quiet=True,
        )
    _summary(console, resources, report)
    _learned_the_new_world(console, resources, report, drift_week, scoring_weeks[-1])
    console.rule("where to look")
    warehouse = resources["warehouse"]
    console.print(
        f"tables       : {warehouse.db_schema}.predictions, .model_evaluations, "
        f".drift_results, .alias_history  ({_safe(rt.database_url)})"
    )
    console.print(
        "Dagster UI   : make dev  → http://127.0.0.1:3000 (Assets → Global asset lineage)"
    )
    console.print(f"MLflow UI    : uv run mlflow ui --backend-store-uri '{_safe(rt.tracking_uri)}'")
    console.print(f"reports      : {rt.artifact_root}/reports/drift/<week>/evidently.html")
    console.print(f"Dagster home : {dagster_home}")
    console.print(f"done in {time.perf_counter() - t0:.0f}s")
    return report


def _calibration_by_cohort(report: LoopReport, lag_weeks: int) -> dict[date, dict[str, Any]]:
    """The calibration check of each evaluated cohort, by the week the cohort was scored (the
    check runs ``lag_weeks`` later, in the evaluating week's partition)."""
    return {
        r.week - timedelta(weeks=lag_weeks): r.calibration for r in report.weeks if r.calibration
    }


def _summary(console: Console, resources: dict[str, Any], report: LoopReport) -> None:
    """Tables of the loop (weeks, delayed evaluations, alias moves) and the calibration story;
    shared by ``demo`` and ``run``."""
    calibration = _calibration_by_cohort(report, int(resources["monitoring"].label_lag_weeks))
    warehouse = resources["warehouse"]
    model_name = resources["mlflow_resource"].model_name
    evals = warehouse.evaluations().read(model_name)
    # The delayed C-index of a row is that of the predictions made THAT week, by the version
    # that made them (evaluated label_lag_weeks later), with its 95% bootstrap interval.
    by_week = {
        (row.scoring_week, int(row.model_version)): _c_text(row) for row in evals.itertuples()
    }
    threshold = next((c["threshold"] for c in calibration.values()), None)
    # the check reports the worst matured horizon; name it when it is the same for every cohort
    horizons = {int(c["horizon_days"]) for c in calibration.values()}
    one_horizon = len(horizons) == 1
    ici_label = f"ICI@{min(horizons)}d" if one_horizon else "ICI@days"
    weeks = Table(
        title="Weekly scoring and monitoring (delayed C and calibration of that week's "
        "predictions, known label_lag weeks later)"
    )
    for col, fixed in (
        ("week", True),
        ("customers", True),
        ("model", True),
        ("feature drift", False),
        ("score drift", False),
        ("delayed C [95% CI]", False),
        (f"{ici_label} (> {threshold:g}: WARN)" if threshold is not None else "ICI", False),
    ):
        weeks.add_column(col, no_wrap=fixed)
    for r in report.weeks:
        weeks.add_row(
            str(r.week),
            str(r.rows),
            f"v{r.model_version}",
            ", ".join(r.feature_breaches) or "-",
            "breach" if r.score_breached else "-",
            by_week.get((r.week, r.model_version), "not matured"),
            _ici_text(calibration.get(r.week), r.model_version, with_horizon=not one_horizon),
        )
    console.print(weeks)
    table = Table(title="Delayed C-index per model version (logged to each version's MLflow run)")
    for col in ("model version", "scoring week", "evaluated week", "n", "events", "C [95% CI]"):
        table.add_column(col)
    for row in evals.itertuples(index=False):
        table.add_row(
            f"v{row.model_version}",
            str(row.scoring_week),
            str(row.evaluated_week),
            str(row.n),
            str(row.n_events),
            _c_text(row),
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
    _calibration_story(console, calibration)


def _ici_text(check: dict[str, Any] | None, row_version: int, *, with_horizon: bool) -> str:
    if not check:
        return "not matured"
    version = int(check["model_version"])
    who = "" if version == row_version else f"v{version} "
    at = f" at {int(check['horizon_days'])}d" if with_horizon else ""
    return f"{who}{float(check['ici']):.4f}{at} {'ok' if check['passed'] else 'WARN'}"


def _calibration_story(console: Console, calibration: dict[date, dict[str, Any]]) -> None:
    """Per model version: for how many of its evaluated cohorts the calibration check fired."""
    console.rule("calibration of predicted churn (check calibration_ici_below_threshold)")
    if not calibration:
        console.print("no cohort matured yet: no calibration check evaluated")
        return
    for version in sorted({int(c["model_version"]) for c in calibration.values()}):
        mine = {w: c for w, c in calibration.items() if int(c["model_version"]) == version}
        fired = sorted(w for w, c in mine.items() if not c["passed"])
        icis = [float(c["ici"]) for c in mine.values()]
        first = next(iter(mine.values()))
        days = sorted({int(c["horizon_days"]) for c in mine.values()})
        when = f" (cohorts scored {fired[0]} … {fired[-1]})" if fired else ""
        console.print(
            f"  v{version}: {len(mine)} cohorts evaluated, worst ICI (at "
            f"{'/'.join(map(str, days))} d) {min(icis):.4f}–{max(icis):.4f} (WARN above "
            f"{float(first['threshold']):g}); "
            f"the check fired for {len(fired) or 'none'}{when}",
            highlight=False,
        )


def _c_text(row: Any) -> str:
    low, high = getattr(row, "c_index_low", None), getattr(row, "c_index_high", None)
    if low is None or high is None or low != low or high != high:
        return f"{row.c_index:.3f}"
    return f"{row.c_index:.3f} [{low:.3f}, {high:.3f}]"


def _learned_the_new_world(
    console: Console,
    resources: dict[str, Any],
    report: LoopReport,
    drift_week: date,
    last_week: date,
) -> None:
    """The story's proof: the version trained after the drift vs the version it replaced, on
    the same post-drift customers neither trained on, with the paired bootstrap interval."""
    from churn_platform.app.comparison import compare_versions_on_cohort

    after = [r for r in report.retrains if r.promoted and r.week >= drift_week]
    console.rule("did the retrain learn the new world?")
    if not after:
        console.print("no version trained after the drift was promoted: nothing to compare")
        return
    new = after[0].version
    served = [report.initial_version, *[r.version for r in report.retrains if r.promoted]]
    old = served[served.index(new) - 1]  # the production version it replaced
    source = resources["data_source"]
    registry = resources["mlflow_resource"].registry(resources["warehouse"])
    table = Table(title=f"v{old} (before the drift) vs v{new} (trained after it), same customers")
    for col in (
        "cohort",
        "customers",
        "churns",
        f"C v{old} [95% CI]",
        f"C v{new} [95% CI]",
        f"v{new} - v{old} [95% CI, paired]",
    ):
        table.add_column(col)
    for cohort in (drift_week + timedelta(weeks=1), drift_week + timedelta(weeks=3)):
        if cohort >= last_week:
            continue
        cmp = compare_versions_on_cohort(
            registry, source.contract(), source.training_frame, cohort, last_week, old, new
        )
        res = cmp.result
        table.add_row(
            str(cohort),
            str(res.n),
            str(res.n_events),
            f"{res.a.estimate:.3f} [{res.a.low:.3f}, {res.a.high:.3f}]",
            f"{res.b.estimate:.3f} [{res.b.low:.3f}, {res.b.high:.3f}]",
            f"{res.difference.estimate:+.3f} [{res.difference.low:+.3f}, "
            f"{res.difference.high:+.3f}]",
        )
        console.print("  " + cmp.describe(), highlight=False)
    console.print(table)


def _safe(url: str) -> str:
    return mask_url(url)
