"""Weekly monitoring use cases: delayed-label evaluation, feature drift and score drift.

Each use case (:func:`delayed_evaluation`, :func:`feature_drift_week`,
:func:`score_drift_week`) reads the week's predictions, measures, stores the numbers in
PostgreSQL, logs them to the MLflow run of the model version that made the predictions
(``step`` = week index) and returns a typed result; the Dagster assets only attach metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from churn_platform.app.calibration import calibrate_cohort, calibration_rows, worst_ici
from churn_platform.app.reference import load_reference
from churn_platform.domain.bootstrap import c_index_interval
from churn_platform.domain.drift import DriftThresholds, FeatureDrift, feature_drift, score_drift
from churn_platform.domain.metrics import SurvivalEvaluation, evaluate_survival
from churn_platform.domain.policy import Observation, Signal
from churn_platform.domain.schema import FeatureContract
from churn_platform.errors import DataContractError
from churn_platform.io.artifacts import ArtifactStore
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.registry import ModelRegistry
from churn_platform.io.results import DriftStore, EvaluationStore

_log = logging.getLogger(__name__)


def week_index(week: date, start: date) -> int:
    """MLflow ``step`` of a week: whole weeks since the first partition."""
    return (week - start).days // 7


def evaluate_cohort(
    predictions: pd.DataFrame, labels: pd.DataFrame, horizons: Sequence[int]
) -> SurvivalEvaluation:
    """C-index, Uno's C, Brier and AUC of old predictions against the labels now known.

    ``predictions``: customer_id, risk_score, churn_prob_<h>d. ``labels``: customer_id,
    duration_days (from the scoring week), event (1 churned, 0 censored: still active or not
    yet known). Customers missing on either side are left out (e.g. scored but deleted). The
    censoring distribution for IPCW weights is estimated on the cohort itself.
    """
    joined = predictions.merge(labels, on="customer_id", how="inner", validate="one_to_one")
    if joined.empty:
        raise DataContractError("no customer of the scored cohort has a label yet")
    d = joined["duration_days"].to_numpy(float)
    e = joined["event"].to_numpy(int)
    surv = {int(h): 1.0 - joined[f"churn_prob_{int(h)}d"].to_numpy(float) for h in horizons}
    return evaluate_survival(d, e, d, e, joined["risk_score"].to_numpy(float), surv, horizons)


def cohort_c_interval(predictions: pd.DataFrame, labels: pd.DataFrame) -> tuple[float, float]:
    """95% bootstrap interval of the cohort's Harrell C (customers resampled), NaN if there
    is no comparable pair."""
    joined = predictions.merge(labels, on="customer_id", how="inner")
    try:
        ci = c_index_interval(
            joined["duration_days"].to_numpy(float),
            joined["event"].to_numpy(int),
            joined["risk_score"].to_numpy(float),
            resamples=200,
        )
    except ValueError:
        return float("nan"), float("nan")
    return ci.low, ci.high


def reported(by_horizon: dict[int, float]) -> dict[int, float]:
    """Only the horizons with a defined value: what is stored and charted (the others are
    beyond follow-up or have ``G(t) = 0``; :func:`absent_metrics` says why)."""
    return {h: float(v) for h, v in by_horizon.items() if np.isfinite(v)}


def absent_metrics(ev: SurvivalEvaluation) -> list[str]:
    """One log line per metric the matured window cannot define, with its reason."""
    return [f"{name} not reported: {why}" for name, why in sorted(ev.undefined.items())]


def evaluation_metrics(ev: SurvivalEvaluation) -> dict[str, float]:
    """Flat metric names logged to MLflow (NaN metrics are left out: MLflow rejects them)."""
    out = {"delayed.c_index": ev.c_index, "delayed.uno_c": ev.uno_c, "delayed.ibs": ev.ibs}
    out.update({f"delayed.brier_{h}d": v for h, v in ev.brier.items()})
    out.update({f"delayed.auc_{h}d": v for h, v in ev.auc.items()})
    out["delayed.n"] = float(ev.n)
    out["delayed.n_events"] = float(ev.n_events)
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


@dataclass(frozen=True)
class DriftOutcome:
    results: list[FeatureDrift]
    frame: pd.DataFrame  # drift_frame() rows

    @property
    def breached(self) -> list[str]:
        return [r.column for r in self.results if r.breached]


def _plain(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    out = df[list(columns)].copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype("object")
    return out


def features_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    contract: FeatureContract,
    thresholds: DriftThresholds,
) -> DriftOutcome:
    """KS (numeric) / chi-square (categorical) + effect size for every contract feature."""
    cols = list(contract.feature_names)
    missing = [c for c in cols if c not in reference.columns]
    if missing:
        raise DataContractError(
            f"training reference lacks feature column(s) {missing}; it was logged by a model "
            f"trained with another feature contract"
        )
    results = feature_drift(
        _plain(reference, cols),
        _plain(current, cols),
        list(contract.numeric_features),
        list(contract.categorical_features),
        thresholds,
    )
    return DriftOutcome(results, _with_db_names(results))


def scores_drift(
    reference_scores: np.ndarray, current_scores: np.ndarray, thresholds: DriftThresholds
) -> DriftOutcome:
    result = score_drift(reference_scores, current_scores, thresholds)
    return DriftOutcome([result], _with_db_names([result]))


def _with_db_names(results: Sequence[FeatureDrift]) -> pd.DataFrame:
    from churn_platform.domain.drift import drift_frame

    frame = drift_frame(results).rename(columns={"column": "column_name"})
    return frame.drop(columns=["kind"])


def drift_metrics(outcome: DriftOutcome, prefix: str) -> dict[str, float]:
    """MLflow metrics per tested column: KS D / PSI effect, p-value, breach flag."""
    out: dict[str, float] = {}
    for r in outcome.results:
        key = f"{prefix}.{r.column}"
        out[f"{key}.effect"] = float(r.effect)
        out[f"{key}.p_value"] = float(r.p_value)
        out[f"{key}.psi"] = float(r.psi)
        out[f"{key}.breached"] = float(r.breached)
    return {k: v for k, v in out.items() if np.isfinite(v)}


def policy_observations(
    evaluations: pd.DataFrame, drift: pd.DataFrame
) -> tuple[list[Observation], int | None]:
    """Monitoring evidence for the retraining policy, for the model version now in service.

    The version in service is the one that produced the most recent drift result or
    evaluation; evidence about older versions is ignored (a retrain already replaced them).
    """
    frames = []
    if not evaluations.empty:
        frames.append(
            evaluations[["evaluated_week", "model_version"]].rename(
                columns={"evaluated_week": "week"}
            )
        )
    if not drift.empty:
        frames.append(drift[["week", "model_version"]])
    if not frames:
        return [], None
    recent = pd.concat(frames).dropna().sort_values("week")
    if recent.empty:
        return [], None
    version = int(recent.iloc[-1]["model_version"])
    obs: list[Observation] = []
    if not evaluations.empty:
        ev = evaluations[evaluations["model_version"] == version]
        obs += [
            Observation(week=w, signal="c_index", value=float(c))
            for w, c in ev[["evaluated_week", "c_index"]].itertuples(index=False, name=None)
            if w is not None
        ]
    if not drift.empty:
        dr = drift[drift["model_version"] == version]
        for (week, kind), g in dr.groupby(["week", "kind"]):
            signal: Signal = "feature_drift" if kind == "feature" else "score_drift"
            obs.append(
                Observation(
                    week=pd.Timestamp(str(week)).date(),
                    signal=signal,
                    value=float(g["breached"].sum()),
                    breached=bool(g["breached"].any()),
                    tested=len(g),
                )
            )
    return obs, version


# --------------------------------------------------------------------------------------------
# Use cases: one weekly monitor each, over the stores and the registry (no Dagster).
# --------------------------------------------------------------------------------------------


def lineage_models(lineage: pd.DataFrame) -> list[tuple[str, int, str]]:
    """(model_name, model_version, model_run_id) of every model that scored a week."""
    return [
        (str(n), int(v), str(r))
        for n, v, r in lineage[["model_name", "model_version", "model_run_id"]].itertuples(
            index=False, name=None
        )
    ]


def main_model(lineage: pd.DataFrame) -> tuple[str, int, str]:
    """The model that scored most of a week's customers (lineage must not be empty)."""
    return lineage_models(lineage.sort_values("n", ascending=False))[0]


@dataclass(frozen=True)
class DelayedEvaluation:
    """The delayed-label evaluation of one cohort: a row per model that scored it (as stored
    in ``model_evaluations``), or why there was nothing to evaluate yet."""

    cohort: date
    rows: list[dict[str, Any]]
    skipped: str = ""
    history: pd.DataFrame | None = None  # all stored evaluations, for the trend chart
    calibration: list[dict[str, Any]] = field(default_factory=list)  # calibration_results rows

    @property
    def worst_c_index(self) -> float:
        return float(min(r["c_index"] for r in self.rows)) if self.rows else float("nan")

    @property
    def worst_ici(self) -> tuple[float, dict[str, Any] | None]:
        """Largest ICI over models and matured horizons, with its calibration row."""
        return worst_ici(self.calibration)


def delayed_evaluation_week(
    week: date,
    labels: pd.DataFrame,
    *,
    predictions: PredictionsRepository,
    evaluations: EvaluationStore,
    registry: ModelRegistry,
    horizons: Sequence[int],
    label_lag_weeks: int,
    start: date,
    log: logging.Logger = _log,
) -> DelayedEvaluation:
    """C-index (Harrell, Uno), Brier and AUC of the predictions made ``label_lag_weeks`` before
    ``week``, stored in ``model_evaluations`` and logged to the MLflow run of each model version
    that made them (``step`` = the cohort's week index), so every model gets a performance time
    series. Calibration (ICI, E50, E90, slope, deciles) at every matured horizon goes to
    ``calibration_results`` and to the same run (``calibration.ici_<h>d``, ...). Skipped (with
    the reason) while there is no scored cohort or no churn known yet."""
    cohort = week - timedelta(weeks=label_lag_weeks)
    lineage = predictions.lineage(cohort) if cohort >= start else pd.DataFrame()
    reason = ""
    if labels.empty or lineage.empty:
        reason = f"no scored cohort for {cohort} yet"
    elif int(labels["event"].sum()) == 0:
        reason = (
            f"no churn reported yet for the cohort of {cohort}: labels arrive later than "
            f"label_lag_weeks={label_lag_weeks}; raise it"
        )
    if reason:
        log.info(reason)
        return DelayedEvaluation(cohort, [], skipped=reason)
    rows: list[dict[str, Any]] = []
    cal_rows: list[dict[str, Any]] = []
    for model_name, model_version, run_id in lineage_models(lineage):
        cols = ["customer_id", "risk_score", *[f"churn_prob_{h}d" for h in horizons]]
        preds = predictions.read_columns(cohort, cols, model_name=model_name)
        ev = evaluate_cohort(preds, labels, horizons)
        c_low, c_high = cohort_c_interval(preds, labels)
        for line in absent_metrics(ev):
            log.info("%s v%s cohort %s: %s", model_name, model_version, cohort, line)
        calibration = calibrate_cohort(preds, labels, horizons)
        metrics = evaluation_metrics(ev)
        for cal in calibration.values():
            metrics.update(cal.metrics("calibration"))
            if not cal.defined:
                log.info("%s v%s cohort %s: %s", model_name, model_version, cohort, cal.undefined)
        interval = {"delayed.c_index_low": c_low, "delayed.c_index_high": c_high}
        metrics.update({k: v for k, v in interval.items() if np.isfinite(v)})
        registry.log_metrics(run_id, metrics, step=week_index(cohort, start))
        cal_rows += calibration_rows(
            calibration,
            scoring_week=cohort,
            evaluated_week=week,
            model_name=model_name,
            model_version=model_version,
            label_lag_weeks=label_lag_weeks,
            run_id=run_id,
        )
        rows.append(
            {
                "scoring_week": cohort,
                "model_name": model_name,
                "model_version": model_version,
                "label_lag_weeks": label_lag_weeks,
                "evaluated_week": week,
                "n": ev.n,
                "n_events": ev.n_events,
                "c_index": ev.c_index,
                "c_index_low": c_low,
                "c_index_high": c_high,
                "uno_c": ev.uno_c,
                "ibs": ev.ibs,
                "brier": reported(ev.brier),
                "auc": reported(ev.auc),
                "mlflow_run_id": run_id,
            }
        )
        log.info(
            "%s v%s on cohort %s: C-index %.4f [%.4f, %.4f] (n=%d, events=%d)",
            model_name,
            model_version,
            cohort,
            ev.c_index,
            c_low,
            c_high,
            ev.n,
            ev.n_events,
        )
    evaluations.upsert(pd.DataFrame(rows))
    if cal_rows:
        evaluations.upsert_calibration(pd.DataFrame(cal_rows))
    return DelayedEvaluation(cohort, rows, history=evaluations.read(), calibration=cal_rows)


@dataclass(frozen=True)
class WeekDrift:
    """One drift monitor's result for a week: which model's reference it was measured
    against, the per-column outcome, and (feature drift) the Evidently report."""

    week: date
    model_name: str
    model_version: int
    run_id: str
    outcome: DriftOutcome
    reference_rows: int = 0
    report_uri: str | None = None
    #: The report's headline: the gate's verdict ("Platform drift verdict: N of M columns
    #: breached ..."), never Evidently's own p-value-only share of drifted columns.
    report_verdict: str | None = None
    current_median_risk: float | None = None


def _week_model(predictions: PredictionsRepository, week: date) -> tuple[str, int, str]:
    lineage = predictions.lineage(week)
    if lineage.empty:
        raise ValueError(f"week {week} has no predictions: materialize churn_scores first")
    return main_model(lineage)


def feature_drift_week(
    week: date,
    current: pd.DataFrame,
    contract: FeatureContract,
    *,
    predictions: PredictionsRepository,
    drift_store: DriftStore,
    registry: ModelRegistry,
    artifacts: ArtifactStore,
    thresholds: DriftThresholds,
    report_sample_rows: int,
    start: date,
    log: logging.Logger = _log,
) -> WeekDrift:
    """Per feature: KS (numeric) or chi-square (categorical) vs the training reference of the
    model that scored the week, with an effect size (KS D / PSI). Stored in ``drift_results``,
    logged to the model's MLflow run, and rendered as an Evidently report (artifact store and
    MLflow run)."""
    from churn_platform.io.evidently_report import render_drift_report

    name, version, run_id = _week_model(predictions, week)
    reference, _ = load_reference(registry, run_id)
    outcome = features_drift(reference, current, contract, thresholds)
    drift_store.replace_week(week, "feature", name, outcome.frame.assign(model_version=version))
    registry.log_metrics(
        run_id, drift_metrics(outcome, "drift.feature"), step=week_index(week, start)
    )
    report = render_drift_report(
        reference,
        current,
        numeric=list(contract.numeric_features),
        categorical=list(contract.categorical_features),
        sample_rows=report_sample_rows,
        title=f"Feature drift {week} vs {name} v{version}",
        thresholds=thresholds,
        gate_verdict=outcome.results,
    )
    uri = artifacts.put_bytes(
        f"reports/drift/{week}/evidently.html", report.html, content_type="text/html"
    )
    registry.log_artifact_bytes(run_id, report.html, f"drift/{week}/evidently.html")
    log.info("feature drift %s: breached %s", week, outcome.breached or "none")
    return WeekDrift(
        week,
        name,
        version,
        run_id,
        outcome,
        reference_rows=len(reference),
        report_uri=uri,
        report_verdict=str(report.summary["platform_verdict"]["headline"]),
    )


def score_drift_week(
    week: date,
    *,
    predictions: PredictionsRepository,
    drift_store: DriftStore,
    registry: ModelRegistry,
    thresholds: DriftThresholds,
    start: date,
    log: logging.Logger = _log,
) -> WeekDrift:
    """The week's risk-score distribution vs the scores the same model gave its training
    reference (KS + PSI), stored in ``drift_results`` and logged to the model's MLflow run."""
    name, version, run_id = _week_model(predictions, week)
    _, ref_scores = load_reference(registry, run_id)
    current = predictions.read_columns(week, ["risk_score"], model_name=name)
    outcome = scores_drift(
        ref_scores["risk_score"].to_numpy(float), current["risk_score"].to_numpy(float), thresholds
    )
    drift_store.replace_week(week, "score", name, outcome.frame.assign(model_version=version))
    registry.log_metrics(
        run_id, drift_metrics(outcome, "drift.score"), step=week_index(week, start)
    )
    r = outcome.results[0]
    log.info("score drift %s: D=%.4f PSI=%.4f breached=%s", week, r.statistic, r.psi, r.breached)
    return WeekDrift(
        week,
        name,
        version,
        run_id,
        outcome,
        current_median_risk=float(np.median(current["risk_score"])),
    )
