"""Time a fresh process's first drift call: process start -> first ``feature_drift`` finished.

Every Dagster step under the multiprocess executor (and every CLI command) is a fresh process;
with numba kernels compiled per process, its first drift/C-index call paid the JIT (~10 s on a
loaded machine). With ``cache=True`` only the first process on a machine compiles; the next ones
load the cached machine code. This script starts ``--processes`` children one after another
(the first warms the cache, the later ones are the "second process") and reports, per child,
the seconds from spawn to the end of its first ``feature_drift`` call and the seconds inside
that call alone.

    uv run python scripts/first_drift_call.py --processes 3

The children import ``churn_platform`` from the current directory (``python -c`` puts it first
on ``sys.path``): to measure another checkout, run the script from inside it. Each row names
the module file it imported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import time, json
t_import = time.time()
import numpy as np, pandas as pd
from churn_platform.domain.drift import DriftThresholds, feature_drift
from churn_platform.domain.metrics import fast_harrell_c
rng = np.random.default_rng(0)
n = 20_000
ref = pd.DataFrame({"a": rng.normal(size=n), "b": rng.exponential(size=n),
                    "c": rng.choice(["x", "y", "z"], size=n)})
cur = ref.assign(a=ref["a"] + 0.1)
t0 = time.time()
feature_drift(ref, cur, ["a", "b"], ["c"], DriftThresholds())
t1 = time.time()
fast_harrell_c(rng.exponential(size=n), rng.integers(0, 2, size=n), rng.normal(size=n))
t2 = time.time()
import churn_platform.domain.drift as _d
print(json.dumps({"end": t1, "call_s": t1 - t0, "import_s": t0 - t_import,
                  "first_c_index_s": t2 - t1, "module": _d.__file__}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    rows = []
    for i in range(args.processes):
        start = time.time()
        out = subprocess.run(
            [sys.executable, "-c", CHILD], check=True, capture_output=True, text=True
        ).stdout
        child = json.loads(out.strip().splitlines()[-1])
        rows.append(
            {
                "process": i + 1,
                "start_to_first_drift_s": round(child["end"] - start, 2),
                "first_drift_call_s": round(child["call_s"], 2),
                "first_c_index_call_s": round(child["first_c_index_s"], 2),
                "module": child["module"],
            }
        )
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
