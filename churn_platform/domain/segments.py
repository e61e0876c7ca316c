"""Segment monitoring: is the model still good for *each* group of customers we care about?

A global C-index of 0.80 can hide a region where the model has stopped working, and a global
score distribution can hide a contract type whose risk doubled. Segment monitoring repeats the
weekly monitors on every level of configured segment columns (contract, region, tenure band...):

* **delayed evaluation per segment**: C-index (Harrell, Uno), Brier and AUC of the predictions
  made ``label_lag_weeks`` ago, computed on the segment's customers *alone*: exactly the numbers
  the global evaluation would give if the segment were the whole base (tested);
* **drift per segment**: score drift (KS D, PSI) and feature drift (how many features breach,
  and which one moved the most) of the segment's current customers vs the same segment of the
  model's training reference.

Small segments are **suppressed**, not reported: a C-index on 40 customers with 3 churns is noise
that would page someone for nothing. A segment needs at least ``min_customers`` customers (and,
for the evaluation, ``min_events`` churns; for drift, ``min_customers`` on both sides). A
suppressed segment is still listed, with its size and the reason, and no metric.

Numeric segment columns with many distinct values (e.g. ``tenure_days``) are cut into bands at
quantiles of the model's training reference (:func:`reference_bands`), never of the week being
monitored: the same band then means the same customers in the reference, in this week and in
every other week the model scores, so each segment has a time series, not one point a week with
moving edges. Pure pandas/numpy, no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn_platform.domain.drift import DriftThresholds, feature_drift, score_drift
from churn_platform.domain.metrics import SurvivalEvaluation, evaluate_survival
from churn_platform.domain.schema import FeatureContract

__all__ = [
    "MAX_LEVELS",
    "SegmentPolicy",
    "band_edges",
    "reference_bands",
    "segment_drift",
    "segment_evaluation",
    "segment_labels",
    "worst_segments",
]

MAX_LEVELS = 20
"""A column with more distinct values than this is treated as numeric and cut into bands."""


@dataclass(frozen=True)
class SegmentPolicy:
    """When a segment is big enough to report.

    ``min_customers``: customers in the segment (both in the reference and the current week for
    drift). ``min_events``: churns observed in the segment's cohort for an evaluation.
    ``bands``: quantile bands for numeric segment columns.
    """

    min_customers: int = 200
    min_events: int = 20
    bands: int = 4

    def __post_init__(self) -> None:
        if self.min_customers < 1 or self.min_events < 1 or self.bands < 2:
            raise ValueError(
                "min_customers and min_events must be >= 1 and bands >= 2, got "
                f"{self.min_customers}, {self.min_events}, {self.bands}"
            )


def band_edges(values: pd.Series, bands: int) -> list[float] | None:
    """Quantile cut points for a numeric column, or None for a column used level by level."""
    if values.nunique(dropna=True) <= MAX_LEVELS or not pd.api.types.is_numeric_dtype(values):
        return None
    qs = np.quantile(values.dropna().to_numpy(dtype=float), np.linspace(0, 1, bands + 1)[1:-1])
    return sorted({float(q) for q in qs})


def reference_bands(
    reference: pd.DataFrame, segment_columns: Sequence[str], bands: int
) -> dict[str, list[float] | None]:
    """Band edges of every segment column, from the model's training reference.

    Computed once per model version (its reference does not change), and handed to
    :func:`segment_evaluation` and :func:`segment_drift` so every week is cut the same way.
    ``None`` for a column used level by level.
    """
    _require(reference, segment_columns, "reference")
    return {column: band_edges(reference[column], bands) for column in segment_columns}


def _edges_for(
    column: str, values: pd.Series, edges: Mapping[str, list[float] | None] | None, bands: int
) -> list[float] | None:
    if edges is None:
        return band_edges(values, bands)
    if column not in edges:
        raise ValueError(f"no reference band edges for segment column {column!r}")
    return edges[column]


def segment_labels(values: pd.Series, edges: list[float] | None) -> pd.Series:
    """Segment label of each customer: the level itself, or its band ``[lo, hi)``."""
    if edges is None:
        return values.astype("object").where(values.notna(), "<missing>").astype(str)
    cuts = [-np.inf, *edges, np.inf]
    names = [f"[{_num(lo)}, {_num(hi)})" for lo, hi in itertools.pairwise(cuts)]
    codes = np.searchsorted(np.asarray(edges, dtype=float), values.to_numpy(float), side="right")
    out = pd.Series(np.asarray(names, dtype=object)[codes], index=values.index, dtype="object")
    return out.where(values.notna(), "<missing>")


def _num(x: float) -> str:
    return "-inf" if x == -np.inf else "inf" if x == np.inf else f"{x:.4g}"


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks segment column(s) {missing}")


def segment_evaluation(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    segments: pd.DataFrame,
    segment_columns: Sequence[str],
    horizons: Sequence[int],
    policy: SegmentPolicy = SegmentPolicy(),
    edges: Mapping[str, list[float] | None] | None = None,
) -> pd.DataFrame:
    """Delayed evaluation of each segment on its own customers.

    ``edges``: band edges per segment column from the model's reference
    (:func:`reference_bands`); the monitors always pass them. Without them numeric columns are
    cut at this cohort's own quantiles, which move from week to week.

    ``predictions`` and ``labels`` as for :func:`churn_platform.app.monitoring.evaluate_cohort`;
    ``segments``: customer_id plus the segment columns, as of the scoring week. One row per
    (segment_column, segment_value) with n, n_events, c_index, uno_c, ibs, brier_<h>d, auc_<h>d,
    ``suppressed`` and ``reason``; metrics are NaN for suppressed segments.
    """
    _require(segments, segment_columns, "segment frame")
    joined = predictions.merge(labels, on="customer_id", how="inner", validate="one_to_one")
    joined = joined.merge(
        segments[["customer_id", *segment_columns]],
        on="customer_id",
        how="inner",
        validate="one_to_one",
    )
    rows: list[dict[str, object]] = []
    for column in segment_columns:
        cut = _edges_for(column, joined[column], edges, policy.bands)
        seg = segment_labels(joined[column], cut)
        for value in sorted(seg.unique(), key=str):
            part = joined[seg == value]
            n, n_events = len(part), int(part["event"].sum())
            row: dict[str, object] = {
                "segment_column": column,
                "segment_value": str(value),
                "n": n,
                "n_events": n_events,
            }
            reason = ""
            if n < policy.min_customers:
                reason = f"{n} customers < {policy.min_customers}"
            elif n_events < policy.min_events:
                reason = f"{n_events} churns < {policy.min_events}"
            metrics: dict[str, float] = {}
            if not reason:
                try:
                    ev = _evaluate(part, horizons)
                except ValueError as exc:  # e.g. no comparable pair
                    reason = f"undefined: {exc}"
                else:
                    metrics = {"c_index": ev.c_index, "uno_c": ev.uno_c, "ibs": ev.ibs}
                    metrics.update({f"brier_{h}d": v for h, v in ev.brier.items()})
                    metrics.update({f"auc_{h}d": v for h, v in ev.auc.items()})
            row.update(metrics)
            row["suppressed"] = bool(reason)
            row["reason"] = reason
            rows.append(row)
    return _ordered(pd.DataFrame(rows), ["c_index", "uno_c", "ibs"])


def segment_drift(
    reference: pd.DataFrame,
    reference_scores: np.ndarray,
    current: pd.DataFrame,
    current_scores: np.ndarray,
    segment_columns: Sequence[str],
    contract: FeatureContract,
    thresholds: DriftThresholds,
    policy: SegmentPolicy = SegmentPolicy(),
    edges: Mapping[str, list[float] | None] | None = None,
) -> pd.DataFrame:
    """Score and feature drift of each segment vs the same segment of the training reference.

    ``reference_scores``/``current_scores`` are the risk scores row-aligned with
    ``reference``/``current``. Bands of numeric segment columns come from the reference. One row
    per segment: n_reference, n_current, score_ks, score_psi, score_breached,
    n_features_breached, features_breached, worst_feature, worst_feature_effect, ``breached``
    (score or any feature), ``suppressed``, ``reason``.
    """
    _require(reference, segment_columns, "reference")
    _require(current, segment_columns, "current week")
    ref_s = np.asarray(reference_scores, dtype=float)
    cur_s = np.asarray(current_scores, dtype=float)
    if ref_s.size != len(reference) or cur_s.size != len(current):
        raise ValueError("scores must be row-aligned with their feature frames")
    rows: list[dict[str, object]] = []
    for column in segment_columns:
        cut = _edges_for(column, reference[column], edges, policy.bands)
        ref_seg = segment_labels(reference[column], cut).to_numpy()
        cur_seg = segment_labels(current[column], cut).to_numpy()
        for value in sorted(set(ref_seg) | set(cur_seg), key=str):
            rmask, cmask = ref_seg == value, cur_seg == value
            n_ref, n_cur = int(rmask.sum()), int(cmask.sum())
            row: dict[str, object] = {
                "segment_column": column,
                "segment_value": str(value),
                "n_reference": n_ref,
                "n_current": n_cur,
            }
            small = min(n_ref, n_cur)
            reason = (
                f"{small} customers < {policy.min_customers}"
                if small < policy.min_customers
                else ""
            )
            if not reason:
                score = score_drift(ref_s[rmask], cur_s[cmask], thresholds)
                feats = feature_drift(
                    _plain(reference[rmask], contract.feature_names),
                    _plain(current[cmask], contract.feature_names),
                    list(contract.numeric_features),
                    list(contract.categorical_features),
                    thresholds,
                )
                breached = [r.column for r in feats if r.breached]
                worst = max(feats, key=lambda r: float(r.effect))
                row.update(
                    {
                        "score_ks": float(score.statistic),
                        "score_psi": float(score.psi),
                        "score_breached": bool(score.breached),
                        "n_features_breached": len(breached),
                        "features_breached": ",".join(breached),
                        "worst_feature": worst.column,
                        "worst_feature_effect": float(worst.effect),
                        "breached": bool(score.breached or breached),
                    }
                )
            row["suppressed"] = bool(reason)
            row["reason"] = reason
            rows.append(row)
    return _ordered(pd.DataFrame(rows), ["score_ks", "score_psi"])


def _evaluate(joined: pd.DataFrame, horizons: Sequence[int]) -> SurvivalEvaluation:
    """The global delayed evaluation (``monitoring.evaluate_cohort``) on one segment: the
    censoring distribution for IPCW weights is estimated on the segment itself."""
    d = joined["duration_days"].to_numpy(float)
    e = joined["event"].to_numpy(int)
    surv = {int(h): 1.0 - joined[f"churn_prob_{int(h)}d"].to_numpy(float) for h in horizons}
    return evaluate_survival(d, e, d, e, joined["risk_score"].to_numpy(float), surv, horizons)


def _plain(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    out = frame[list(columns)].copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype("object")
    return out


def _ordered(frame: pd.DataFrame, numeric: Sequence[str]) -> pd.DataFrame:
    for col in numeric:
        if col not in frame.columns:
            frame[col] = np.nan
    return frame.reset_index(drop=True)


def worst_segments(
    frame: pd.DataFrame, by: str, n: int = 5, ascending: bool = True
) -> pd.DataFrame:
    """The ``n`` reported (not suppressed) segments with the lowest (or highest) ``by``;
    ties broken by segment column and value so the list is stable."""
    if frame.empty or by not in frame.columns:
        return frame.head(0)
    shown = frame[~frame["suppressed"].astype(bool) & frame[by].notna()]
    return shown.sort_values(
        [by, "segment_column", "segment_value"], ascending=[ascending, True, True], kind="stable"
    ).head(n)
