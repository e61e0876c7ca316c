"""``shard_sql`` computes :func:`shard_of` inside PostgreSQL, bit for bit (the building block of
a shard filter pushed into a source's query): random 64-bit ids, both extremes, small ids."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from churn_platform.io.sharding import shard_of, shard_sql


@pytest.mark.parametrize("shards", [1, 4, 7, 64])
def test_sql_shard_equals_python_shard(pg_url: str, shards: int) -> None:
    rng = np.random.default_rng(shards)
    ids = np.concatenate(
        [
            rng.integers(-(2**63), 2**63 - 1, 400, dtype=np.int64),
            np.arange(-5, 300, dtype=np.int64),
            np.array([2**63 - 1, -(2**63), 0], dtype=np.int64),
        ]
    )
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    f"select x.id, {shard_sql('x.id', shards)} as shard "
                    "from unnest(cast(:ids as bigint[])) with ordinality x(id, n) order by x.n"
                ),
                {"ids": [int(i) for i in ids]},
            ).all()
    finally:
        engine.dispose()
    assert [r[0] for r in rows] == [int(i) for i in ids]
    got = np.array([r[1] for r in rows])
    np.testing.assert_array_equal(got, shard_of(ids, shards))
    if shards > 1:
        assert len(set(got.tolist())) == shards  # not a constant: every shard is hit


def test_shard_sql_rejects_zero_shards() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        shard_sql("id", 0)
