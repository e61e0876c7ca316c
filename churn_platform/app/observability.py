"""Monitoring numbers as Prometheus metrics: what the churn model is doing, right now.

The weekly monitors already store their results in PostgreSQL (``model_evaluations``,
``drift_results``, ``predictions``, ``alias_history``). This module turns a snapshot of those
tables into Prometheus gauge families so that on-call people get dashboards and alerts in the
tools they already watch:

* model quality — the delayed C-index of each model version on its most recent evaluated week;
* drift — per feature (and for the risk score) the test's p-value, effect size and breach flag
  of the most recent monitored week;
* scoring — customers scored in the latest week, when they were scored, how long the scoring
  step took, whether the last weekly scoring run failed, and the shape of the risk-score
  distribution (quantiles) for spotting a shifting customer base;
* registry — which version is in production (and in each alias), and since when.

Only the *latest* value of each quantity is published; the full week-by-week history stays in
PostgreSQL, which Grafana also reads directly. Labels are deliberately few and bounded —
``model_name``, ``model_version``, ``kind``, ``feature``, ``test``, ``alias``, ``quantile``,
``threshold`` — never a customer id or a week (each week as a label would add series forever).

Pure: DataFrames and plain values in, ``prometheus_client`` metric families out. No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.results import AliasHistory, DriftStore, EvaluationStore

PREFIX = "churn"
#: Label names a published series may carry: all bounded by the number of models, versions,
#: features, aliases and quantiles — never by customers or weeks.
ALLOWED_LABELS = frozenset(
    {"model_name", "model_version", "kind", "feature", "test", "alias", "quantile", "threshold"}
)
SCORE_QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


@dataclass(frozen=True)
class ScoringJobStatus:
    """What the orchestrator knows about the weekly scoring job (times are Unix seconds, UTC).

    ``last_status`` is the final status of the most recent finished run (``SUCCESS``,
    ``FAILURE`` or ``CANCELED``); ``scoring_step_seconds`` is how long the ``churn_scores``
    step took in the run that last wrote scores.
    """

    last_status: str | None = None
    last_finished_at: float | None = None
    last_success_at: float | None = None
    last_success_seconds: float | None = None
    scoring_step_seconds: float | None = None


@dataclass(frozen=True)
class MonitoringSnapshot:
    """The monitoring tables as read at one moment, ready to be published.

    * ``evaluations``: rows of ``model_evaluations`` (scoring_week, model_name, model_version,
      n, n_events, c_index, uno_c, ibs, ...).
    * ``drift``: rows of ``drift_results`` (week, kind, column_name, test, statistic, p_value,
      effect, psi, breached, model_name, model_version).
    * ``volume``: customers scored per model version in each model's latest scored week
      (scoring_week, model_name, model_version, n).
    * ``scores``: the latest week's predictions reduced to model_name, model_version,
      risk_score, scored_at (for quantiles and the last scoring time).
    * ``aliases``: rows of ``alias_history`` (model_name, alias, version, changed_at).
    * ``thresholds``: the alerting thresholds in force (c_index, alpha, min_ks, min_psi).
    """

    evaluations: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    volume: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    aliases: pd.DataFrame = field(default_factory=pd.DataFrame)
    scoring_job: ScoringJobStatus | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)
    exported_at: datetime | None = None


def _finite(value: Any) -> float | None:
    """A plain float, or None for missing/NaN/inf values (such series are not published)."""
    if value is None or value is pd.NaT:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _flag(value: Any) -> float | None:
    """1.0/0.0 for a true/false flag; None when unknown (NULL/NaN)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(bool(value))


def _version(value: Any) -> str:
    number = _finite(value)
    return str(int(number)) if number is not None else ""


def week_timestamp(week: Any) -> float:
    """Unix seconds of Monday 00:00 UTC of a scoring week (date, datetime or ISO string)."""
    if isinstance(week, str):
        week = date.fromisoformat(week[:10])
    if isinstance(week, pd.Timestamp):
        week = week.to_pydatetime()
    if isinstance(week, datetime):
        week = week.date()
    return datetime.combine(week, time(0), tzinfo=UTC).timestamp()


def timestamp_seconds(value: Any) -> float | None:
    """Unix seconds of a timezone-aware (or UTC-naive) timestamp; None when missing."""
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return float(ts.timestamp())


class _Families:
    """Collects gauge families by name; skips missing values so no NaN series is published."""

    def __init__(self) -> None:
        self._families: dict[str, GaugeMetricFamily] = {}
        self._labels: dict[str, list[str]] = {}

    def add(self, name: str, doc: str, value: Any, labels: Mapping[str, str] | None = None) -> None:
        number = _finite(value)
        if number is None:
            return
        labels = dict(labels or {})
        unknown = set(labels) - ALLOWED_LABELS
        if unknown:  # a programming error: keep cardinality bounded by construction
            raise ValueError(f"label(s) {sorted(unknown)} are not allowed on {name}")
        full = f"{PREFIX}_{name}"
        family = self._families.get(full)
        if family is None:
            family = GaugeMetricFamily(full, doc, labels=list(labels))
            self._families[full] = family
            self._labels[full] = list(labels)
        elif list(labels) != self._labels[full]:
            raise ValueError(f"{full}: labels {list(labels)} != {self._labels[full]}")
        family.add_metric(list(labels.values()), number)

    def families(self) -> list[Metric]:
        return list(self._families.values())


def _latest_per(frame: pd.DataFrame, keys: Sequence[str], order: str) -> pd.DataFrame:
    """The rows with the greatest ``order`` value within each group of ``keys``."""
    if frame.empty:
        return frame
    latest = frame.groupby(list(keys), dropna=False)[order].transform("max")
    return frame[frame[order] == latest]


def _evaluation_families(out: _Families, evaluations: pd.DataFrame) -> None:
    if evaluations.empty:
        return
    ev = evaluations.copy()
    ev["scoring_week"] = pd.to_datetime(ev["scoring_week"])
    # Per version: its most recent evaluated week (shortest label lag if several were stored).
    per_version = _latest_per(ev, ["model_name", "model_version"], "scoring_week")
    per_version = per_version.sort_values("label_lag_weeks").drop_duplicates(
        ["model_name", "model_version"]
    )
    for row in per_version.itertuples(index=False):
        labels = {"model_name": str(row.model_name), "model_version": _version(row.model_version)}
        out.add(
            "model_c_index",
            "Harrell C-index of the version's most recent evaluated scoring week (labels "
            "arrive label_lag_weeks later); 0.5 = random ranking, 1 = perfect.",
            row.c_index,
            labels,
        )
        out.add(
            "model_uno_c_index",
            "Uno's censoring-adjusted C-index of the version's most recent evaluated week.",
            getattr(row, "uno_c", None),
            labels,
        )
        out.add(
            "model_integrated_brier_score",
            "Integrated Brier score (lower is better) of the most recent evaluated week.",
            getattr(row, "ibs", None),
            labels,
        )
        out.add(
            "model_evaluated_customers",
            "Customers in the most recent evaluated cohort of the version.",
            getattr(row, "n", None),
            labels,
        )
        out.add(
            "model_evaluated_churn_events",
            "Observed churn events in the most recent evaluated cohort of the version.",
            getattr(row, "n_events", None),
            labels,
        )
        out.add(
            "model_evaluated_week_timestamp_seconds",
            "Monday (UTC) of the version's most recent evaluated scoring week.",
            week_timestamp(row.scoring_week),
            labels,
        )
    # Per model: the newest evaluated cohort only (what the C-index alert watches).
    newest = _latest_per(ev, ["model_name"], "scoring_week")
    newest = newest.sort_values("label_lag_weeks").drop_duplicates(["model_name", "model_version"])
    for row in newest.itertuples(index=False):
        out.add(
            "model_latest_c_index",
            "C-index of the newest evaluated cohort, per version that scored it (alert input).",
            row.c_index,
            {"model_name": str(row.model_name), "model_version": _version(row.model_version)},
        )


def _drift_families(out: _Families, drift: pd.DataFrame) -> None:
    if drift.empty:
        return
    dr = drift.copy()
    dr["week"] = pd.to_datetime(dr["week"])
    latest = _latest_per(dr, ["model_name", "kind"], "week")
    for row in latest.itertuples(index=False):
        labels = {
            "model_name": str(row.model_name),
            "model_version": _version(row.model_version),
            "kind": str(row.kind),
            "feature": str(row.column_name),
            "test": str(getattr(row, "test", "") or ""),
        }
        out.add(
            "drift_p_value",
            "p-value of the week's drift test vs the training reference (KS for numeric "
            "features and the risk score, chi-square for categorical features).",
            row.p_value,
            labels,
        )
        out.add(
            "drift_effect",
            "Effect size of the drift: KS distance D (numeric) or PSI (categorical).",
            row.effect,
            labels,
        )
        out.add("drift_statistic", "Test statistic (KS D or chi-square).", row.statistic, labels)
        out.add("drift_psi", "Population Stability Index vs the reference.", row.psi, labels)
        breached = _flag(row.breached)
        out.add(
            "drift_breached",
            "1 if the shift breached the policy (p < alpha AND effect >= minimum effect).",
            breached,
            labels,
        )
    for (model_name, kind), group in latest.groupby(["model_name", "kind"]):
        out.add(
            "drift_week_timestamp_seconds",
            "Monday (UTC) of the most recent monitored week.",
            week_timestamp(group["week"].iloc[0]),
            {"model_name": str(model_name), "kind": str(kind)},
        )


def _scoring_families(out: _Families, volume: pd.DataFrame, scores: pd.DataFrame) -> None:
    if not volume.empty:
        for row in volume.itertuples(index=False):
            out.add(
                "scoring_rows",
                "Customers scored in the model's latest scored week, per version.",
                row.n,
                {"model_name": str(row.model_name), "model_version": _version(row.model_version)},
            )
        for model_name, group in volume.groupby("model_name"):
            out.add(
                "scoring_week_timestamp_seconds",
                "Monday (UTC) of the model's latest scored week.",
                max(week_timestamp(w) for w in group["scoring_week"]),
                {"model_name": str(model_name)},
            )
    if scores.empty:
        return
    for model_name, group in scores.groupby("model_name"):
        if "scored_at" in group.columns:
            out.add(
                "scoring_last_scored_timestamp_seconds",
                "When the model's latest scores were written (Unix seconds).",
                timestamp_seconds(group["scored_at"].max()),
                {"model_name": str(model_name)},
            )
    for (name, version), scored in scores.groupby(["model_name", "model_version"]):
        risk = pd.to_numeric(scored["risk_score"], errors="coerce").to_numpy(float)
        risk = risk[np.isfinite(risk)]
        if risk.size == 0:
            continue
        labels = {"model_name": str(name), "model_version": _version(version)}
        out.add(
            "score_mean",
            "Mean risk score (hazard ratio) in the latest scored week.",
            float(risk.mean()),
            labels,
        )
        for q, value in zip(SCORE_QUANTILES, np.quantile(risk, SCORE_QUANTILES), strict=True):
            out.add(
                "score_quantile",
                "Risk-score quantiles of the latest scored week (distribution shift at a glance).",
                float(value),
                {**labels, "quantile": f"{q:g}"},
            )


def _alias_families(out: _Families, aliases: pd.DataFrame) -> None:
    if aliases.empty:
        return
    al = aliases.copy()
    al["changed_at"] = pd.to_datetime(al["changed_at"], utc=True)
    if "id" in al.columns:
        al = al.sort_values(["changed_at", "id"])
    else:
        al = al.sort_values("changed_at")
    current = al.groupby(["model_name", "alias"], as_index=False).tail(1)
    for row in current.itertuples(index=False):
        labels = {"model_name": str(row.model_name), "alias": str(row.alias)}
        out.add("model_alias_version", "Version the alias points to.", row.version, labels)
        out.add(
            "model_alias_changed_timestamp_seconds",
            "When the alias last moved (Unix seconds).",
            timestamp_seconds(row.changed_at),
            labels,
        )
        if str(row.alias) == "production":
            out.add(
                "model_production_version",
                "Model version serving the weekly scores (alias 'production').",
                row.version,
                {"model_name": str(row.model_name)},
            )


def _job_families(out: _Families, job: ScoringJobStatus | None) -> None:
    if job is None:
        return
    if job.last_status is not None:
        out.add(
            "scoring_job_last_run_failed",
            "1 if the most recent finished weekly scoring run failed or was canceled.",
            0.0 if job.last_status == "SUCCESS" else 1.0,
        )
    out.add(
        "scoring_job_last_run_end_timestamp_seconds",
        "When the most recent weekly scoring run finished.",
        job.last_finished_at,
    )
    out.add(
        "scoring_job_last_success_timestamp_seconds",
        "When the weekly scoring job last succeeded.",
        job.last_success_at,
    )
    out.add(
        "scoring_job_duration_seconds",
        "Wall time of the last successful weekly scoring run (features, scores, monitors).",
        job.last_success_seconds,
    )
    out.add(
        "scoring_step_duration_seconds",
        "Wall time of the churn_scores step in the run that last wrote scores.",
        job.scoring_step_seconds,
    )


def build_metric_families(snapshot: MonitoringSnapshot) -> list[Metric]:
    """All gauge families for one snapshot of the monitoring tables (missing values skipped)."""
    out = _Families()
    _evaluation_families(out, snapshot.evaluations)
    _drift_families(out, snapshot.drift)
    _scoring_families(out, snapshot.volume, snapshot.scores)
    _alias_families(out, snapshot.aliases)
    _job_families(out, snapshot.scoring_job)
    for name, value in sorted(snapshot.thresholds.items()):
        out.add(
            "monitoring_threshold",
            "Thresholds of the monitoring policy (c_index, alpha, min_ks, min_psi).",
            value,
            {"threshold": name},
        )
    if snapshot.exported_at is not None:
        out.add(
            "metrics_export_timestamp_seconds",
            "When this snapshot of the monitoring tables was read.",
            timestamp_seconds(snapshot.exported_at),
        )
    return out.families()


class _StaticCollector(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def registry_for(families: Iterable[Metric]) -> CollectorRegistry:
    """A fresh registry exposing exactly ``families`` (no process/platform default metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StaticCollector(families))
    return registry


def series_count(families: Iterable[Metric]) -> int:
    """Number of time series (one per label set) across ``families``."""
    return sum(len(f.samples) for f in families)


def read_snapshot(
    *,
    evaluations: EvaluationStore,
    drift: DriftStore,
    aliases: AliasHistory,
    predictions: PredictionsRepository,
    model_names: list[str],
    thresholds: dict[str, float],
    job: ScoringJobStatus | None,
) -> MonitoringSnapshot:
    """The monitoring use case's read: full evaluation/drift/alias history (small tables), and
    of ``predictions`` only each model's latest week (counts, scores and scoring time)."""
    aliases_store = aliases
    evaluations_frame = evaluations.read()
    drift_frame = drift.read()
    names = list(dict.fromkeys([*model_names, *_names(evaluations_frame), *_names(drift_frame)]))
    weeks = predictions.weeks()
    if weeks:
        names = list(dict.fromkeys([*names, *_names(predictions.lineage(weeks[-1]))]))
    volumes: list[pd.DataFrame] = []
    scores: list[pd.DataFrame] = []
    alias_rows: list[pd.DataFrame] = []
    for name in names:
        alias_rows.append(aliases_store.read(name))
        model_weeks = predictions.weeks(name)
        if not model_weeks:
            continue
        week = model_weeks[-1]
        lineage = predictions.lineage(week)
        lineage = lineage[lineage["model_name"] == name]
        volumes.append(
            lineage.assign(scoring_week=week)[["scoring_week", "model_name", "model_version", "n"]]
        )
        cols = ["model_version", "risk_score", "scored_at"]
        scores.append(predictions.read_columns(week, cols, model_name=name).assign(model_name=name))
    return MonitoringSnapshot(
        evaluations=evaluations_frame,
        drift=drift_frame,
        volume=_concat(volumes),
        scores=_concat(scores),
        aliases=_concat(alias_rows),
        scoring_job=job,
        thresholds=thresholds,
        exported_at=datetime.now(UTC),
    )


def _names(frame: pd.DataFrame) -> list[str]:
    if frame.empty or "model_name" not in frame.columns:
        return []
    return sorted(str(n) for n in frame["model_name"].dropna().unique())


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
