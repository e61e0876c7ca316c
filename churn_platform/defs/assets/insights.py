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

Bodies fetch inputs, call :mod:`churn_platform.domain.estimate`, ``segments`` and ``revenue``,
store the results (:mod:`churn_platform.io.insights_store`) and attach metadata.
"""

import functools
import json
from datetime import date, timedelta
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
    asset,
)

from churn_platform.app.monitoring import week_index
from churn_platform.defs.partitions import START_WEEK, week_of, weekly_partitions
from churn_platform.defs.resources import (
    ArtifactStoreResource,
    DataSourceResource,
    MlflowResource,
    MonitoringResource,
    WarehouseResource,
)
from churn_platform.domain.estimate import (
    EstimateComparison,
    compare_with_labels,
    estimate_cox_performance,
    flat_brier,
    label_window_days,
)
from churn_platform.domain.revenue import rank_horizon, retention_list, revenue_column
from churn_platform.domain.segments import (
    SegmentPolicy,
    segment_drift,
    segment_evaluation,
    worst_segments,
)
from churn_platform.domain.survival import BreslowBaseline
from churn_platform.io.insights_store import InsightsStore
from churn_platform.viz.plots import line_png, markdown_table, png_markdown

START = week_of(START_WEEK)
ESTIMATE_CHECK = "estimate_matches_realised"
MIN_COMPARISON_EVENTS = 100
"""A cohort is compared only once this many churns are known (fewer: the realised C is noise)."""


def insights_store(warehouse: WarehouseResource) -> InsightsStore:
    """The insight tables in the warehouse's schema (created if missing)."""
    return InsightsStore(warehouse.setup(), warehouse.db_schema)


@functools.lru_cache(maxsize=8)
def _baseline(tracking_uri: str, model_name: str, version: int) -> BreslowBaseline:
    from churn_platform.io.registry import ModelRegistry

    python_model = ModelRegistry(model_name, tracking_uri=tracking_uri).load_python_model(version)
    baseline: BreslowBaseline = python_model.model.baseline  # type: ignore[attr-defined]
    return baseline


def model_baseline(
    mlflow_resource: MlflowResource, model_name: str, version: int
) -> BreslowBaseline:
    """Breslow baseline of a registered version: turns its risk scores into survival curves."""
    return _baseline(mlflow_resource.resolved_tracking_uri(), model_name, int(version))


def label_delay_weeks(data_source: DataSourceResource) -> int:
    """How late churns are reported: the simulator's configured delay; 0 for a configured
    source, whose labels are taken as known when they are read."""
    return int(data_source.sim_label_delay_weeks) if data_source.config_path is None else 0


# --------------------------------------------------------------------------------------------
# performance_estimate
# --------------------------------------------------------------------------------------------


def _forecast_row(
    week: date,
    name: str,
    version: int,
    run_id: str,
    preds: pd.DataFrame,
    baseline: BreslowBaseline,
    tau: float,
    horizons: list[int],
) -> dict[str, Any]:
    est = estimate_cox_performance(
        preds["risk_score"].to_numpy(float),
        baseline,
        tau,
        horizons,
        ids=preds["customer_id"].to_numpy(),
    )
    return {
        "scoring_week": week,
        "model_name": name,
        "model_version": version,
        "as_of_week": week,
        "kind": "forecast",
        "tau_days": tau,
        "n": est.n,
        "n_sampled": est.n_sampled,
        "est_c_index": est.c_index,
        "est_brier": flat_brier(est.brier),
        "expected_events": est.expected_events,
        "mlflow_run_id": run_id,
    }


@asset(
    partitions_def=weekly_partitions,
    deps=[AssetKey("churn_scores"), AssetKey("delayed_evaluation")],
    group_name="insights",
    code_version="1",
    kinds={"postgres"},
    check_specs=[AssetCheckSpec(ESTIMATE_CHECK, asset="performance_estimate")],
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
    week = week_of(context.partition_key)
    lag = monitoring.label_lag_weeks
    tau = label_window_days(lag, label_delay_weeks(data_source))
    horizons = [int(h) for h in warehouse.horizons]
    repo = warehouse.predictions()
    store = insights_store(warehouse)
    rows: list[dict[str, Any]] = []
    for name, version, run_id in _models(repo.lineage(week)):
        preds = repo.read_columns(week, ["customer_id", "risk_score"], model_name=name)
        baseline = model_baseline(mlflow_resource, name, version)
        rows.append(_forecast_row(week, name, version, run_id, preds, baseline, tau, horizons))
    # Cohorts within the lag window: partial labels; the cohort at the lag: full evaluation.
    compared: list[dict[str, Any]] = []
    evaluations = warehouse.evaluations().read()
    for k in range(1, lag + 1):
        cohort = week - timedelta(weeks=k)
        if cohort < START:
            break
        lineage = repo.lineage(cohort)
        if lineage.empty:
            continue
        labels = data_source.labels_for_cohort(cohort, week)
        if int(labels["event"].sum()) < MIN_COMPARISON_EVENTS:
            continue
        for name, version, run_id in _models(lineage):
            preds = repo.read_columns(cohort, ["customer_id", "risk_score"], model_name=name)
            baseline = model_baseline(mlflow_resource, name, version)
            if k == lag:
                row = _forecast_row(cohort, name, version, run_id, preds, baseline, tau, horizons)
                row.update(_realised(evaluations, cohort, name, version, lag, week))
                if row.get("realised_c_index") is None:
                    continue
                row["gap_c_index"] = float(row["realised_c_index"]) - float(row["est_c_index"])
            else:
                cmp = compare_with_labels(preds, labels, baseline, horizons)
                row = _interim_row(cohort, name, version, run_id, week, cmp)
            rows.append(row)
            compared.append(row)
    store.upsert_estimates(pd.DataFrame(rows))
    for row in rows:
        step = week_index(row["scoring_week"], START)
        metrics = {"estimate.c_index": row["est_c_index"]} if row["kind"] == "forecast" else {}
        if row.get("gap_c_index") is not None:
            metrics[f"estimate.{row['kind']}_gap_c_index"] = row["gap_c_index"]
        if metrics:
            mlflow_resource.registry().log_metrics(str(row["mlflow_run_id"]), metrics, step=step)
    threshold = monitoring.estimate_gap_threshold
    worst = max((abs(float(r["gap_c_index"])) for r in compared), default=0.0)
    breaches = [r for r in compared if abs(float(r["gap_c_index"])) > threshold]
    table = _estimate_table(rows)
    metadata: dict[str, Any] = {
        "tau_days": tau,
        "estimated_c_index": float(rows[0]["est_c_index"]) if rows else float("nan"),
        "cohorts_compared": len(compared),
        "max_abs_gap": worst,
        "estimates": MetadataValue.md(markdown_table(table)),
    }
    chart = _estimate_chart(store, threshold)
    if chart is not None:
        metadata["estimate_vs_realised"] = MetadataValue.md(chart)
    context.log.info(
        "estimate %s: %d cohort(s) compared, max |gap| %.4f", week, len(compared), worst
    )
    return MaterializeResult(
        metadata=metadata,
        check_results=[
            AssetCheckResult(
                check_name=ESTIMATE_CHECK,
                passed=not breaches,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "max_abs_gap": worst,
                    "threshold": threshold,
                    "breaches": MetadataValue.json(
                        [
                            {
                                "scoring_week": str(r["scoring_week"]),
                                "kind": r["kind"],
                                "estimated": round(float(r["est_c_index"]), 4),
                                "realised": round(float(r["realised_c_index"]), 4),
                            }
                            for r in breaches
                        ]
                    ),
                },
            )
        ],
    )


def _interim_row(
    cohort: date, name: str, version: int, run_id: str, week: date, cmp: EstimateComparison
) -> dict[str, Any]:
    """Estimate vs the partial labels known today for a cohort inside the lag window."""
    return {
        "scoring_week": cohort,
        "model_name": name,
        "model_version": version,
        "as_of_week": week,
        "kind": "interim",
        "tau_days": cmp.estimate.tau_days,
        "n": cmp.estimate.n,
        "n_sampled": cmp.estimate.n_sampled,
        "est_c_index": cmp.estimate.c_index,
        "est_brier": flat_brier(cmp.estimate.brier),
        "expected_events": cmp.estimate.expected_events,
        "realised_c_index": cmp.realised_c_index,
        "realised_brier": flat_brier(cmp.realised_brier),
        "n_events": cmp.n_events,
        "gap_c_index": cmp.gap_c_index,
        "realised_week": week,
        "mlflow_run_id": run_id,
    }


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


def _models(lineage: pd.DataFrame) -> list[tuple[str, int, str]]:
    return [
        (str(n), int(v), str(r))
        for n, v, r in lineage[["model_name", "model_version", "model_run_id"]].itertuples(
            index=False, name=None
        )
    ]


def _realised(
    evaluations: pd.DataFrame, cohort: date, name: str, version: int, lag: int, week: date
) -> dict[str, Any]:
    if evaluations.empty:
        return {}
    match = evaluations[
        (evaluations["scoring_week"] == cohort)
        & (evaluations["model_name"] == name)
        & (evaluations["model_version"] == version)
        & (evaluations["label_lag_weeks"] == lag)
    ]
    if match.empty:
        return {}
    ev = match.iloc[-1]
    brier = ev["brier"] if isinstance(ev["brier"], dict) else json.loads(ev["brier"] or "{}")
    return {
        "realised_c_index": float(ev["c_index"]),
        "realised_brier": {str(k): v for k, v in brier.items() if v is not None},
        "n_events": int(ev["n_events"]),
        "realised_week": week,
    }


def _estimate_chart(store: InsightsStore, threshold: float) -> str | None:
    history = store.read_estimates(kind="forecast")
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


# --------------------------------------------------------------------------------------------
# segment_monitoring
# --------------------------------------------------------------------------------------------

_SEGMENT_DB_COLUMNS = {
    "n",
    "n_reference",
    "n_events",
    "c_index",
    "uno_c",
    "score_ks",
    "score_psi",
    "n_features_breached",
    "worst_feature",
    "breached",
    "suppressed",
    "reason",
}


def _segment_rows(frame: pd.DataFrame, **fixed: Any) -> pd.DataFrame:
    """Frame of domain segment rows → table rows (all metrics also kept in ``details``)."""
    if frame.empty:
        return frame
    out = frame.rename(columns={"n_current": "n"}).copy()
    keep = [
        "segment_column",
        "segment_value",
        *[c for c in out.columns if c in _SEGMENT_DB_COLUMNS],
    ]
    details = [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in rec.items()}
        for rec in out.to_dict(orient="records")
    ]
    rows = out[keep].copy()
    rows["details"] = pd.Series(details, index=rows.index, dtype="object")
    for key, value in fixed.items():
        rows[key] = value
    return rows


@asset(
    partitions_def=weekly_partitions,
    deps=[AssetKey("churn_scores")],
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
    week = week_of(context.partition_key)
    columns = [c for c in monitoring.segment_columns if c in customer_features.columns]
    skipped = sorted(set(monitoring.segment_columns) - set(columns))
    if skipped:
        context.log.warning("segment column(s) %s not in the features; skipped", skipped)
    policy = SegmentPolicy(min_customers=monitoring.segment_min_size)
    repo = warehouse.predictions()
    lineage = repo.lineage(week)
    if not columns or lineage.empty:
        reason = "no segment column configured" if not columns else f"no predictions for {week}"
        return MaterializeResult(metadata={"skipped": reason})
    name, version, run_id = _models(lineage.sort_values("n", ascending=False))[0]
    registry = mlflow_resource.registry()
    reference, ref_scores = registry.load_reference(run_id)
    scores = repo.read_columns(week, ["customer_id", "risk_score"], model_name=name)
    current = customer_features.merge(scores, on="customer_id", how="inner")
    drift = segment_drift(
        reference,
        ref_scores["risk_score"].to_numpy(float),
        current,
        current["risk_score"].to_numpy(float),
        columns,
        data_source.contract(),
        monitoring.thresholds(),
        policy,
    )
    store = insights_store(warehouse)
    store.replace_segments(week, "drift", name, _segment_rows(drift, model_version=version))
    frames = [drift.assign(kind="drift")]
    metadata: dict[str, Any] = {
        "model_version": version,
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
    cohort = week - timedelta(weeks=monitoring.label_lag_weeks)
    cohort_lineage = repo.lineage(cohort) if cohort >= START else pd.DataFrame()
    if not churn_labels.empty and not cohort_lineage.empty:
        horizons = [int(h) for h in warehouse.horizons]
        c_name, c_version, c_run = _models(cohort_lineage.sort_values("n", ascending=False))[0]
        cols = ["customer_id", "risk_score", *[f"churn_prob_{h}d" for h in horizons]]
        preds = repo.read_columns(cohort, cols, model_name=c_name)
        segments = data_source.contract().validate(data_source.features_for_week(cohort))
        evaluation = segment_evaluation(
            preds, churn_labels, segments[["customer_id", *columns]], columns, horizons, policy
        )
        store.replace_segments(
            week,
            "evaluation",
            c_name,
            _segment_rows(evaluation, model_version=c_version, scoring_week=cohort),
        )
        frames.append(evaluation.assign(kind="evaluation", scoring_week=cohort))
        shown = evaluation[~evaluation["suppressed"]]
        c_metrics = {
            f"segment.{col}.{_metric_key(str(val))}.c_index": float(c)
            for col, val, c in shown[["segment_column", "segment_value", "c_index"]].itertuples(
                index=False, name=None
            )
            if np.isfinite(float(c))
        }
        registry.log_metrics(c_run, c_metrics, step=week_index(cohort, START))
        metadata["cohort_week"] = str(cohort)
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
    csv = pd.concat(frames, ignore_index=True).to_csv(index=False).encode()
    uri = artifacts.store().put_bytes(f"segments/{week}.csv", csv, content_type="text/csv")
    metadata["export"] = MetadataValue.path(uri)
    return MaterializeResult(metadata=metadata)


def _metric_key(value: str) -> str:
    """MLflow metric names allow alphanumerics, ``_ - . /`` and spaces: replace the rest."""
    return "".join(ch if ch.isalnum() or ch in "_-./ " else "_" for ch in value)


# --------------------------------------------------------------------------------------------
# retention_list
# --------------------------------------------------------------------------------------------


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
    week = week_of(context.partition_key)
    value_column = monitoring.value_column
    if not value_column or value_column not in customer_features.columns:
        reason = f"value column {value_column!r} is not configured or not in the features"
        context.log.warning(reason)
        return MaterializeResult(metadata={"skipped": reason})
    repo = warehouse.predictions()
    lineage = repo.lineage(week)
    if lineage.empty:
        return MaterializeResult(metadata={"skipped": f"no predictions for {week}"})
    name, version, _ = _models(lineage.sort_values("n", ascending=False))[0]
    horizons = [int(h) for h in warehouse.horizons]
    cols = ["customer_id", *[f"churn_prob_{h}d" for h in horizons], "top_drivers"]
    preds = repo.read_columns(week, cols, model_name=name)
    joined = preds.merge(
        customer_features[["customer_id", value_column]], on="customer_id", how="inner"
    )
    h = rank_horizon(horizons)
    top = retention_list(joined, joined[value_column], horizons, monitoring.retention_top_n)
    rows = pd.DataFrame(
        {
            "rank": top["rank"],
            "customer_id": top["customer_id"],
            "model_version": version,
            "rank_horizon_days": h,
            "monthly_value": top["monthly_value"],
            "churn_prob": top[f"churn_prob_{h}d"],
            "revenue_at_risk": top[revenue_column(h)],
            "revenue_at_risk_by_horizon": [
                {str(x): float(r[revenue_column(x)]) for x in horizons} for _, r in top.iterrows()
            ],
            "top_drivers": top["top_drivers"],
        }
    )
    insights_store(warehouse).replace_retention(week, name, rows)
    csv = top.to_csv(index=False, float_format="%.6f").encode()
    uri = artifacts.store().put_bytes(f"retention/{week}.csv", csv, content_type="text/csv")
    return MaterializeResult(
        metadata={
            "rows": len(top),
            "model_version": version,
            "rank_horizon_days": h,
            "revenue_at_risk_listed": float(top[revenue_column(h)].sum()),
            "csv": MetadataValue.path(uri),
            "preview": MetadataValue.md(
                markdown_table(top.drop(columns=["top_drivers"]), max_rows=10)
            ),
        }
    )
