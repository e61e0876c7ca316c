"""Weekly monitoring assets: delayed-label evaluation, feature drift and score drift.

Each asset calls one use case of :mod:`churn_platform.app.monitoring` (which stores the numbers
in PostgreSQL and logs them to the MLflow run of the model version that made the predictions)
and turns its result into metadata and a red/green asset check in the Dagster UI.
"""

from datetime import timedelta
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from churn_platform.app.monitoring import (
    DelayedEvaluation,
    DriftOutcome,
    delayed_evaluation_week,
    feature_drift_week,
    score_drift_week,
)
from churn_platform.defs.partitions import (
    START_WEEK,
    scored_cohort_mapping,
    week_of,
    weekly_partitions,
)
from churn_platform.defs.resources import (
    ArtifactStoreResource,
    DataSourceResource,
    MlflowResource,
    MonitoringResource,
    WarehouseResource,
)
from churn_platform.domain.drift import DriftThresholds
from churn_platform.viz.plots import bars_png, line_png, markdown_table, png_markdown

START = week_of(START_WEEK)
C_INDEX_CHECK = "c_index_above_threshold"
CALIBRATION_CHECK = "calibration_ici_below_threshold"
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
    # reads the cohort scored label_lag_weeks before this week, not this week's scores
    deps=[AssetDep("churn_scores", partition_mapping=scored_cohort_mapping())],
    group_name="monitoring",
    code_version="1",
    kinds={"postgres", "mlflow"},
    check_specs=[
        AssetCheckSpec(
            C_INDEX_CHECK,
            asset="delayed_evaluation",
            partitions_def=weekly_partitions,
            description="Delayed C-index of the evaluated cohort (worst model that scored it) "
            "at least c_index_threshold (ERROR)",
        ),
        AssetCheckSpec(
            CALIBRATION_CHECK,
            asset="delayed_evaluation",
            partitions_def=weekly_partitions,
            description="Calibration of the evaluated cohort: the worst ICI of predicted churn "
            "probabilities over its models and matured horizons at most "
            "calibration_ici_threshold (WARN)",
        ),
    ],
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
    result = delayed_evaluation_week(
        week_of(context.partition_key),
        churn_labels,
        predictions=warehouse.predictions(),
        evaluations=warehouse.evaluations(),
        registry=mlflow_resource.registry(),
        horizons=list(warehouse.horizons),
        label_lag_weeks=monitoring.label_lag_weeks,
        start=START,
        log=context.log,
    )
    return evaluation_materialization(
        result, monitoring.c_index_threshold, monitoring.calibration_ici_threshold
    )


def calibration_check(result: DelayedEvaluation, ici_threshold: float) -> AssetCheckResult:
    """WARN when the worst ICI over models and matured horizons exceeds the threshold."""
    ici, row = result.worst_ici
    if row is None:
        why = result.skipped or "no matured horizon to calibrate"
        return AssetCheckResult(
            check_name=CALIBRATION_CHECK, passed=True, metadata={"skipped": why}
        )
    return AssetCheckResult(
        check_name=CALIBRATION_CHECK,
        passed=bool(ici <= ici_threshold),
        severity=AssetCheckSeverity.WARN,
        metadata={
            "ici": ici,
            "threshold": ici_threshold,
            "model_version": int(row["model_version"]),
            "horizon_days": int(row["horizon_days"]),
            "slope": float(row["slope"]),
            "observed_risk": float(row["observed_risk"]),
            "expected_risk": float(row["expected_risk"]),
        },
    )


def evaluation_materialization(
    result: DelayedEvaluation, c_index_threshold: float, ici_threshold: float = float("inf")
) -> MaterializeResult:
    """Metadata (table, C-index trend) and the C-index (ERROR) and calibration (WARN) checks."""
    if result.skipped:
        return MaterializeResult(
            metadata={"skipped": result.skipped},
            check_results=[
                AssetCheckResult(
                    check_name=C_INDEX_CHECK, passed=True, metadata={"skipped": result.skipped}
                ),
                calibration_check(result, ici_threshold),
            ],
        )
    worst = result.worst_c_index
    history = result.history if result.history is not None else pd.DataFrame(result.rows)
    series = {
        f"{name} v{version}": (list(g["scoring_week"]), list(g["c_index"]))
        for (name, version), g in history.groupby(["model_name", "model_version"])
    }
    trend = line_png(
        series, "Delayed C-index by scoring week", "C-index", threshold=c_index_threshold
    )
    return MaterializeResult(
        metadata={
            "cohort_week": str(result.cohort),
            "c_index": worst,
            "evaluations": MetadataValue.md(
                markdown_table(pd.DataFrame(result.rows).drop(columns=["brier", "auc"]))
            ),
            "c_index_trend": MetadataValue.md(png_markdown(trend, "C-index trend")),
            **calibration_metadata(result),
        },
        check_results=[
            AssetCheckResult(
                check_name=C_INDEX_CHECK,
                passed=bool(worst >= c_index_threshold),
                severity=AssetCheckSeverity.ERROR,
                metadata={"c_index": worst, "threshold": c_index_threshold},
            ),
            calibration_check(result, ici_threshold),
        ],
    )


def calibration_metadata(result: DelayedEvaluation) -> dict[str, Any]:
    """The calibration table (one row per model and matured horizon) for the Dagster UI."""
    if not result.calibration:
        return {}
    cols = ["model_version", "horizon_days", "n", "expected_risk", "observed_risk", "ici"]
    frame = pd.DataFrame(result.calibration)[[*cols, "e50", "e90", "slope"]]
    return {
        "calibration": MetadataValue.md(markdown_table(frame)),
        "worst_ici": result.worst_ici[0],
    }


def _drift_result(
    outcome: DriftOutcome,
    check: str,
    severity: AssetCheckSeverity,
    title: str,
    extra: dict[str, Any],
    thresholds: DriftThresholds | None = None,
) -> MaterializeResult:
    frame = outcome.frame
    png = bars_png(
        list(frame["column_name"]),
        list(frame["effect"]),
        title,
        "effect (KS D / PSI)",
        highlight=list(frame["breached"]),
        row_thresholds=None
        if thresholds is None
        else [thresholds.min_ks if t == "ks" else thresholds.min_psi for t in frame["test"]],
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
    check_specs=[
        AssetCheckSpec(FEATURE_CHECK, asset="feature_drift", partitions_def=weekly_partitions)
    ],
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
    result = feature_drift_week(
        week_of(context.partition_key),
        customer_features,
        data_source.contract(),
        predictions=warehouse.predictions(),
        drift_store=warehouse.drift(),
        registry=mlflow_resource.registry(),
        artifacts=artifacts.store(),
        thresholds=monitoring.thresholds(),
        report_sample_rows=monitoring.report_sample_rows,
        start=START,
        log=context.log,
    )
    return _drift_result(
        result.outcome,
        FEATURE_CHECK,
        AssetCheckSeverity.WARN,
        f"Feature drift {result.week}",
        {
            # the copy logged to the model's MLflow run, opened in the MLflow UI's viewer
            "evidently_report": MetadataValue.url(
                mlflow_resource.registry().artifact_page_url(
                    result.run_id, f"drift/{result.week}/evidently.html"
                )
            ),
            "evidently_report_file": MetadataValue.path(result.report_uri or ""),
            "model_version": result.model_version,
            "reference_rows": result.reference_rows,
            "report_headline": result.report_verdict or "",
        },
        thresholds=monitoring.thresholds(),
    )


@asset(
    partitions_def=weekly_partitions,
    deps=[AssetKey("churn_scores")],
    group_name="monitoring",
    code_version="1",
    kinds={"scipy"},
    check_specs=[
        AssetCheckSpec(SCORE_CHECK, asset="score_drift", partitions_def=weekly_partitions)
    ],
)
def score_drift(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_resource: MlflowResource,
    monitoring: MonitoringResource,
) -> MaterializeResult:
    """The week's risk-score distribution vs the scores the same model gave its training
    reference (KS + PSI): output drift often shows a changing base before labels can."""
    result = score_drift_week(
        week_of(context.partition_key),
        predictions=warehouse.predictions(),
        drift_store=warehouse.drift(),
        registry=mlflow_resource.registry(),
        thresholds=monitoring.thresholds(),
        start=START,
        log=context.log,
    )
    r = result.outcome.results[0]
    return _drift_result(
        result.outcome,
        SCORE_CHECK,
        AssetCheckSeverity.WARN,
        f"Score drift {result.week}",
        {
            "model_version": result.model_version,
            "ks_d": float(r.statistic),
            "psi": float(r.psi),
            "current_median_risk": result.current_median_risk,
        },
        thresholds=monitoring.thresholds(),
    )
