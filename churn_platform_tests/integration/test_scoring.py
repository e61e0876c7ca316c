"""Pure parts of weekly scoring: ranks, deciles, snapshot ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_platform.app.scoring import chunks, ranks_among, snapshot_id


def test_ranks_and_deciles_are_order_independent_and_ties_share_a_rank() -> None:
    risk = np.array([0.5, 3.0, 1.0, 3.0, 0.1, 2.0, 0.7, 0.9, 1.5, 0.2])
    sorted_scores = np.sort(risk)
    rank, decile = ranks_among(risk, sorted_scores)
    assert rank.tolist() == [8, 1, 5, 1, 10, 3, 7, 6, 4, 9]
    assert decile[rank == 1].tolist() == [10, 10]
    assert decile[risk == 0.1].tolist() == [1]
    perm = np.random.default_rng(0).permutation(len(risk))
    rank_p, decile_p = ranks_among(risk[perm], sorted_scores)
    assert rank_p.tolist() == rank[perm].tolist()
    assert decile_p.tolist() == decile[perm].tolist()


def test_deciles_split_the_base_in_tenths() -> None:
    risk = np.random.default_rng(1).lognormal(size=10_000)
    _, decile = ranks_among(risk, np.sort(risk))
    counts = np.bincount(decile, minlength=11)[1:]
    assert counts.tolist() == [1000] * 10


def test_snapshot_id_depends_on_content_not_row_order() -> None:
    df = pd.DataFrame({"customer_id": [1, 2, 3], "x": [0.1, 0.2, 0.3]})
    assert snapshot_id(df) == snapshot_id(df.iloc[::-1])
    changed = df.assign(x=[0.1, 0.2, 0.31])
    assert snapshot_id(changed) != snapshot_id(df)


@pytest.mark.parametrize("size", [1, 3, 10])
def test_chunks_cover_every_row_once(size: int) -> None:
    df = pd.DataFrame({"a": range(7)})
    parts = list(chunks(df, size))
    assert pd.concat(parts)["a"].tolist() == list(range(7))
    assert all(len(p) <= size for p in parts)
