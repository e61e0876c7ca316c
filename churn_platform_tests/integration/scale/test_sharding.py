"""Sharded staging + swap on a real PostgreSQL, with a small deterministic stand-in model.

The model is replaced by a pure function of the features (with many tied scores) so these
tests isolate what sharding adds: shard assignment, staging, the manifest check, the swap and
the SQL rank/decile. The Dagster job with the real MLflow model is in test_sharded_job.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from churn_platform.app.scoring import Lineage, chunks, ranks_among, score_and_write, stage_shard
from churn_platform.errors import StorageError
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.sharding import ShardStager, ShardTask, shard_of, shard_slice

WEEK = date(2025, 7, 14)
MODEL = "stub_model"
FEATURES = ["x"]


def _predict(frame: pd.DataFrame, top_drivers: int) -> pd.DataFrame:
    """Deterministic stand-in for the pyfunc: coarse scores so many customers tie."""
    risk = np.round(np.exp(frame["x"].to_numpy() / 50.0), 1)
    p = 1 - np.exp(-risk / 10)
    return pd.DataFrame(
        {
            "risk_score": risk,
            "churn_prob_30d": p / 3,
            "churn_prob_90d": p / 2,
            "churn_prob_180d": p,
            "top_drivers": [f'[{{"feature": "x", "k": {top_drivers}}}]'] * len(frame),
        }
    )


def _features(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"customer_id": rng.permutation(n) * 7 + 11, "x": rng.integers(0, 100, n)})


def _lineage(run: str) -> Lineage:
    return Lineage(
        model_name=MODEL,
        model_version=3,
        model_run_id="mlflow-run",
        model_alias="production",
        feature_snapshot_id="snap",
        dagster_run_id=run,
        code_version="test",
        scored_at=datetime(2025, 7, 14, tzinfo=UTC),
    )


@pytest.fixture
def schema() -> str:
    return f"scale_{uuid.uuid4().hex[:6]}"


@pytest.fixture
def stager(pg_url: str, schema: str) -> Iterator[ShardStager]:
    s = ShardStager(pg_url, schema)
    yield s
    s.dispose()


def _stage_all(
    stager: ShardStager, features: pd.DataFrame, shards: int, stage_id: str, chunk: int = 97
) -> int:
    total = 0
    for shard in range(shards):
        task = ShardTask(stage_id, shard, shards, WEEK, _lineage(stage_id))
        part = shard_slice(features, "customer_id", shard, shards)
        staged = stage_shard(
            stager,
            task,
            chunks(part, chunk),
            _predict,
            id_column="customer_id",
            feature_columns=FEATURES,
        )
        total += staged.rows
    return total


def test_shard_of_is_stable_disjoint_and_balanced() -> None:
    ids = np.arange(1, 100_001)
    k4 = shard_of(ids, 4)
    assert shard_of(ids, 1).tolist() == [0] * len(ids)
    counts = np.bincount(k4, minlength=4)
    assert counts.sum() == len(ids) and counts.min() > 0.97 * len(ids) / 4
    frame = pd.DataFrame({"customer_id": ids})
    parts = [shard_slice(frame, "customer_id", s, 4) for s in range(4)]
    assert sorted(pd.concat(parts)["customer_id"]) == ids.tolist()
    with pytest.raises(ValueError):
        shard_of(ids, 0)


def test_shard_of_pinned_values() -> None:
    """A change of hash would silently move customers between shards (and workers)."""
    assert shard_of([0, 1, 2, 3, 4, 5, 6, 7], 4).tolist() == [3, 1, 2, 1, 2, 2, 0, 3]


@pytest.mark.parametrize("shards", [1, 3])
def test_sharded_equals_unsharded_with_ties(
    stager: ShardStager, pg_url: str, schema: str, shards: int
) -> None:
    features = _features(2_000)
    repo = PredictionsRepository(pg_url, schema)
    score_and_write(
        chunks(features, 300),
        _predict,
        repo,
        id_column="customer_id",
        feature_columns=FEATURES,
        scoring_week=WEEK,
        lineage=_lineage("unsharded"),
    )
    reference = repo.checksum_week(WEEK, MODEL)
    ref_rows = repo.read_columns(WEEK, ["customer_id", "risk_rank", "risk_decile"], MODEL)

    # Replace the week by something else first, so the swap must really replace it.
    repo.replace_week(WEEK, MODEL, repo.read_week(WEEK, MODEL).assign(risk_score=1.0))
    assert repo.checksum_week(WEEK, MODEL) != reference

    stage_id = f"stage-{shards}"
    assert _stage_all(stager, features, shards, stage_id) == len(features)
    assert repo.checksum_week(WEEK, MODEL) != reference  # staged, not yet live
    swapped = stager.swap_week(stage_id, WEEK, MODEL, shards)
    assert (swapped.rows, swapped.replaced_rows) == (len(features), len(features))
    assert repo.checksum_week(WEEK, MODEL) == reference
    assert stager.staged_rows(stage_id) == 0

    got = repo.read_columns(WEEK, ["customer_id", "risk_rank", "risk_decile"], MODEL)
    merged = ref_rows.merge(got, on="customer_id", suffixes=("_ref", ""))
    assert (merged["risk_rank"] == merged["risk_rank_ref"]).all()
    assert (merged["risk_decile"] == merged["risk_decile_ref"]).all()
    scores = np.sort(_predict(features, 3)["risk_score"].to_numpy())
    assert got["risk_rank"].nunique() < len(features)  # ties exist and share a rank
    rank, _ = ranks_among(scores, scores)
    assert sorted(got["risk_rank"]) == sorted(rank.tolist())


def test_shard_retry_replaces_only_its_slice_and_swap_needs_every_shard(
    stager: ShardStager, pg_url: str, schema: str
) -> None:
    features = _features(1_000)
    shards = 3
    stage_id = "retry"
    task0 = ShardTask(stage_id, 0, shards, WEEK, _lineage(stage_id))
    part0 = shard_slice(features, "customer_id", 0, shards)

    def crash_after_first_chunk() -> Iterator[pd.DataFrame]:
        for i, c in enumerate(chunks(part0, 50)):
            if i == 2:
                raise RuntimeError("worker lost mid-shard")
            yield c

    with pytest.raises(RuntimeError, match="worker lost"):
        stage_shard(
            stager,
            task0,
            crash_after_first_chunk(),
            _predict,
            id_column="customer_id",
            feature_columns=FEATURES,
        )
    assert stager.staged_rows(stage_id, 0) == 0  # rolled back: nothing half-staged

    stage_shard(
        stager,
        task0,
        chunks(part0, 50),
        _predict,
        id_column="customer_id",
        feature_columns=FEATURES,
    )
    stage_shard(
        stager,  # the same shard again: its slice is replaced, not duplicated
        task0,
        chunks(part0, 50),
        _predict,
        id_column="customer_id",
        feature_columns=FEATURES,
    )
    assert stager.staged_rows(stage_id, 0) == len(part0)

    repo = PredictionsRepository(pg_url, schema)
    with pytest.raises(StorageError, match=r"shard\(s\) \[1, 2\] of 3 are not staged"):
        stager.swap_week(stage_id, WEEK, MODEL, shards)
    assert repo.count_week(WEEK, MODEL) == 0

    wrong = ShardTask(stage_id, 1, shards, WEEK, _lineage(stage_id))
    with pytest.raises(StorageError, match="belong to another shard"):
        stage_shard(
            stager, wrong, [part0], _predict, id_column="customer_id", feature_columns=FEATURES
        )


def test_open_stage_drops_leftovers_of_a_failed_run(stager: ShardStager) -> None:
    features = _features(300)
    _stage_all(stager, features, 2, "old-run")
    assert stager.staged_rows("old-run") == 300
    assert stager.open_stage("new-run", WEEK, MODEL) == 300
    assert stager.staged_rows("old-run") == 0
