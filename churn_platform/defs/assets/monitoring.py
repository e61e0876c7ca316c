"""Weekly monitoring assets: delayed-label evaluation, feature drift and score drift.

Each asset stores its numbers in PostgreSQL (``model_evaluations``, ``drift_results``), logs
them to the MLflow run of the model version that made the predictions (one point per week,
``step`` = week index) and reports a red/green asset check in the Dagster UI.
"""

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from churn_platform.app.monitoring import (
    DriftOutcome,
    drift_metrics,
    evaluate_cohort,
    evaluation_metrics,
    features_drift,
    scores_drift,
    week_index,
)
from churn_platform.defs.partitions import START_WEEK, week_of, weekly_partitions
from churn_platform.defs.resources import (
    ArtifactStoreResource,
    DataSourceResource,
    MlflowResource,
    MonitoringResource,
    WarehouseResource,
)
from churn_platform.viz.plots import bars_png, line_png, markdown_table, png_markdown

START = week_of(START_WEEK)
C_INDEX_CHECK = "c_index_above_threshold"
FEATURE_CHECK = "no_feature_drift_breach"
SCORE_CHECK = "no_score_drift_breach"


@asset(
    partitions_def=weekly_partitions,
    io_manager_key="snapshot_io_manager",
    group_name="monitoring",
    code_version="1",
    kinds={"pandas"},
)
def churn_labels(
    context: AssetExecutionContext, data_source: DataSourceResource, monitoring: MonitoringResource
) -> Output[pd.DataFrame]:
    """What happened to the customers scored ``label_lag_weeks`` before this week, as known
    now: days observed since that scoring week and whether they churned. A customer still
    active (or whose churn is not yet reported) is *censored*, never counted as "stayed"."""
    week = week_of(context.partition_key)
    cohort = week - timedelta(weeks=monitoring.label_lag_weeks)
    if cohort < START:
        context.log.info("no cohort %d weeks before %s yet", monitoring.label_lag_weeks, week)
        empty = pd.DataFrame({"customer_id": [], "duration_days": [], "event": []})
        return Output(empty, metadata={"rows": 0, "cohort_week": str(cohort)})
    labels = data_source.labels_for_cohort(cohort, week)
    n_events = int(labels["event"].sum())
    return Output(
        labels,
        metadata={
            "rows": len(labels),
            "events": n_events,
            "censored": len(labels) - n_events,
            "cohort_week": str(cohort),
            "as_of_week": str(week),
        },
    )


@asset(
    partitions_def=weekly_partitions,
    deps=[AssetKey("churn_scores")],
    group_name="monitoring",
    code_version="1",
    kinds={"postgres", "mlflow"},
    check_specs=[AssetCheckSpec(C_INDEX_CHECK, asset="delayed_evaluation")],
)
def delayed_evaluation(
    context: AssetExecutionContext,
    churn_labels: pd.DataFrame,
    warehouse: WarehouseResource,
    mlflow_resource: MlflowResource,
    monitoring: MonitoringResource,
) -> MaterializeResult:
    """C-index (Harrell, Uno), Brier and AUC of the predictions made ``label_lag_weeks`` ago,
    stored in ``model_evaluations`` and logged back to the MLflow run of the model version that
    made them, so every model gets a performance time series."""
    week = week_of(context.partition_key)
    cohort = week - timedelta(weeks=monitoring.label_lag_weeks)
    repo = warehouse.predictions()
    lineage = repo.lineage(cohort) if cohort >= START else pd.DataFrame()
    reason = ""
    if churn_labels.empty or lineage.empty:
        reason = f"no scored cohort for {cohort} yet"
    elif int(churn_labels["event"].sum()) == 0:
        reason = (
            f"no churn reported yet for the cohort of {cohort}: labels arrive later than "
            f"label_lag_weeks={monitoring.label_lag_weeks}; raise it"
        )
    if reason:
        context.log.info(reason)
        return MaterializeResult(
            metadata={"skipped": reason},
            check_results=[
                AssetCheckResult(
                    check_name=C_INDEX_CHECK, passed=True, metadata={"skipped": reason}
                )
            ],
        )
    registry = mlflow_resource.registry()
    horizons = list(warehouse.horizons)
    evaluations: list[dict[str, Any]] = []
    for model_name, model_version, run_id in lineage[
        ["model_name", "model_version", "model_run_id"]
    ].itertuples(index=False, name=None):
        model_name, run_id = str(model_name), str(run_id)
        cols = ["customer_id", "risk_score", *[f"churn_prob_{h}d" for h in horizons]]
        preds = repo.read_columns(cohort, cols, model_name=model_name)
        ev = evaluate_cohort(preds, churn_labels, horizons)
        registry.log_metrics(run_id, evaluation_metrics(ev), step=week_index(cohort, START))
        evaluations.append(
            {
                "scoring_week": cohort,
                "model_name": model_name,
                "model_version": int(model_version),
                "label_lag_weeks": monitoring.label_lag_weeks,
                "evaluated_week": week,
                "n": ev.n,
                "n_events": ev.n_events,
                "c_index": ev.c_index,
                "uno_c": ev.uno_c,
                "ibs": ev.ibs,
                "brier": ev.brier,
                "auc": ev.auc,
                "mlflow_run_id": run_id,
            }
        )
        context.log.info(
            "%s v%s on cohort %s: C-index %.4f (n=%d, events=%d)",
            model_name,
            model_version,
            cohort,
            ev.c_index,
            ev.n,
            ev.n_events,
        )
    store = warehouse.evaluations()
    store.upsert(pd.DataFrame(evaluations))
    worst = float(min(e["c_index"] for e in evaluations))
    history = store.read()
    series = {
        f"{name} v{version}": (list(g["scoring_week"]), list(g["c_index"]))
        for (name, version), g in history.groupby(["model_name", "model_version"])
    }
    trend = line_png(
        series, "Delayed C-index by scoring week", "C-index", threshold=monitoring.c_index_threshold
    )
    return MaterializeResult(
        metadata={
            "cohort_week": str(cohort),
            "c_index": worst,
            "evaluations": MetadataValue.md(
                markdown_table(pd.DataFrame(evaluations).drop(columns=["brier", "auc"]))
            ),
            "c_index_trend": MetadataValue.md(png_markdown(trend, "C-index trend")),
        },
        check_results=[
            AssetCheckResult(
                check_name=C_INDEX_CHECK,
                passed=bool(worst >= monitoring.c_index_threshold),
                severity=AssetCheckSeverity.ERROR,
                metadata={"c_index": worst, "threshold": monitoring.c_index_threshold},
            )
        ],
    )


def _drift_lineage(warehouse: WarehouseResource, week_key: str) -> tuple[str, int, str]:
    lineage = warehouse.predictions().lineage(week_of(week_key))
    if lineage.empty:
        raise ValueError(f"week {week_key} has no predictions: materialize churn_scores first")
    row = lineage.sort_values("n", ascending=False).iloc[0]
    return str(row.model_name), int(row.model_version), str(row.model_run_id)


def _drift_result(
    outcome: DriftOutcome,
    check: str,
    severity: AssetCheckSeverity,
    title: str,
    extra: dict[str, Any],
) -> MaterializeResult:
    frame = outcome.frame
    png = bars_png(
        list(frame["column_name"]),
        list(frame["effect"]),
        title,
        "effect (KS D / PSI)",
        highlight=list(frame["breached"]),
    )
    return MaterializeResult(
        metadata={
            "breached": MetadataValue.json(outcome.breached),
            "n_breached": len(outcome.breached),
            "results": MetadataValue.md(
                markdown_table(
                    frame[
                        [
                            "column_name",
                            "test",
                            "statistic",
                            "p_value",
                            "effect",
                            "psi",
                            "breached",
                            "new_levels",
                        ]
                    ],
                    max_rows=50,
                )
            ),
            "effects": MetadataValue.md(png_markdown(png, title)),
            **extra,
        },
        check_results=[
            AssetCheckResult(
                check_name=check,
                passed=not outcome.breached,
                severity=severity,
                metadata={"breached": MetadataValue.json(outcome.breached)},
            )
        ],
    )


@asset(
    partitions_def=weekly_partitions,
    deps=[AssetKey("churn_scores")],
    group_name="monitoring",
    code_version="1",
    kinds={"scipy", "evidently"},
    check_specs=[AssetCheckSpec(FEATURE_CHECK, asset="feature_drift")],
)
def feature_drift(
    context: AssetExecutionContext,
    customer_features: pd.DataFrame,
    data_source: DataSourceResource,
    warehouse: WarehouseResource,
    mlflow_resource: MlflowResource,
    monitoring: MonitoringResource,
    artifacts: ArtifactStoreResource,
) -> MaterializeResult:
    """Per feature: KS (numeric) or chi-square (categorical) vs the training reference of the
    model that scored the week, with an effect size (KS D / PSI) so that a breach means a shift
    that matters, not just a big sample. Also renders the Evidently report (HTML)."""
    from churn_platform.io.evidently_report import render_drift_report

    week = week_of(context.partition_key)
    contract = data_source.contract()
    name, version, run_id = _drift_lineage(warehouse, context.partition_key)
    registry = mlflow_resource.registry()
    reference, _ = registry.load_reference(run_id)
    outcome = features_drift(reference, customer_features, contract, monitoring.thresholds())
    warehouse.drift().replace_week(
        week, "feature", name, outcome.frame.assign(model_version=version)
    )
    registry.log_metrics(
        run_id, drift_metrics(outcome, "drift.feature"), step=week_index(week, START)
    )
    report = render_drift_report(
        reference,
        customer_features,
        numeric=list(contract.numeric_features),
        categorical=list(contract.categorical_features),
        sample_rows=monitoring.report_sample_rows,
        title=f"Feature drift {week} vs {name} v{version}",
    )
    uri = artifacts.store().put_bytes(
        f"reports/drift/{week}/evidently.html", report.html, content_type="text/html"
    )
    registry.log_artifact_bytes(run_id, report.html, f"drift/{week}/evidently.html")
    context.log.info("feature drift %s: breached %s", week, outcome.breached or "none")
    return _drift_result(
        outcome,
        FEATURE_CHECK,
        AssetCheckSeverity.WARN,
        f"Feature drift {week}",
        {
            "evidently_report": MetadataValue.path(uri),
            "model_version": version,
            "reference_rows": len(reference),
            "evidently_share_drifted": float(report.share_drifted),
        },
    )


@asset(
    partitions_def=weekly_partitions,
    deps=[AssetKey("churn_scores")],
    group_name="monitoring",
    code_version="1",
    kinds={"scipy"},
    check_specs=[AssetCheckSpec(SCORE_CHECK, asset="score_drift")],
)
def score_drift(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_resource: MlflowResource,
    monitoring: MonitoringResource,
) -> MaterializeResult:
    """The week's risk-score distribution vs the scores the same model gave its training
    reference (KS + PSI): output drift often shows a changing base before labels can."""
    week = week_of(context.partition_key)
    name, version, run_id = _drift_lineage(warehouse, context.partition_key)
    registry = mlflow_resource.registry()
    _, ref_scores = registry.load_reference(run_id)
    current = warehouse.predictions().read_columns(week, ["risk_score"], model_name=name)
    outcome = scores_drift(
        ref_scores["risk_score"].to_numpy(float),
        current["risk_score"].to_numpy(float),
        monitoring.thresholds(),
    )
    warehouse.drift().replace_week(week, "score", name, outcome.frame.assign(model_version=version))
    registry.log_metrics(
        run_id, drift_metrics(outcome, "drift.score"), step=week_index(week, START)
    )
    r = outcome.results[0]
    context.log.info(
        "score drift %s: D=%.4f PSI=%.4f breached=%s", week, r.statistic, r.psi, r.breached
    )
    return _drift_result(
        outcome,
        SCORE_CHECK,
        AssetCheckSeverity.WARN,
        f"Score drift {week}",
        {
            "model_version": version,
            "ks_d": float(r.statistic),
            "psi": float(r.psi),
            "current_median_risk": float(np.median(current["risk_score"])),
        },
    )
