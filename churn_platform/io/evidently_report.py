"""The human-facing data-drift report for one scored week, rendered with Evidently.

Who reads this: analysts and model owners who open the weekly HTML to *see* how this week's
customers differ from the customers the model was trained on (histograms, category shares, a
per-feature drift verdict). It is a picture, not a decision: whether drift breaches the
retraining policy is decided by our own vectorised KS/PSI gate with an effect size
(:mod:`churn_platform.domain.drift`), on all rows. Nothing here feeds that decision.

Two choices keep the picture honest and cheap (see DESIGN.md, "Evidently" and "Drift at scale"):

* **Pinned tests.** Evidently picks a drift test per column from the data size; above 1,000
  rows it silently switches numeric columns to the Wasserstein distance. We pin
  ``num_method="ks"`` (two-sample Kolmogorov-Smirnov p-value) and ``cat_method="chisquare"``
  (chi-square p-value) so the report means the same thing every week, whatever the volume.
* **Bounded sample.** Evidently runs for hours on millions of rows and, with p-value tests,
  flags negligible shifts as drift on huge samples (evidentlyai/evidently#50, #171, #1526). The
  report is computed on a seeded random sample of at most ``sample_rows`` customers from each
  side (default 5,000), so a 1M-row week renders in about a second and re-rendering the same
  week gives the same verdicts.

**One verdict.** Evidently's page has its own verdicts (a per-column "drift detected" and a
dataset headline, "Dataset Drift is detected", when a share of the columns drifted) that, left to
themselves, test a sample with p-values only and know nothing of the gate's effect-size
condition: on a large week a negligible shift would be "detected" while the gate, rightly, finds
no breach. When the caller passes the gate's results (``gate_verdict``), Evidently is configured
to state the gate's verdict and nothing else: every column is tested with the registered
``platform_gate`` stattest, which returns the gate's effect (KS D or PSI, on all rows) as the drift
score and the gate's breach as "drifted"; the per-column threshold shown is the gate's minimum
effect; and the dataset share is set so that "Dataset Drift is detected" exactly when at least one
column breached. The page also opens with the platform's headline and per-column table (test,
p-value, effect, breached) above Evidently's panels (histograms and category shares, which are
drawn from the sample). Without ``gate_verdict`` the pinned KS / chi-square p-value tests are
used, with the gate's ``alpha`` as threshold when ``thresholds`` is given.

The Evidently 0.7 "new" API is used (``evidently.Report`` / ``Dataset`` / ``DataDefinition``
with ``evidently.presets.DataDriftPreset``): it accepts ``num_method``/``cat_method`` directly,
so the legacy ``evidently.legacy`` API is not needed.
"""

from __future__ import annotations

import functools
import html
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churn_platform.domain.drift import DriftThresholds, FeatureDrift
from churn_platform.errors import DataContractError

#: Drift test for numeric features: two-sample Kolmogorov-Smirnov, p-value against 0.05.
NUM_METHOD = "ks"
#: Drift test for categorical features: chi-square on level counts, p-value against 0.05.
CAT_METHOD = "chisquare"
#: Default number of customers sampled from each side (reference and current week).
DEFAULT_SAMPLE_ROWS = 5000

_ROOT_DIV = re.compile(r'<div id="root_[A-Za-z0-9_]+">')

#: Name of the Evidently stattest that reports the gate's verdict (see "One verdict").
GATE_METHOD = "platform_gate"
#: The gate's results of the report being rendered in this thread/context, by column.
_GATE_RESULTS: ContextVar[Mapping[str, FeatureDrift] | None] = ContextVar(
    "platform_gate_results", default=None
)


class DriftReportInputError(DataContractError, ValueError):
    """The frames handed to the drift report cannot be compared (missing column, empty, ...).

    A :class:`ValueError` too, so callers that only know the report's contract can catch it.
    """


@dataclass(frozen=True)
class EvidentlyReport:
    """One rendered drift report: the HTML people open, and Evidently's verdict for display.

    Attributes:
        html: Standalone HTML document (UTF-8), self-contained; save it as the week's artifact.
        n_reference: Training-reference customers the report was computed on (after sampling).
        n_current: Customers of the scored week the report was computed on (after sampling).
        drifted_columns: Features Evidently judged drifted on the samples, in request order.
            For display only: the retraining gate is our own KS/PSI with an effect size.
        share_drifted: ``len(drifted_columns)`` over the number of features compared, as
            Evidently reports it.
        summary: JSON-serialisable details for run metadata: methods, sample sizes, seed, and
            per-feature ``{"method", "p_value", "threshold", "drifted"}``.
    """

    html: bytes
    n_reference: int
    n_current: int
    drifted_columns: tuple[str, ...]
    share_drifted: float
    summary: dict[str, Any]


def render_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    title: str = "",
    thresholds: DriftThresholds | None = None,
    gate_verdict: Sequence[FeatureDrift] | None = None,
) -> EvidentlyReport:
    """Render the Evidently data-drift report of one scored week against the training reference.

    Args:
        reference: Customers the production model was trained on (the drift baseline).
        current: Customers scored this week. Extra columns in either frame are ignored.
        numeric: Numeric features to compare (tested with KS). Nullable/boolean dtypes are
            read as floats; missing values are left out of the test, as Evidently does.
        categorical: Categorical features to compare (tested with chi-square). Any dtype,
            pandas ``Categorical`` included, is compared as text labels; missing stays missing.
        sample_rows: At most this many customers are drawn, without replacement, from each
            side; a side with fewer rows is used whole.
        seed: Seed of the sampling, so the same inputs give the same report.
        title: Shown as the page title and as a heading above the report (escaped).
        thresholds: The gate's thresholds; their ``alpha`` becomes Evidently's per-column
            p-value threshold (Evidently's default, 0.05, when not given).
        gate_verdict: The gate's per-column results for this week (computed on all rows by
            :func:`churn_platform.domain.drift.feature_drift`). When given, the page opens with
            the platform's verdict and table, the only verdict the page states as such.

    Returns:
        The HTML report and Evidently's per-feature verdict on the samples.

    Raises:
        DriftReportInputError: (a ``ValueError``) naming the column that is missing from either
            frame, a column requested as both numeric and categorical, a numeric column that is
            not numeric, or an empty frame.
    """
    numeric_cols = list(dict.fromkeys(numeric))
    categorical_cols = list(dict.fromkeys(categorical))
    columns = _validate_request(reference, current, numeric_cols, categorical_cols, sample_rows)

    rng = np.random.default_rng(seed)
    ref_sample = _prepare(
        _sample(reference, sample_rows, rng), numeric_cols, categorical_cols, "reference"
    )
    cur_sample = _prepare(
        _sample(current, sample_rows, rng), numeric_cols, categorical_cols, "current"
    )

    alpha = thresholds.alpha if thresholds is not None else None
    gate = _gate_by_column(gate_verdict, columns) if gate_verdict is not None else None
    snapshot = _run_evidently(
        ref_sample,
        cur_sample,
        numeric_cols,
        categorical_cols,
        alpha,
        gate=gate,
        thresholds=thresholds or DriftThresholds(),
    )
    per_column, share_drifted = _read_verdict(snapshot.dict(), columns)
    drifted = tuple(c for c in columns if per_column[c]["drifted"])

    section = ""
    platform: dict[str, Any] | None = None
    if gate_verdict is not None:
        section, platform = _platform_verdict(
            gate_verdict, thresholds or DriftThresholds(), len(ref_sample), len(cur_sample)
        )
    page = _with_title(snapshot.get_html_str(as_iframe=False), title, section)
    summary: dict[str, Any] = {
        "title": title,
        "num_method": GATE_METHOD if gate is not None else NUM_METHOD,
        "cat_method": GATE_METHOD if gate is not None else CAT_METHOD,
        "sample_rows": sample_rows,
        "seed": seed,
        "n_reference_total": len(reference),
        "n_current_total": len(current),
        "n_reference": len(ref_sample),
        "n_current": len(cur_sample),
        "drifted_columns": list(drifted),
        "share_drifted": share_drifted,
        "columns": per_column,
        "evidently_version": _evidently_version(),
        "platform_verdict": platform,
    }
    return EvidentlyReport(
        html=page.encode("utf-8"),
        n_reference=len(ref_sample),
        n_current=len(cur_sample),
        drifted_columns=drifted,
        share_drifted=share_drifted,
        summary=summary,
    )


def _validate_request(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    sample_rows: int,
) -> list[str]:
    """Check the request up front so errors name the column, not an Evidently internal."""
    if sample_rows < 1:
        raise DriftReportInputError(f"sample_rows must be at least 1, got {sample_rows}")
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise DriftReportInputError(f"columns requested as both numeric and categorical: {both}")
    columns = numeric + categorical
    if not columns:
        raise DriftReportInputError("no columns requested for the drift report")
    for side, frame in (("reference", reference), ("current", current)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            names = ", ".join(repr(c) for c in missing)
            raise DriftReportInputError(
                f"drift report: column(s) {names} missing from the {side} data "
                f"(has {len(frame.columns)} columns)"
            )
        if len(frame) == 0:
            raise DriftReportInputError(f"drift report: the {side} data has no rows")
    return columns


def _sample(frame: pd.DataFrame, sample_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Seeded sample without replacement, in original row order; the whole frame if smaller."""
    if len(frame) <= sample_rows:
        return frame
    idx = np.sort(rng.choice(len(frame), size=sample_rows, replace=False))
    return frame.take(idx)


def _prepare(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str], side: str
) -> pd.DataFrame:
    """Keep only the requested columns, as float64 (numeric) and str-or-NaN object (categorical).

    Evidently infers column behaviour from dtypes in places; pandas ``Categorical`` and nullable
    extension dtypes (``Int64``, ``boolean``, ``string``) are normalised here so the samples
    are plain numpy columns.
    """
    out: dict[str, pd.Series] = {}
    for col in numeric:
        series = frame[col]
        try:
            out[col] = pd.Series(series.to_numpy(dtype="float64", na_value=np.nan), name=col)
        except (TypeError, ValueError) as exc:
            raise DriftReportInputError(
                f"drift report: numeric column {col!r} in the {side} data is not numeric "
                f"(dtype {series.dtype})"
            ) from exc
    for col in categorical:
        series = frame[col]
        labels = series.astype(object).where(series.isna(), series.astype(str))
        out[col] = pd.Series(labels.to_numpy(dtype=object), name=col)
    return pd.DataFrame(out)


def _gate_by_column(results: Sequence[FeatureDrift], columns: list[str]) -> dict[str, FeatureDrift]:
    """The gate's results by column; every reported column must have one."""
    by_column = {r.column: r for r in results}
    missing = [c for c in columns if c not in by_column]
    if missing:
        raise DriftReportInputError(
            f"drift report: the gate's verdict has no result for column(s) {missing}; "
            "pass the results of the same columns the report shows"
        )
    return by_column


def _gate_stattest(
    reference: pd.Series, current: pd.Series, feature_type: object, threshold: float
) -> tuple[float, bool]:
    """Evidently stattest that reports the gate's verdict for the column it is called on.

    The samples Evidently passes are not tested again: the gate tested all rows. The drift
    score is the gate's effect (KS D or PSI; a level never seen in training, whose PSI is
    unbounded, shows as 1e6) and "drifted" is the gate's breach.
    """
    results = _GATE_RESULTS.get()
    column = str(reference.name)
    if results is None or column not in results:
        raise RuntimeError(f"no platform gate verdict for column {column!r} in this report")
    r = results[column]
    effect = r.effect if math.isfinite(r.effect) else (1e6 if r.effect > 0 else 0.0)
    return float(effect), bool(r.breached)


@functools.cache
def _register_gate_stattest() -> None:
    """Register :data:`GATE_METHOD` with Evidently once per process (registering again, from
    a racing first call, replaces the entry with the same one)."""
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    register_stattest(
        StatTest(
            name=GATE_METHOD,
            display_name="platform gate (p < alpha AND effect >= threshold, all rows)",
            allowed_feature_types=[ColumnType.Numerical, ColumnType.Categorical],
        ),
        default_impl=_gate_stattest,
    )


def _run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    alpha: float | None = None,
    *,
    gate: Mapping[str, FeatureDrift] | None = None,
    thresholds: DriftThresholds | None = None,
) -> Any:
    """Run the DataDriftPreset: with the gate's verdict when ``gate`` is given, else with the
    pinned p-value tests (threshold ``alpha`` when given)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    if gate is not None:
        _register_gate_stattest()
        limits = thresholds or DriftThresholds()
        preset = DataDriftPreset(
            columns=numeric + categorical,
            method=GATE_METHOD,
            per_column_threshold={
                **{c: limits.min_ks for c in numeric},
                **{c: limits.min_psi for c in categorical},
            },
            # "Dataset Drift is detected" exactly when at least one column breached (Evidently:
            # share of drifted columns >= drift_share; the share of one is 1/n, same float)
            drift_share=1 / len(numeric + categorical),
        )
    else:
        preset = DataDriftPreset(
            columns=numeric + categorical,
            num_method=NUM_METHOD,
            cat_method=CAT_METHOD,
            threshold=alpha,
        )
    # include_tests makes Evidently attach its per-column pass/fail verdict to the result.
    report = Report([preset], include_tests=True)
    token = _GATE_RESULTS.set(gate)
    with warnings.catch_warnings():
        # A category level seen only this week (a new plan, a new channel) has zero expected
        # count in the reference, so scipy's chi-square divides by zero and warns before
        # returning statistic=inf, p=0 — which is the right verdict ("drifted"). Silence only
        # that warning, only here; pytest runs with -W error.
        warnings.filterwarnings(
            "ignore", message="divide by zero encountered", category=RuntimeWarning
        )
        # Evidently calls scipy's ks_2samp with method="auto", which tries the exact p-value
        # for samples up to 10,000 rows and, when that does not converge (unequal sizes after
        # missing values are dropped), warns and uses the asymptotic p-value, which is accurate
        # at thousands of rows. Silence only those two fallback notices.
        warnings.filterwarnings(
            "ignore", message="ks_2samp: Exact calculation unsuccessful", category=RuntimeWarning
        )
        warnings.filterwarnings(
            "ignore", message="Exact ks_2samp calculation not possible", category=RuntimeWarning
        )
        try:
            return report.run(
                Dataset.from_pandas(current, data_definition=definition),
                Dataset.from_pandas(reference, data_definition=definition),
            )
        finally:
            _GATE_RESULTS.reset(token)


def _read_verdict(
    result: dict[str, Any], columns: list[str]
) -> tuple[dict[str, dict[str, Any]], float]:
    """Per-column p-value/threshold/verdict and the drifted share, from Evidently's result."""
    per_column: dict[str, dict[str, Any]] = {}
    share: float | None = None
    for metric in result.get("metrics", []):
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith(":ValueDrift") and config.get("column") in columns:
            per_column[config["column"]] = {
                "method": config.get("method"),
                "p_value": float(metric["value"]),
                "threshold": config.get("threshold"),
                "drifted": None,
            }
        elif kind.endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    for test in result.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        column = params.get("column")
        if str(params.get("type", "")).endswith(":ValueDrift") and column in per_column:
            per_column[column]["drifted"] = test.get("status") == "FAIL"
    unread = [c for c in columns if c not in per_column or per_column[c]["drifted"] is None]
    if unread or share is None:
        # Defensive: the result layout is Evidently's, not ours; fail loudly if it changes.
        raise RuntimeError(
            f"could not read Evidently's drift verdict for columns {unread or columns}; "
            f"has the evidently result format changed (version {_evidently_version()})?"
        )
    return per_column, share


def _with_title(page: str, title: str, section: str = "") -> str:
    """Put the report title in the browser tab, and the title and the platform's verdict
    section as a heading above the Evidently widgets."""
    if not title and not section:
        return page
    safe = html.escape(title)
    if title:
        page = page.replace("<head>", f"<head>\n<title>{safe}</title>", 1)
    heading = f'<h2 style="font-family: sans-serif; margin: 16px;">{safe}</h2>\n' if title else ""
    match = _ROOT_DIV.search(page)
    if match is None:
        if section:
            # Unknown layout: still never show Evidently's page without the platform verdict.
            return page.replace("<body>", "<body>\n" + heading + section, 1)
        return page
    return page[: match.start()] + heading + section + page[match.start() :]


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.4g}"


def _platform_verdict(
    results: Sequence[FeatureDrift], thresholds: DriftThresholds, n_ref: int, n_cur: int
) -> tuple[str, dict[str, Any]]:
    """The gate's verdict as an HTML section (headline + per-column table) and as a dict."""
    breached = [r.column for r in results if r.breached]
    rule = (
        f"p &lt; {thresholds.alpha:g} AND effect &ge; min "
        f"(KS D &ge; {thresholds.min_ks:g} numeric, PSI &ge; {thresholds.min_psi:g} "
        f"categorical; a category level never seen in training always breaches)"
    )
    headline = (
        f"Platform drift verdict: {len(breached)} of {len(results)} columns breached "
        f"({'BREACH: ' + ', '.join(html.escape(c) for c in breached) if breached else 'no breach'})"
    )
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(r.column)}</td><td>{r.test}</td><td>{_fmt(r.p_value)}</td>"
        f"<td>{'KS D' if r.test == 'ks' else 'PSI'} {_fmt(r.effect)}</td>"
        f"<td>{'BREACH' if r.breached else 'no breach'}</td>"
        f"<td>{r.n_reference:,} / {r.n_current:,}</td>"
        "</tr>"
        for r in results
    )
    cell = 'style="padding: 2px 10px; text-align: left;"'
    rows = rows.replace("<td>", f"<td {cell}>")
    section = (
        '<section id="platform-drift-verdict" style="font-family: sans-serif; margin: 16px; '
        'padding: 12px; border: 2px solid #333;">\n'
        f'<h2 style="margin-top: 0;">{headline}</h2>\n'
        f"<p>Breach rule: {rule}. Tested on all rows by the platform's retraining gate; this "
        "is the verdict that the policy and the Dagster check use.</p>\n"
        f'<table style="border-collapse: collapse;"><tr><th {cell}>column</th>'
        f"<th {cell}>test</th><th {cell}>p-value</th><th {cell}>effect</th>"
        f"<th {cell}>verdict</th><th {cell}>rows (reference / week)</th></tr>"
        f"{rows}</table>\n"
        "<p>Below: Evidently's panels. Their drift verdicts and scores are the gate's (method "
        "&ldquo;platform gate&rdquo;: score = effect, threshold = minimum effect); the "
        f"distributions are drawn from a sample of {n_ref:,} reference and {n_cur:,} current "
        "customers.</p>\n"
        "</section>\n"
    )
    summary = {
        "n_columns": len(results),
        "n_breached": len(breached),
        "breached": breached,
        "alpha": thresholds.alpha,
        "min_ks": thresholds.min_ks,
        "min_psi": thresholds.min_psi,
        "headline": html.unescape(headline),
    }
    return section, summary


def _evidently_version() -> str:
    from evidently import __version__

    return str(__version__)
