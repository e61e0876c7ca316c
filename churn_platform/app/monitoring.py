"""Weekly monitoring computations: delayed-label evaluation and drift, as plain functions.

The Dagster assets in ``defs/assets/monitoring.py`` only fetch inputs, call these and store
the results; everything here is testable without Dagster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from churn_platform.domain.drift import DriftThresholds, FeatureDrift, feature_drift, score_drift
from churn_platform.domain.metrics import SurvivalEvaluation, evaluate_survival
from churn_platform.domain.policy import Observation, Signal
from churn_platform.domain.schema import FeatureContract
from churn_platform.errors import DataContractError


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
                )
            )
    return obs, version
