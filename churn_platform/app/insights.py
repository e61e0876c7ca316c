"""Weekly insight use cases: performance estimate before labels, segment monitoring, retention list.

* :func:`performance_estimate`: what C-index and Brier score this week's scores should reach,
  from the model's own survival curves (no labels needed); the cohorts scored within the lag
  window are checked against the partial labels already known, and the cohort scored
  ``label_lag_weeks`` ago against the full delayed evaluation. A realised C-index that strays
  from its estimate means the model no longer knows how good it is, which is what concept drift
  looks like before the full labels show it.
* :func:`segment_monitoring`: score/feature drift and delayed C-index per segment (contract,
  region, tenure band...), small segments suppressed.
* :func:`retention_list`: the top N customers by revenue at risk with their top risk drivers,
  stored and exported as a CSV for campaign tools.

Each reads its inputs through the storage adapters, calls :mod:`churn_platform.domain.estimate`,
``segments`` and ``revenue``, stores the results (:mod:`churn_platform.io.insights_store`,
MLflow, the artifact store) and returns a typed result; the Dagster assets attach metadata.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from churn_platform.app.monitoring import lineage_models, main_model, week_index
from churn_platform.app.reference import load_reference
from churn_platform.domain.drift import DriftThresholds
from churn_platform.domain.estimate import (
    EstimateComparison,
    compare_with_labels,
    estimate_cox_performance,
    flat_brier,
    label_window_days,
)
from churn_platform.domain.revenue import rank_horizon, revenue_column
from churn_platform.domain.revenue import retention_list as rank_retention
from churn_platform.domain.schema import FeatureContract
from churn_platform.domain.segments import (
    SegmentPolicy,
    reference_bands,
    segment_drift,
    segment_evaluation,
)
from churn_platform.domain.survival import BreslowBaseline
from churn_platform.io.artifacts import ArtifactStore
from churn_platform.io.insights_store import InsightsStore
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.registry import ModelRegistry
from churn_platform.io.results import EvaluationStore

_log = logging.getLogger(__name__)

MIN_COMPARISON_EVENTS = 100
"""A cohort is compared only once this many churns are known (fewer: the realised C is noise)."""


class CustomerData(Protocol):
    """The customer data an insight needs: weekly features, labels known so far, the contract."""

    def contract(self) -> FeatureContract: ...

    def features_for_week(self, week: date) -> pd.DataFrame: ...

    def labels_for_cohort(self, cohort_week: date, as_of: date) -> pd.DataFrame: ...


@functools.lru_cache(maxsize=8)
def _baseline(tracking_uri: str, model_name: str, version: int) -> BreslowBaseline:
    python_model = ModelRegistry(model_name, tracking_uri=tracking_uri).load_python_model(version)
    baseline: BreslowBaseline = python_model.model.baseline  # type: ignore[attr-defined]
    return baseline


def model_baseline(registry: ModelRegistry, model_name: str, version: int) -> BreslowBaseline:
    """Breslow baseline of a registered version: turns its risk scores into survival curves
    (cached per process: a version's baseline never changes)."""
    return _baseline(registry.tracking_uri, model_name, int(version))


# --------------------------------------------------------------------------------------------
# performance_estimate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerformanceEstimate:
    """This week's forecasts and the earlier cohorts compared with what is known of them now.

    ``rows`` are the ``performance_estimates`` rows written (forecasts first); ``compared``
    those with a realised C-index; ``breaches`` those whose |gap| exceeds ``threshold``;
    ``history`` all stored forecasts, for the estimated-vs-realised chart."""

    week: date
    tau_days: float
    rows: list[dict[str, Any]]
    compared: list[dict[str, Any]]
    threshold: float
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    # early warning: per interim cohort, observed churners so far vs the sum of predicted
    # probabilities over the same partially observed window (domain.calibration.EventCountTest)
    event_tests: list[dict[str, Any]] = field(default_factory=list)

    def early_warnings(self, alpha: float, min_relative: float) -> list[dict[str, Any]]:
        """Interim cohorts whose churner count departs from the prediction: two-sided
        ``p_value < alpha`` and ``|observed / expected - 1| >= min_relative``."""
        return [
            t
            for t in self.event_tests
            if t["p_value"] < alpha and abs(t["ratio"] - 1.0) >= min_relative
        ]

    @property
    def max_abs_gap(self) -> float:
        return max((abs(float(r["gap_c_index"])) for r in self.compared), default=0.0)

    @property
    def breaches(self) -> list[dict[str, Any]]:
        return [r for r in self.compared if abs(float(r["gap_c_index"])) > self.threshold]


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


def _event_test_row(
    cohort: date, name: str, version: int, run_id: str, cmp: EstimateComparison
) -> dict[str, Any]:
    t = cmp.event_test
    assert t is not None
    return {
        "scoring_week": cohort,
        "model_name": name,
        "model_version": version,
        "tau_days": cmp.estimate.tau_days,
        "observed": t.observed,
        "expected": t.expected,
        "ratio": t.ratio,
        "z": t.z,
        "p_value": t.p_value,
        "mlflow_run_id": run_id,
    }


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


def performance_estimate(
    week: date,
    *,
    predictions: PredictionsRepository,
    evaluations: EvaluationStore,
    store: InsightsStore,
    registry: ModelRegistry,
    data: CustomerData,
    horizons: Sequence[int],
    label_lag_weeks: int,
    label_delay_weeks: int,
    gap_threshold: float,
    start: date,
    log: logging.Logger = _log,
) -> PerformanceEstimate:
    """Expected C-index and Brier score of ``week``'s scores before any label is known, stored
    in ``performance_estimates`` and logged to each model's MLflow run; earlier cohorts within
    the lag window are compared with the partial labels known today and the cohort scored
    ``label_lag_weeks`` ago with its delayed evaluation."""
    lag = label_lag_weeks
    tau = label_window_days(lag, label_delay_weeks)
    hs = [int(h) for h in horizons]
    rows: list[dict[str, Any]] = []
    for name, version, run_id in lineage_models(predictions.lineage(week)):
        preds = predictions.read_columns(week, ["customer_id", "risk_score"], model_name=name)
        baseline = model_baseline(registry, name, version)
        rows.append(_forecast_row(week, name, version, run_id, preds, baseline, tau, hs))
    # Cohorts within the lag window: partial labels; the cohort at the lag: full evaluation.
    compared: list[dict[str, Any]] = []
    event_tests: list[dict[str, Any]] = []
    stored_evaluations = evaluations.read()
    for k in range(1, lag + 1):
        cohort = week - timedelta(weeks=k)
        if cohort < start:
            break
        lineage = predictions.lineage(cohort)
        if lineage.empty:
            continue
        labels = data.labels_for_cohort(cohort, week)
        if int(labels["event"].sum()) < MIN_COMPARISON_EVENTS:
            continue
        for name, version, run_id in lineage_models(lineage):
            preds = predictions.read_columns(cohort, ["customer_id", "risk_score"], model_name=name)
            baseline = model_baseline(registry, name, version)
            if k == lag:
                row = _forecast_row(cohort, name, version, run_id, preds, baseline, tau, hs)
                row.update(_realised(stored_evaluations, cohort, name, version, lag, week))
                if row.get("realised_c_index") is None:
                    continue
                row["gap_c_index"] = float(row["realised_c_index"]) - float(row["est_c_index"])
            else:
                cmp = compare_with_labels(preds, labels, baseline, hs)
                row = _interim_row(cohort, name, version, run_id, week, cmp)
                if cmp.event_test is not None:
                    event_tests.append(_event_test_row(cohort, name, version, run_id, cmp))
            rows.append(row)
            compared.append(row)
    store.upsert_estimates(pd.DataFrame(rows))
    for row in rows:
        step = week_index(row["scoring_week"], start)
        metrics = {"estimate.c_index": row["est_c_index"]} if row["kind"] == "forecast" else {}
        if row.get("gap_c_index") is not None:
            metrics[f"estimate.{row['kind']}_gap_c_index"] = row["gap_c_index"]
        if metrics:
            registry.log_metrics(str(row["mlflow_run_id"]), metrics, step=step)
    for t in event_tests:
        registry.log_metrics(
            str(t["mlflow_run_id"]),
            {"estimate.interim_oe_ratio": t["ratio"], "estimate.interim_oe_z": t["z"]},
            step=week_index(t["scoring_week"], start),
        )
    result = PerformanceEstimate(
        week,
        tau,
        rows,
        compared,
        gap_threshold,
        store.read_estimates(kind="forecast"),
        event_tests,
    )
    log.info(
        "estimate %s: %d cohort(s) compared, max |gap| %.4f",
        week,
        len(compared),
        result.max_abs_gap,
    )
    return result


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


def segment_rows(frame: pd.DataFrame, **fixed: Any) -> pd.DataFrame:
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


def metric_key(value: str) -> str:
    """MLflow metric names allow alphanumerics, ``_ - . /`` and spaces: replace the rest."""
    return "".join(ch if ch.isalnum() or ch in "_-./ " else "_" for ch in value)


@dataclass(frozen=True)
class SegmentMonitoring:
    """Per-segment drift of ``week`` (and, once labels are known, the per-segment delayed
    evaluation of the cohort scored ``label_lag_weeks`` earlier), or why it was skipped."""

    week: date
    skipped: str = ""
    skipped_columns: list[str] = field(default_factory=list)
    model_version: int | None = None
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    cohort: date | None = None
    evaluation: pd.DataFrame | None = None
    export_uri: str | None = None


def segment_monitoring(
    week: date,
    features: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    predictions: PredictionsRepository,
    store: InsightsStore,
    registry: ModelRegistry,
    artifacts: ArtifactStore,
    data: CustomerData,
    segment_columns: Sequence[str],
    policy: SegmentPolicy,
    thresholds: DriftThresholds,
    horizons: Sequence[int],
    label_lag_weeks: int,
    start: date,
    log: logging.Logger = _log,
) -> SegmentMonitoring:
    """Score drift, feature drift and delayed C-index per segment column value vs the model's
    training reference; segments smaller than the policy's minimum are listed as suppressed,
    without metrics. All rows go to ``segment_metrics`` and ``segments/<week>.csv``; segment
    C-indexes are logged to the scoring model's MLflow run."""
    columns = [c for c in segment_columns if c in features.columns]
    skipped = sorted(set(segment_columns) - set(columns))
    if skipped:
        log.warning("segment column(s) %s not in the features; skipped", skipped)
    lineage = predictions.lineage(week)
    if not columns or lineage.empty:
        reason = "no segment column configured" if not columns else f"no predictions for {week}"
        return SegmentMonitoring(week, skipped=reason, skipped_columns=skipped)
    name, version, run_id = main_model(lineage)
    reference, ref_scores = load_reference(registry, run_id)
    scores = predictions.read_columns(week, ["customer_id", "risk_score"], model_name=name)
    current = features.merge(scores, on="customer_id", how="inner")
    contract = data.contract()
    drift = segment_drift(
        reference,
        ref_scores["risk_score"].to_numpy(float),
        current,
        current["risk_score"].to_numpy(float),
        columns,
        contract,
        thresholds,
        policy,
        edges=reference_bands(reference, columns, policy.bands),
    )
    store.replace_segments(week, "drift", name, segment_rows(drift, model_version=version))
    frames = [drift.assign(kind="drift")]
    cohort = week - timedelta(weeks=label_lag_weeks)
    cohort_lineage = predictions.lineage(cohort) if cohort >= start else pd.DataFrame()
    evaluation: pd.DataFrame | None = None
    if not labels.empty and not cohort_lineage.empty:
        c_name, c_version, c_run = main_model(cohort_lineage)
        cols = ["customer_id", "risk_score", *[f"churn_prob_{int(h)}d" for h in horizons]]
        preds = predictions.read_columns(cohort, cols, model_name=c_name)
        segments = contract.validate(data.features_for_week(cohort))
        # Bands from the scoring model's training reference (cached per run), not from this
        # cohort: the same band means the same customers every week.
        c_reference = reference if c_run == run_id else load_reference(registry, c_run)[0]
        evaluation = segment_evaluation(
            preds,
            labels,
            segments[["customer_id", *columns]],
            columns,
            [int(h) for h in horizons],
            policy,
            edges=reference_bands(c_reference, columns, policy.bands),
        )
        store.replace_segments(
            week,
            "evaluation",
            c_name,
            segment_rows(evaluation, model_version=c_version, scoring_week=cohort),
        )
        frames.append(evaluation.assign(kind="evaluation", scoring_week=cohort))
        shown = evaluation[~evaluation["suppressed"]]
        c_metrics = {
            f"segment.{col}.{metric_key(str(val))}.c_index": float(c)
            for col, val, c in shown[["segment_column", "segment_value", "c_index"]].itertuples(
                index=False, name=None
            )
            if np.isfinite(float(c))
        }
        registry.log_metrics(c_run, c_metrics, step=week_index(cohort, start))
    csv = pd.concat(frames, ignore_index=True).to_csv(index=False).encode()
    uri = artifacts.put_bytes(f"segments/{week}.csv", csv, content_type="text/csv")
    return SegmentMonitoring(
        week,
        skipped_columns=skipped,
        model_version=version,
        drift=drift,
        cohort=cohort if evaluation is not None else None,
        evaluation=evaluation,
        export_uri=uri,
    )


# --------------------------------------------------------------------------------------------
# retention_list
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionList:
    """The week's call list (``top``, ranked) or why there is none."""

    week: date
    skipped: str = ""
    model_version: int | None = None
    rank_horizon_days: int | None = None
    top: pd.DataFrame = field(default_factory=pd.DataFrame)
    export_uri: str | None = None

    @property
    def revenue_at_risk_listed(self) -> float:
        if self.rank_horizon_days is None:
            return 0.0
        return float(self.top[revenue_column(self.rank_horizon_days)].sum())


def retention_list(
    week: date,
    features: pd.DataFrame,
    *,
    predictions: PredictionsRepository,
    store: InsightsStore,
    artifacts: ArtifactStore,
    value_column: str | None,
    horizons: Sequence[int],
    top_n: int,
    log: logging.Logger = _log,
) -> RetentionList:
    """The ``top_n`` customers with the most expected revenue lost within the ranking horizon
    (monthly value x churn timing), with their top risk drivers; ties by customer_id, so a
    rerun gives the same list. Stored in ``retention_list`` and exported as
    ``retention/<week>.csv``."""
    if not value_column or value_column not in features.columns:
        reason = f"value column {value_column!r} is not configured or not in the features"
        log.warning(reason)
        return RetentionList(week, skipped=reason)
    lineage = predictions.lineage(week)
    if lineage.empty:
        return RetentionList(week, skipped=f"no predictions for {week}")
    name, version, _ = main_model(lineage)
    hs = [int(h) for h in horizons]
    cols = ["customer_id", *[f"churn_prob_{h}d" for h in hs], "top_drivers"]
    preds = predictions.read_columns(week, cols, model_name=name)
    joined = preds.merge(features[["customer_id", value_column]], on="customer_id", how="inner")
    h = rank_horizon(hs)
    top = rank_retention(joined, joined[value_column], hs, top_n)
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
                {str(x): float(r[revenue_column(x)]) for x in hs} for _, r in top.iterrows()
            ],
            "top_drivers": top["top_drivers"],
        }
    )
    store.replace_retention(week, name, rows)
    csv = top.to_csv(index=False, float_format="%.6f").encode()
    uri = artifacts.put_bytes(f"retention/{week}.csv", csv, content_type="text/csv")
    return RetentionList(week, "", version, h, top, uri)
