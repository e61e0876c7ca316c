"""Pictures and tables for people: PNG plots and markdown for Dagster metadata.

Dagster renders markdown metadata in the asset page; a PNG embedded as a data URI shows the
plot right there, with no extra service to open.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
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
        ax.axhline(threshold, color="red", linestyle="--", label=f"threshold {threshold}")
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
) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 0.3 * max(len(labels), 4) + 1))
    colors = ["#C44E52" if h else "#4C72B0" for h in (highlight or [False] * len(labels))]
    ax.barh(list(labels), list(values), color=colors)
    if threshold is not None:
        ax.axvline(threshold, color="red", linestyle="--")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    return _fig_png(fig)


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
