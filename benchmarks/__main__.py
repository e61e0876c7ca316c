"""All benchmarks, one command: ``uv run python -m benchmarks [--quick] [--only scoring,drift]``.

Runs each benchmark module in its own fresh process, one after the other (they compete for the
same cores otherwise), lets each print its detailed report, then prints ONE summary table:
benchmark, baseline, ours, ratio vs the baseline (with the issue's target where there is one)
and the peak RSS of the process that ran ours. Everything is also written to
``benchmarks/results/latest.json``. Ratios are measured within the same run; the summary makes
no absolute-time claims.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import SummaryRow, format_table

BENCHMARKS = ("scoring", "drift", "metrics", "simulator")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def run_one(name: str, quick: bool) -> dict[str, Any]:
    """Run ``benchmarks.bench_<name>`` in a fresh process; return its result dict."""
    with tempfile.TemporaryDirectory(prefix="churn_bench_") as tmp:
        out = Path(tmp) / f"{name}.json"
        cmd = [sys.executable, "-m", f"benchmarks.bench_{name}", "--json", str(out)]
        if quick:
            cmd.append("--quick")
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(cmd, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0 or not out.exists():
            return {"name": name, "error": f"exit status {done.returncode}", "rows": []}
        result: dict[str, Any] = json.loads(out.read_text())
        result["wall_seconds"] = seconds
        return result


def fmt_ratio(r: SummaryRow) -> str:
    if r["ratio"] is None:
        return "-"
    text = f"{r['ratio']:.2f}x"
    if r["target"]:
        text += f" (target {r['target']}: {'met' if r['met'] else 'NOT met'})"
    return text


def summary_table(results: list[dict[str, Any]]) -> str:
    lines: list[list[str]] = []
    for result in results:
        if "error" in result:
            lines.append([result["name"], "-", "-", f"FAILED ({result['error']})", "-"])
        for r in result["rows"]:
            rss = "-" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f} MiB"
            lines.append([r["benchmark"], r["baseline"], r["ours"], fmt_ratio(r), rss])
    headers = ["benchmark", "baseline", "ours", "ratio vs baseline (target)", "peak RSS"]
    return format_table(headers, lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")
    started = datetime.now(UTC)
    results = [run_one(name, args.quick) for name in names]
    table = summary_table(results)
    print(f"\n=== summary ({'quick' if args.quick else 'full'} run, {os.cpu_count()} CPU(s))")
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "started_at": started.isoformat(),
                "quick": args.quick,
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                },
                "table": table,
                "results": results,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nwritten: {RESULTS}")
    failed = [r["name"] for r in results if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
