"""Render docs/img/c_index_per_version.png: the panel "Delayed C-index per model version, by
scoring week" of the Grafana model-performance dashboard, drawn with matplotlib from the small
simulated history the tests use.

    uv run python -m churn_platform_tests.integration.observability.render_docs_figure
"""

from __future__ import annotations

import sys
from pathlib import Path

from churn_platform.viz.plots import line_png
from churn_platform_tests.support import history

OUTPUT = Path(__file__).resolve().parents[3] / "docs" / "img" / "c_index_per_version.png"


def render(threshold: float = 0.75) -> bytes:
    """The C-index trend, one line per model version, with the alert threshold."""
    frame = history.evaluations("churn_model")
    series = {
        f"churn_model v{version}": (list(g["scoring_week"]), list(g["c_index"]))
        for version, g in frame.groupby("model_version")
    }
    return line_png(
        series,
        "Delayed C-index per model version, by scoring week",
        "C-index",
        threshold=threshold,
    )


def main(out: Path = OUTPUT) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
