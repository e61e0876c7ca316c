"""Shared pieces of the benchmarks: peak memory, summary rows, the JSON hand-off to ``__main__``.

Every benchmark module has a ``main(argv) -> dict`` that prints its own detailed report and
returns ``{"name": ..., "params": {...}, "rows": [summary rows], "details": {...}}``. With
``--json PATH`` it also writes that dict, which is how ``python -m benchmarks`` collects the
numbers of each benchmark run in its own fresh process (so peak RSS is that benchmark's alone).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path
from typing import Any, TypedDict


class SummaryRow(TypedDict):
    """One line of the overall table: a measured ratio and the memory it took."""

    benchmark: str
    baseline: str  # what we compare against
    ours: str  # what we measured
    ratio: float | None  # >1 = ours better (speed: baseline time / our time)
    target: str  # the target, e.g. ">= 3x", or "" when there is none
    met: bool | None  # None when there is no target
    peak_rss_mib: float | None  # of the process that ran "ours"


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB.

    Linux ``VmHWM`` (reset at exec) when available: ``getrusage(RUSAGE_SELF).ru_maxrss`` of a
    child started with fork/vfork+exec keeps the parent's RSS at spawn time, which made the
    children of a 1.4 GB parent all report 1.4 GB. Falls back to ``ru_maxrss`` elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 1024.0**2


def row(
    benchmark: str,
    baseline: str,
    ours: str,
    ratio: float | None,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
    peak_rss: float | None = None,
) -> SummaryRow:
    """A summary row; ``at_least``/``at_most`` is the target the ratio must meet."""
    target = ""
    met: bool | None = None
    if at_least is not None:
        target = f">= {at_least:g}"
        met = ratio is not None and ratio >= at_least
    elif at_most is not None:
        target = f"<= {at_most:g}"
        met = ratio is not None and ratio <= at_most
    return SummaryRow(
        benchmark=benchmark,
        baseline=baseline,
        ours=ours,
        ratio=None if ratio is None else round(float(ratio), 3),
        target=target,
        met=met,
        peak_rss_mib=None if peak_rss is None else round(float(peak_rss), 1),
    )


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")


def finish(result: dict[str, Any], json_path: Path | None) -> dict[str, Any]:
    """Write the result as JSON when asked; return it."""
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, default=str))
    return result


def format_table(headers: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) for c in lines]
    return "\n".join(out)
