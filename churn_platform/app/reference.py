"""The training reference of a model version, read once per process and kept.

Three weekly monitors (feature drift, score drift, segment monitoring) compare the week with the
reference sample logged on the model's MLflow run. Before this cache each of them downloaded the
two Parquet artifacts again and parsed them: three reads of the same immutable files a week,
per process. An MLflow run's artifacts do not change once the run is finished, so the pair
``(tracking URI, run id)`` names the content for good: the first call reads it through the
registry, later calls in the same process get it from memory.

The cache is small (the last :data:`MAX_ENTRIES` runs: production and a challenger fit with room
to spare) and thread-safe. Callers get copies, so a monitor that adds a column cannot change
what the next one sees. With Dagster's multiprocess executor every step is its own process;
below this memory layer the registry keeps a disk copy per machine
(:class:`churn_platform.io.reference_cache.ReferenceDiskCache`, under
``$CHURN_HOME/cache/reference``), so the artifacts are downloaded from MLflow once per machine
and run, and each step process only reads a local Parquet file.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol

import pandas as pd

#: Runs whose reference is kept in memory (least recently used evicted first).
MAX_ENTRIES = 4


class ReferenceSource(Protocol):
    """What the cache needs from the registry: where it is and how to read a reference."""

    tracking_uri: str

    def load_reference(self, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]: ...


_cache: OrderedDict[tuple[str, str], tuple[pd.DataFrame, pd.DataFrame]] = OrderedDict()
_lock = threading.Lock()


def load_reference(registry: ReferenceSource, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (features, scores) reference of MLflow run ``run_id``, read at most once a process.

    Errors from the registry (a missing or unreadable artifact) propagate and nothing is
    cached, so a retry after the artifact is fixed reads again.
    """
    key = (str(registry.tracking_uri), run_id)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is None:
        hit = registry.load_reference(run_id)
        with _lock:
            _cache[key] = hit
            _cache.move_to_end(key)
            while len(_cache) > MAX_ENTRIES:
                _cache.popitem(last=False)
    features, scores = hit
    return features.copy(), scores.copy()


def clear_reference_cache() -> None:
    """Forget every cached reference (tests; a process that must re-read)."""
    with _lock:
        _cache.clear()
