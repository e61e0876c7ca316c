"""Render docs/img/c_index_per_version.png: the panel "Delayed C-index per model version, by
scoring week" of the Grafana model-performance dashboard, drawn with matplotlib from the small
simulated history the tests use.

    uv run python -m churn_platform_tests.integration.observability.render_docs_figure
"""

from __future__ import annotations

import sys
from pathlib import Path

from churn_platform_tests.support.observability import OUTPUT, render


def main(out: Path = OUTPUT) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
