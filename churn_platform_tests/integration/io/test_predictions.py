"""PredictionsRepository: idempotent, atomic replacement of a scoring week on real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from churn_platform.errors import DataContractError, StorageError
from churn_platform.io.predictions import APPLICATION_NAME, PredictionsRepository
from churn_platform_tests.support.predictions import MODEL, WEEK, predictions

OTHER_WEEK = date(2024, 3, 11)


def chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for i in range(0, len(frame), size):
        yield frame.iloc[i : i + size]


@pytest.fixture()
def repo(pg_url: str) -> Iterator[PredictionsRepository]:
    r = PredictionsRepository(pg_url, schema=f"p_{uuid.uuid4().hex[:10]}")
    yield r
    r.dispose()


@pytest.fixture()
def admin(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url)
    yield engine
    engine.dispose()


def test_write_read_round_trip(repo: PredictionsRepository) -> None:
    frame = predictions(500)
    assert repo.replace_week(WEEK, MODEL, chunks(frame, 128), expected_rows=500) == 500
    back = repo.read_week(WEEK, MODEL)
    assert len(back) == 500
    assert back["risk_rank"].tolist() == list(range(1, 501))
    merged = back.set_index("customer_id").sort_index()
    np.testing.assert_allclose(merged["risk_score"].to_numpy(), frame["risk_score"].to_numpy())
    assert repo.weeks() == [WEEK]
    assert repo.weeks("other") == []
    assert repo.count_week(WEEK, MODEL) == 500
    streamed = pd.concat(repo.iter_week(WEEK, MODEL, batch_rows=100))
    assert streamed["customer_id"].tolist() == list(range(500))


def test_arrow_batches_are_accepted_and_cast_to_table_widths(
    repo: PredictionsRepository,
) -> None:
    frame = predictions(300)
    repo.replace_week(WEEK, MODEL, frame)
    expected = repo.checksum_week(WEEK, MODEL)
    table = pa.Table.from_pandas(frame, preserve_index=False)  # int64 ranks, large types
    assert table.schema.field("risk_rank").type == pa.int64()
    repo.replace_week(WEEK, MODEL, [table.slice(0, 100), *table.slice(100).to_batches(50)])
    assert repo.checksum_week(WEEK, MODEL) == expected
    with pytest.raises(StorageError, match=r"missing column\(s\) \['top_drivers'\]"):
        repo.replace_week(WEEK, MODEL, table.drop_columns(["top_drivers"]))


def test_rewrite_same_week_is_idempotent_and_leaves_other_weeks(
    repo: PredictionsRepository,
) -> None:
    repo.replace_week(OTHER_WEEK, MODEL, predictions(300, OTHER_WEEK, seed=9))
    other = repo.checksum_week(OTHER_WEEK, MODEL)
    repo.replace_week(WEEK, MODEL, chunks(predictions(1000), 250))
    first = repo.checksum_week(WEEK, MODEL)
    # A re-run: same scores, a new Dagster run id and timestamp.
    repo.replace_week(WEEK, MODEL, chunks(predictions(1000), 333))
    assert repo.count_week(WEEK, MODEL) == 1000
    assert repo.checksum_week(WEEK, MODEL) == first
    assert repo.checksum_week(OTHER_WEEK, MODEL) == other
    assert repo.weeks(MODEL) == [WEEK, OTHER_WEEK]


def test_other_models_of_the_same_week_are_untouched(repo: PredictionsRepository) -> None:
    repo.replace_week(WEEK, "challenger_model", predictions(50, model="challenger_model"))
    repo.replace_week(WEEK, MODEL, predictions(80))
    repo.replace_week(WEEK, MODEL, predictions(70))
    assert repo.count_week(WEEK, "challenger_model") == 50
    assert len(repo.read_week(WEEK)) == 120


def test_empty_week_checksum_is_stable(repo: PredictionsRepository) -> None:
    assert repo.checksum_week(WEEK, MODEL) == repo.checksum_week(OTHER_WEEK, MODEL)


def test_iterator_failing_mid_stream_keeps_previous_rows(repo: PredictionsRepository) -> None:
    repo.replace_week(WEEK, MODEL, predictions(600))
    before = repo.checksum_week(WEEK, MODEL)

    def failing() -> Iterator[pd.DataFrame]:
        new = predictions(600, seed=1)
        yield new.iloc[:200]
        yield new.iloc[200:400]
        raise RuntimeError("feature source went away")

    with pytest.raises(StorageError, match=r"2024-03-04.*churn_model.*400 rows") as info:
        repo.replace_week(WEEK, MODEL, failing())
    assert isinstance(info.value.__cause__, RuntimeError)
    assert repo.checksum_week(WEEK, MODEL) == before
    assert repo.backend_pid is None


def test_domain_error_from_the_source_is_reraised_unchanged(repo: PredictionsRepository) -> None:
    repo.replace_week(WEEK, MODEL, predictions(10))

    def failing() -> Iterator[pd.DataFrame]:
        yield predictions(10, seed=2)
        raise DataContractError("column tenure has 3 negative values")

    with pytest.raises(DataContractError, match="tenure"):
        repo.replace_week(WEEK, MODEL, failing())
    assert repo.count_week(WEEK, MODEL) == 10


def test_duplicate_customers_are_rejected_and_previous_rows_kept(
    repo: PredictionsRepository,
) -> None:
    repo.replace_week(WEEK, MODEL, predictions(100))
    before = repo.checksum_week(WEEK, MODEL)
    dup = predictions(100, seed=5)
    # Duplicates across two batches (customer 10..19 appear twice).
    batches = [dup, predictions(10, seed=6, start=10)]
    with pytest.raises(StorageError, match="duplicate") as info:
        repo.replace_week(WEEK, MODEL, batches)
    assert info.value.__cause__ is not None
    assert repo.checksum_week(WEEK, MODEL) == before


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda f: f.drop(columns=["risk_decile"]), r"missing column\(s\) \['risk_decile'\]"),
        (lambda f: f.assign(score_v2=1.0), r"unexpected column\(s\) \['score_v2'\]"),
        (lambda f: f.assign(scoring_week=OTHER_WEEK), "another scoring_week"),
        (lambda f: f.assign(model_name="other"), "another model_name"),
        (lambda f: f.assign(risk_rank=2**40), "risk_rank"),
        (lambda f: f.assign(customer_id=None), "customer_id"),
    ],
)
def test_bad_batches_are_rejected_before_anything_changes(
    repo: PredictionsRepository, mutate: object, pattern: str
) -> None:
    repo.replace_week(WEEK, MODEL, predictions(20))
    before = repo.checksum_week(WEEK, MODEL)
    bad = mutate(predictions(20, seed=3))  # type: ignore[operator]
    with pytest.raises(StorageError, match=pattern):
        repo.replace_week(WEEK, MODEL, [predictions(5, seed=4, start=100), bad])
    assert repo.checksum_week(WEEK, MODEL) == before


def test_expected_rows_mismatch_rolls_back(repo: PredictionsRepository) -> None:
    repo.replace_week(WEEK, MODEL, predictions(30))
    before = repo.checksum_week(WEEK, MODEL)
    with pytest.raises(StorageError, match=r"expected 31 rows.*held 25"):
        repo.replace_week(WEEK, MODEL, predictions(25, seed=8), expected_rows=31)
    assert repo.checksum_week(WEEK, MODEL) == before


def test_concurrent_replaces_of_one_week_serialise(
    repo: PredictionsRepository, admin: sa.Engine
) -> None:
    inputs = {"a": predictions(3000, seed=11), "b": predictions(2000, seed=12, start=5000)}
    expected: dict[str, str] = {}
    for key, frame in inputs.items():
        repo.replace_week(WEEK, MODEL, frame)
        expected[key] = repo.checksum_week(WEEK, MODEL)
    repo.replace_week(WEEK, MODEL, predictions(10, seed=13))

    a_loading = threading.Event()
    release_a = threading.Event()
    errors: list[BaseException] = []

    def paused(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
        yield frame.iloc[:1000]
        a_loading.set()
        assert release_a.wait(timeout=60)
        yield from chunks(frame.iloc[1000:], 400)

    def write(key: str, batches: object) -> None:
        writer = PredictionsRepository(repo.url, schema=repo.schema)
        try:
            writer.replace_week(WEEK, MODEL, batches)  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)
        finally:
            writer.dispose()

    thread_a = threading.Thread(target=write, args=("a", paused(inputs["a"])))
    thread_b = threading.Thread(target=write, args=("b", chunks(inputs["b"], 500)))
    thread_a.start()
    try:
        assert a_loading.wait(timeout=60)
        thread_b.start()
        # B must queue on the week's advisory lock while A holds it mid-load.
        waiting = 0
        for _ in range(600):
            with admin.connect() as conn:
                waiting = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND NOT granted AND database = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())"
                    )
                ).scalar_one()
            if waiting:
                break
            threading.Event().wait(0.05)
        assert waiting == 1
    finally:
        release_a.set()
        thread_a.join(timeout=120)
        thread_b.join(timeout=120)
    assert not errors
    final = repo.read_week(WEEK, MODEL)
    assert not final["customer_id"].duplicated().any()
    assert len(final) in (3000, 2000)
    assert repo.checksum_week(WEEK, MODEL) in expected.values()
    # B waited for A, so B's rows are the ones left.
    assert repo.checksum_week(WEEK, MODEL) == expected["b"]


def test_readers_see_old_rows_while_a_replace_is_in_flight(repo: PredictionsRepository) -> None:
    repo.replace_week(WEEK, MODEL, predictions(400))
    before = repo.checksum_week(WEEK, MODEL)
    first_chunk_loaded = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def paused() -> Iterator[pd.DataFrame]:
        new = predictions(900, seed=21)
        yield new.iloc[:500]
        first_chunk_loaded.set()
        assert release.wait(timeout=60)
        yield new.iloc[500:]

    def write() -> None:
        try:
            repo.replace_week(WEEK, MODEL, paused())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert first_chunk_loaded.wait(timeout=60)
        # Deleted and 500 new rows written, but not committed: readers see the old week.
        assert len(repo.read_week(WEEK, MODEL)) == 400
        assert repo.checksum_week(WEEK, MODEL) == before
    finally:
        release.set()
        thread.join(timeout=60)
    assert not errors
    assert repo.count_week(WEEK, MODEL) == 900


def test_killed_writer_connection_keeps_previous_rows(
    repo: PredictionsRepository, admin: sa.Engine
) -> None:
    repo.replace_week(WEEK, MODEL, predictions(700))
    before = repo.checksum_week(WEEK, MODEL)
    killed: list[int] = []

    def killer() -> Iterator[pd.DataFrame]:
        new = predictions(700, seed=31)
        yield new.iloc[:300]
        pid = repo.backend_pid
        assert pid is not None
        with admin.connect() as conn:
            app = conn.execute(
                sa.text("SELECT application_name FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
            assert app == APPLICATION_NAME
            assert conn.execute(
                sa.text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}
            ).scalar()
        killed.append(pid)
        yield new.iloc[300:]

    with pytest.raises(StorageError, match="rolled back") as info:
        repo.replace_week(WEEK, MODEL, killer())
    assert killed
    assert info.value.__cause__ is not None
    assert repo.checksum_week(WEEK, MODEL) == before
    # The repository is usable again afterwards.
    assert repo.replace_week(WEEK, MODEL, predictions(700)) == 700
    assert repo.checksum_week(WEEK, MODEL) == before
