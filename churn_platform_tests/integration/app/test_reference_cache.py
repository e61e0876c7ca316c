"""The training reference is read from MLflow once per run id and process, then kept.

A real MLflow store (PostgreSQL + local artifacts) and a real :class:`ModelRegistry`; the only
addition is a counter on ``load_reference`` so the test sees how often MLflow is read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_platform.app import reference as cache
from churn_platform.errors import ArtifactError
from churn_platform.io.registry import ModelRegistry


class CountingRegistry(ModelRegistry):
    """The real registry, counting reads of the reference."""

    reads: list[str]

    def load_reference(self, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        self.reads.append(run_id)
        return super().load_reference(run_id)


@pytest.fixture
def registry(mlflow_tracking_uri: str) -> Iterator[CountingRegistry]:
    reg = CountingRegistry(
        f"churn_refcache_{uuid.uuid4().hex[:6]}", tracking_uri=mlflow_tracking_uri
    )
    reg.reads = []
    cache.clear_reference_cache()
    yield reg
    cache.clear_reference_cache()


def _reference_run(registry: ModelRegistry, tmp: Path, seed: int, *, scores: bool = True) -> str:
    import mlflow

    rng = np.random.default_rng(seed)
    folder = tmp / f"run{seed}" / "reference"
    folder.mkdir(parents=True)
    pd.DataFrame({"tenure": rng.normal(size=50), "plan": rng.choice(["a", "b"], 50)}).to_parquet(
        folder / "features.parquet"
    )
    if scores:
        pd.DataFrame({"risk_score": rng.normal(size=50)}).to_parquet(folder / "scores.parquet")
    mlflow.set_tracking_uri(registry.tracking_uri)
    with mlflow.start_run(experiment_id=registry.experiment_id()) as run:
        mlflow.log_artifacts(str(folder), "reference")
    return str(run.info.run_id)


def test_second_call_does_not_reread_and_each_run_is_read_once(
    registry: CountingRegistry, tmp_path: Path
) -> None:
    first = _reference_run(registry, tmp_path, seed=1)
    second = _reference_run(registry, tmp_path, seed=2)

    features, scores = cache.load_reference(registry, first)
    again_features, again_scores = cache.load_reference(registry, first)
    assert registry.reads == [first]
    pd.testing.assert_frame_equal(features, again_features)
    pd.testing.assert_frame_equal(scores, again_scores)
    assert len(features) == 50 and list(scores.columns) == ["risk_score"]

    # A caller that changes its copy does not change what the next caller gets.
    features["tenure"] = 0.0
    assert cache.load_reference(registry, first)[0]["tenure"].ne(0.0).any()

    other, _ = cache.load_reference(registry, second)
    cache.load_reference(registry, second)
    assert registry.reads == [first, second]
    assert not other.equals(again_features)


def test_a_failed_read_is_not_cached(registry: CountingRegistry, tmp_path: Path) -> None:
    broken = _reference_run(registry, tmp_path, seed=3, scores=False)
    for _ in range(2):
        with pytest.raises(ArtifactError, match=r"reference/scores\.parquet"):
            cache.load_reference(registry, broken)
    assert registry.reads == [broken, broken]


def test_least_recently_used_run_is_evicted(registry: CountingRegistry, tmp_path: Path) -> None:
    runs = [_reference_run(registry, tmp_path, seed=10 + i) for i in range(cache.MAX_ENTRIES + 1)]
    for run in runs:
        cache.load_reference(registry, run)
    cache.load_reference(registry, runs[-1])  # still cached
    cache.load_reference(registry, runs[0])  # evicted by the fifth run: read again
    assert registry.reads == [*runs, runs[0]]


class DownloadCountingRegistry(ModelRegistry):
    """The real registry, counting downloads from MLflow (below the disk cache)."""

    downloads: list[str]

    def _download_reference(self, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        self.downloads.append(run_id)
        return super()._download_reference(run_id)


_CHILD = """
import sys
from churn_platform.io.reference_cache import ReferenceDiskCache
from churn_platform.io.registry import ModelRegistry
reg = ModelRegistry(sys.argv[1], tracking_uri=sys.argv[2],
                    reference_cache=ReferenceDiskCache(sys.argv[3]))
features, scores = reg.load_reference(sys.argv[4])
print(len(features), len(scores))
"""


def test_another_process_downloads_once_per_machine(
    registry: CountingRegistry, tmp_path: Path
) -> None:
    # Dagster's step processes share the disk cache: a reference one step downloaded is read
    # from local disk by the next, whose process never talks to MLflow's artifact store for it.
    import subprocess
    import sys

    from churn_platform.io.reference_cache import ReferenceDiskCache

    run = _reference_run(registry, tmp_path, seed=21)
    root = tmp_path / "cache"
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, registry.model_name, registry.tracking_uri, str(root), run],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert child.stdout.split() == ["50", "50"]
    reader = DownloadCountingRegistry(
        registry.model_name,
        tracking_uri=registry.tracking_uri,
        reference_cache=ReferenceDiskCache(root),
    )
    reader.downloads = []
    features, scores = reader.load_reference(run)
    assert reader.downloads == []
    expected = reader._download_reference(run)
    pd.testing.assert_frame_equal(features, expected[0])
    pd.testing.assert_frame_equal(scores, expected[1])
    # An unreadable entry (a disk that filled up mid-write elsewhere) is read again, not fatal.
    entry = ReferenceDiskCache(root).folder(registry.tracking_uri, run)
    (entry / "features.parquet").write_bytes(b"not parquet")
    reader.downloads = []
    again, _ = reader.load_reference(run)
    assert reader.downloads == [run]
    pd.testing.assert_frame_equal(again, expected[0])
    # The store's URI (which may hold a password) is hashed, never a folder name.
    assert registry.tracking_uri not in str(entry)


def test_cache_refuses_a_run_id_that_is_a_path(tmp_path: Path) -> None:
    from churn_platform.io.reference_cache import ReferenceDiskCache

    with pytest.raises(ValueError, match="not an MLflow run id"):
        ReferenceDiskCache(tmp_path).folder("sqlite:///x", "../../etc")
