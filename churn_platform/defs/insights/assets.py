"""Weekly insight assets: performance estimate before labels, segment monitoring, retention list.

* ``performance_estimate``: what C-index and Brier score this week's scores should reach, from
  the model's own survival curves (no labels needed); the cohorts scored within the lag window
  are checked against the partial labels already known, and the cohort scored
  ``label_lag_weeks`` ago against the full delayed evaluation. Its check fails when realised and
  estimated C-index differ by more than ``estimate_gap_threshold``: the model no longer knows
  how good it is, which is what concept drift looks like before the full labels show it.
* ``segment_monitoring``: score/feature drift and delayed C-index per segment (contract,
  region, tenure band...), small segments suppressed, worst segments in the metadata.
* ``retention_list``: the top N customers by revenue at risk with their top risk drivers, as a
  table and a CSV in the artifact store (``retention/<week>.csv``) for campaign tools.

Each body calls one use case of :mod:`churn_platform.app.insights` and attaches metadata.
"""

from typing import Any

import numpy as np
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
    asset,
)

from churn_platform.app import insights
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
from churn_platform.domain.segments import SegmentPolicy, worst_segments
from churn_platform.io.insights_store import InsightsStore
from churn_platform.viz.plots import line_png, markdown_table, png_markdown

START = week_of(START_WEEK)
ESTIMATE_CHECK = "estimate_matches_realised"
EARLY_WARNING_CHECK = "interim_churners_match_prediction"


def insights_store(warehouse: WarehouseResource) -> InsightsStore:
    """The insight tables in the warehouse's schema (created if missing)."""
    return InsightsStore(warehouse.setup(), warehouse.db_schema)


def label_delay_weeks(data_source: DataSourceResource) -> int:
    """How late churns are reported: the simulator's configured delay; 0 for a configured
    source, whose labels are taken as known when they are read."""
    return int(data_source.sim_label_delay_weeks) if data_source.config_path is None else 0


@asset(
    partitions_def=weekly_partitions,
    # this week's scores and every cohort inside the lag window (interim comparisons)
    deps=[
        AssetDep("churn_scores", partition_mapping=scored_cohort_mapping(through_current=True)),
        AssetKey("delayed_evaluation"),
    ],
    group_name="insights",
    code_version="1",
    kinds={"postgres"},
    check_specs=[
        AssetCheckSpec(
            ESTIMATE_CHECK, asset="performance_estimate", partitions_def=weekly_partitions
        ),
        AssetCheckSpec(
            EARLY_WARNING_CHECK,
            asset="performance_estimate",
            partitions_def=weekly_partitions,
            description="Observed churners so far vs predicted, per cohort in the lag window",
        ),
    ],
)
def performance_estimate(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_resource: MlflowResource,
    monitoring: MonitoringResource,
    data_source: DataSourceResource,
) -> MaterializeResult:
    """Expected C-index and Brier score of this week's scores before any label is known,
    stored in ``performance_estimates``; earlier cohorts within the lag window are compared
    with the partial labels known today and the cohort scored ``label_lag_weeks`` ago with its
    delayed evaluation. The check fails when the realised C-index strays from the estimate by
    more than ``estimate_gap_threshold``."""
    result = insights.performance_estimate(
        week_of(context.partition_key),
        predictions=warehouse.predictions(),
        evaluations=warehouse.evaluations(),
        store=insights_store(warehouse),
        registry=mlflow_resource.registry(),
        data=data_source,
        horizons=warehouse.horizons,
        label_lag_weeks=monitoring.label_lag_weeks,
        label_delay_weeks=label_delay_weeks(data_source),
        gap_threshold=monitoring.estimate_gap_threshold,
        start=START,
        log=context.log,
    )
    return estimate_materialization(
        result, monitoring.early_warning_alpha, monitoring.early_warning_min_relative
    )


def early_warning_check(
    result: insights.PerformanceEstimate, alpha: float, min_relative: float
) -> AssetCheckResult:
    """WARN before labels mature: a cohort inside the lag window whose churners so far depart
    from the sum of its predicted probabilities over the same window (z-test, p < alpha, and
    observed/expected off by at least ``min_relative``)."""
    warnings = result.early_warnings(alpha, min_relative)
    return AssetCheckResult(
        check_name=EARLY_WARNING_CHECK,
        passed=not warnings,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "cohorts_tested": len(result.event_tests),
            "alpha": alpha,
            "min_relative": min_relative,
            "tests": MetadataValue.json(
                [
                    {
                        "scoring_week": str(t["scoring_week"]),
                        "model_version": int(t["model_version"]),
                        "tau_days": float(t["tau_days"]),
                        "observed": int(t["observed"]),
                        "expected": round(float(t["expected"]), 1),
                        "ratio": round(float(t["ratio"]), 3),
                        "z": round(float(t["z"]), 2),
                        "p_value": float(t["p_value"]),
                        "warns": t in warnings,
                    }
                    for t in result.event_tests
                ]
            ),
        },
    )


def estimate_materialization(
    result: insights.PerformanceEstimate,
    early_warning_alpha: float = 0.01,
    early_warning_min_relative: float = 0.2,
) -> MaterializeResult:
    """Metadata (estimates table, estimated-vs-realised chart), the estimate check and the
    early-warning check."""
    rows = result.rows
    metadata: dict[str, Any] = {
        "tau_days": result.tau_days,
        "estimated_c_index": float(rows[0]["est_c_index"]) if rows else float("nan"),
        "cohorts_compared": len(result.compared),
        "max_abs_gap": result.max_abs_gap,
        "estimates": MetadataValue.md(markdown_table(_estimate_table(rows))),
    }
    chart = _estimate_chart(result.history, result.threshold)
    if chart is not None:
        metadata["estimate_vs_realised"] = MetadataValue.md(chart)
    return MaterializeResult(
        metadata=metadata,
        check_results=[
            AssetCheckResult(
                check_name=ESTIMATE_CHECK,
                passed=not result.breaches,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "max_abs_gap": result.max_abs_gap,
                    "threshold": result.threshold,
                    "breaches": MetadataValue.json(
                        [
                            {
                                "scoring_week": str(r["scoring_week"]),
                                "kind": r["kind"],
                                "estimated": round(float(r["est_c_index"]), 4),
                                "realised": round(float(r["realised_c_index"]), 4),
                            }
                            for r in result.breaches
                        ]
                    ),
                },
            ),
            early_warning_check(result, early_warning_alpha, early_warning_min_relative),
        ],
    )


def _estimate_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The estimates of this run as a small table for the asset metadata."""
    return pd.DataFrame(
        [
            {
                "scoring_week": str(r["scoring_week"]),
                "version": r["model_version"],
                "kind": r["kind"],
                "tau_days": r["tau_days"],
                "estimated_c": r["est_c_index"],
                "realised_c": r.get("realised_c_index", np.nan),
                "gap": r.get("gap_c_index", np.nan),
                "events": r.get("n_events", np.nan),
                "expected_events": r["expected_events"],
            }
            for r in rows
        ]
    )


def _estimate_chart(history: pd.DataFrame, threshold: float) -> str | None:
    if history.empty:
        return None
    series: dict[str, tuple[list[Any], list[float]]] = {}
    for (name, version), g in history.groupby(["model_name", "model_version"]):
        series[f"{name} v{version} estimated"] = (list(g["scoring_week"]), list(g["est_c_index"]))
        done = g[g["realised_c_index"].notna()]
        if not done.empty:
            series[f"{name} v{version} realised"] = (
                list(done["scoring_week"]),
                list(done["realised_c_index"]),
            )
    png = line_png(series, f"Estimated vs realised C-index (gap threshold {threshold})", "C-index")
    return png_markdown(png, "estimated vs realised C-index")


@asset(
    partitions_def=weekly_partitions,
    # this week's scores (drift per segment) and the cohort scored label_lag_weeks ago (C-index)
    deps=[AssetDep("churn_scores", partition_mapping=scored_cohort_mapping(through_current=True))],
    group_name="insights",
    code_version="1",
    kinds={"postgres"},
)
def segment_monitoring(
    context: AssetExecutionContext,
    customer_features: pd.DataFrame,
    churn_labels: pd.DataFrame,
    warehouse: WarehouseResource,
    mlflow_resource: MlflowResource,
    monitoring: MonitoringResource,
    data_source: DataSourceResource,
    artifacts: ArtifactStoreResource,
) -> MaterializeResult:
    """Score drift, feature drift and delayed C-index per configured segment (e.g. contract,
    region, tenure band) vs the model's training reference; segments smaller than
    ``segment_min_size`` are listed as suppressed, without metrics. The worst segments are in
    the metadata; all rows go to ``segment_metrics`` and ``segments/<week>.csv``."""
    result = insights.segment_monitoring(
        week_of(context.partition_key),
        customer_features,
        churn_labels,
        predictions=warehouse.predictions(),
        store=insights_store(warehouse),
        registry=mlflow_resource.registry(),
        artifacts=artifacts.store(),
        data=data_source,
        segment_columns=monitoring.segment_columns,
        policy=SegmentPolicy(min_customers=monitoring.segment_min_size),
        thresholds=monitoring.thresholds(),
        horizons=warehouse.horizons,
        label_lag_weeks=monitoring.label_lag_weeks,
        start=START,
        log=context.log,
    )
    return MaterializeResult(metadata=segment_metadata(result))


def segment_metadata(result: insights.SegmentMonitoring) -> dict[str, Any]:
    """Counts and the worst segments (drift, and C-index once labels are known) as tables."""
    if result.skipped:
        return {"skipped": result.skipped}
    drift = result.drift
    metadata: dict[str, Any] = {
        "model_version": result.model_version,
        "segments": len(drift),
        "suppressed": int(drift["suppressed"].sum()),
        "drift_breached_segments": int(
            (drift["breached"] == True).sum() if "breached" in drift.columns else 0  # noqa: E712
        ),
        "worst_drift_segments": MetadataValue.md(
            markdown_table(
                worst_segments(drift, "score_ks", ascending=False)[
                    [
                        "segment_column",
                        "segment_value",
                        "n_current",
                        "score_ks",
                        "score_psi",
                        "n_features_breached",
                        "worst_feature",
                    ]
                ]
            )
        ),
    }
    evaluation = result.evaluation
    if evaluation is not None:
        metadata["cohort_week"] = str(result.cohort)
        metadata["worst_c_index_segments"] = MetadataValue.md(
            markdown_table(
                worst_segments(evaluation, "c_index")[
                    ["segment_column", "segment_value", "n", "n_events", "c_index", "uno_c"]
                ]
            )
        )
        metadata["suppressed_segments"] = MetadataValue.md(
            markdown_table(
                evaluation[evaluation["suppressed"]][
                    ["segment_column", "segment_value", "n", "n_events", "reason"]
                ]
            )
        )
    metadata["export"] = MetadataValue.path(result.export_uri or "")
    return metadata


@asset(
    name="retention_list",
    partitions_def=weekly_partitions,
    deps=[AssetKey("churn_scores")],
    group_name="insights",
    code_version="1",
    kinds={"postgres", "csv"},
)
def retention_list_asset(
    context: AssetExecutionContext,
    customer_features: pd.DataFrame,
    warehouse: WarehouseResource,
    monitoring: MonitoringResource,
    artifacts: ArtifactStoreResource,
) -> MaterializeResult:
    """The week's call list for the retention team: the ``retention_top_n`` customers with
    the most expected revenue lost within 90 days (monthly value x churn timing), with their
    top risk drivers; ties by customer_id, so a rerun gives the same list. Stored in
    ``retention_list`` and exported as ``retention/<week>.csv``."""
    result = insights.retention_list(
        week_of(context.partition_key),
        customer_features,
        predictions=warehouse.predictions(),
        store=insights_store(warehouse),
        artifacts=artifacts.store(),
        value_column=monitoring.value_column,
        horizons=warehouse.horizons,
        top_n=monitoring.retention_top_n,
        log=context.log,
    )
    if result.skipped:
        return MaterializeResult(metadata={"skipped": result.skipped})
    return MaterializeResult(
        metadata={
            "rows": len(result.top),
            "model_version": result.model_version,
            "rank_horizon_days": result.rank_horizon_days,
            "revenue_at_risk_listed": result.revenue_at_risk_listed,
            "csv": MetadataValue.path(result.export_uri or ""),
            "preview": MetadataValue.md(
                markdown_table(result.top.drop(columns=["top_drivers"]), max_rows=10)
            ),
        }
    )
