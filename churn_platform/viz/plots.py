"""Pictures and tables for people: PNG plots and markdown for Dagster metadata.

Dagster renders markdown metadata in the asset page; a PNG embedded as a data URI shows the
plot right there, with no extra service to open.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def _fig_png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def histogram_png(values: np.ndarray, title: str, xlabel: str, log_x: bool = False) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3))
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if log_x:
        v = np.log10(v[v > 0])
        xlabel = f"log10 {xlabel}"
    ax.hist(v, bins=50, color="#4C72B0")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("customers")
    return _fig_png(fig)


def line_png(
    series: Mapping[str, tuple[Sequence[Any], Sequence[float]]],
    title: str,
    ylabel: str,
    threshold: float | None = None,
) -> bytes:
    """One line per label; x values are weeks (dates) or numbers."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for label, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", label=label)
    if threshold is not None:
        ax.axhline(threshold, color="red", linestyle="--", label=f"threshold {threshold:g}")
    xs_all = [x for xs, _ in series.values() for x in xs]
    if xs_all and all(isinstance(x, date) for x in xs_all):
        _monday_ticks(ax, xs_all)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return _fig_png(fig)


def bars_png(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    xlabel: str,
    highlight: Sequence[bool] | None = None,
    threshold: float | None = None,
    row_thresholds: Sequence[float] | None = None,
) -> bytes:
    """Horizontal bars; ``threshold`` draws one line, ``row_thresholds`` one mark per bar
    (e.g. KS D 0.1 for numeric features, PSI 0.2 for categorical ones)."""
    fig, ax = plt.subplots(figsize=(6, 0.3 * max(len(labels), 4) + 1))
    colors = ["#C44E52" if h else "#4C72B0" for h in (highlight or [False] * len(labels))]
    ax.barh(list(labels), list(values), color=colors)
    if threshold is not None:
        ax.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold:g}")
    if row_thresholds is not None:
        ys = np.arange(len(labels))
        ax.vlines(
            list(row_thresholds),
            ys - 0.4,
            ys + 0.4,
            colors="red",
            linestyles="--",
            label="breach threshold",
        )
    if threshold is not None or row_thresholds is not None:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    return _fig_png(fig)


def _monday_ticks(ax: Any, xs: Sequence[Any]) -> None:
    """Ticks on the weeks themselves (Mondays, ``2025-08-18``), thinned to at most ~10."""
    weeks = sorted({x if not isinstance(x, datetime) else x.date() for x in xs})
    step = max(1, int(np.ceil(len(weeks) / 10)))
    ticks = weeks[::step]
    ax.set_xticks(ticks)
    ax.set_xticklabels([w.isoformat() for w in ticks])


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".4f", max_rows: int = 20) -> str:
    """A small GitHub-style markdown table (no tabulate dependency)."""
    head = frame.head(max_rows)
    cols = [str(c) for c in head.columns]

    def fmt(v: object) -> str:
        if isinstance(v, float | np.floating):
            return format(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in head.itertuples(index=False)]
    return "\n".join(lines)


def readable_drivers(drivers_json: str | None, k: int = 3) -> str:
    """``[{"feature": "monthly_charges", "contribution": 0.4213}, ...]`` →
    ``monthly_charges ↑ +0.42, tenure_days ↓ −0.31``: the direction a feature pushes this
    customer's churn hazard (log hazard-ratio contribution), two decimals."""
    import json

    if not drivers_json:
        return "-"
    try:
        items = json.loads(drivers_json)
    except (TypeError, ValueError):
        return "-"
    parts = []
    for item in items[:k]:
        value = float(item.get("contribution", 0.0))
        arrow = "↑" if value >= 0 else "↓"
        sign = "+" if value >= 0 else "\u2212"
        parts.append(f"{item.get('feature', '?')} {arrow} {sign}{abs(value):.2f}")
    return ", ".join(parts) or "-"
