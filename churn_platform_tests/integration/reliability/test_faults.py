"""Faults injected for real on this machine: a killed database backend mid-write, an unreachable
MLflow tracking store, a stopped S3 endpoint, two scoring runs of one week at once, and a COPY
that fails mid-stream with the server's disk-full error. Each must leave the week's previous
rows exactly as they were (count and checksum) and fail clearly or recover."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any, ClassVar

import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, materialize

from churn_platform.defs.io_managers import ParquetSnapshotIOManager
from churn_platform.defs.resources import (
    ArtifactStoreResource,
    MlflowResource,
    WarehouseResource,
)
from churn_platform.entry.stack import free_port
from churn_platform.errors import ArtifactStoreUnavailableError, StorageError
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.registry import ModelRegistry
from churn_platform_tests.support.postgres import ADMIN_URL
from churn_platform_tests.support.reliability import (
    ALL_ASSETS,
    WEEK,
    Env,
    error_chain,
    run_assets,
    table_state,
)

SCORE = ["customer_features", "churn_scores"]
SMALL_CHUNKS = {"ops": {"churn_scores": {"config": {"chunk_rows": 500}}}}


def _execute(url: str, sql: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _week_fingerprint(env: Env, model: str | None = None) -> tuple[int, str]:
    repo = env.repo()
    try:
        name = model or env.model_name
        return repo.count_week(env.week, name), repo.checksum_week(env.week, name)
    finally:
        repo.dispose()


# --------------------------------------------------------------------------------------------
# 1. The writer's backend is killed mid-write → rollback, then the RetryPolicy re-runs the step
# --------------------------------------------------------------------------------------------


class KillWriterOnce(WarehouseResource):
    """Real repository. On the first attempt, after the first batch went through COPY, the test
    terminates the writer's server process with pg_terminate_backend. On the retry it records
    what readers see before the new rows are written (the previous rows must be intact)."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def predictions(self) -> PredictionsRepository:
        repo = super().predictions()
        original = repo.replace_week
        calls = KillWriterOnce.calls
        url = self.url()

        def replace_week(week: date, model: str, batches: Iterable[Any], **kw: Any) -> int:
            attempt: dict[str, Any] = {"killed": None, "seen_before_write": None}
            calls.append(attempt)

            def stream() -> Iterator[Any]:
                for i, batch in enumerate(batches):
                    if len(calls) == 1 and i == 1:
                        pid = repo.backend_pid
                        killed = _execute(ADMIN_URL, "SELECT pg_terminate_backend(:p)", p=pid)
                        attempt["killed"] = (pid, killed[0][0])
                    if len(calls) == 2 and i == 0:
                        reader = PredictionsRepository(url, repo.schema)
                        attempt["seen_before_write"] = (
                            reader.count_week(week, model),
                            reader.checksum_week(week, model),
                        )
                        reader.dispose()
                    yield batch

            return original(week, model, stream(), **kw)

        repo.replace_week = replace_week  # type: ignore[method-assign]
        return repo


def test_killed_backend_mid_write_keeps_rows_and_the_asset_retries(env: Env) -> None:
    before = _week_fingerprint(env)
    KillWriterOnce.calls.clear()
    warehouse = KillWriterOnce(database_url=env.pg_url, db_schema=env.schema)
    result = run_assets(env, SCORE, run_config=SMALL_CHUNKS, warehouse=warehouse)

    assert result.success  # the retry succeeded
    first, second = KillWriterOnce.calls
    pid, terminated = first["killed"]
    assert terminated is True and pid is not None
    assert second["seen_before_write"] == before  # after the failed attempt: old rows intact

    types = [e.event_type for e in result.all_events if e.step_key == "churn_scores"]
    assert DagsterEventType.STEP_UP_FOR_RETRY in types
    assert DagsterEventType.STEP_RESTARTED in types
    retry = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY)
    error = retry.event_specific_data.error
    assert "StorageError" in error_chain(error)
    assert "rolled back" in str(error) and "terminat" in str(error)
    assert _week_fingerprint(env) == before  # same features, same model: same rows


# --------------------------------------------------------------------------------------------
# 2. MLflow tracking store unreachable at scoring → clear failure, nothing written
# --------------------------------------------------------------------------------------------


def test_mlflow_unreachable_at_scoring_fails_clearly_and_writes_nothing(env: Env) -> None:
    before = table_state(env)
    dead = f"postgresql+psycopg2://postgres:not-a-secret@127.0.0.1:{free_port()}/mlflow"
    broken = MlflowResource(tracking_uri=dead, model_name=env.model_name)
    result = materialize(
        ALL_ASSETS,
        selection=SCORE,
        partition_key=WEEK,
        resources={**env.resources, "mlflow_resource": broken},
        instance=env.instance,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "churn_scores"
    text = str(failure.step_failure_data.error)
    assert "StorageError" in error_chain(failure.step_failure_data.error)
    assert "MLflow tracking store" in text and "is unreachable" in text
    assert "not-a-secret" not in text
    retries = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retries) == 2  # transient by nature: retried per the RetryPolicy, then failed
    assert table_state(env) == before


def test_dropped_tracking_database_fails_in_seconds(env: Env) -> None:
    name = f"{env.schema}_dropped_mlflow"
    _execute(ADMIN_URL, f'CREATE DATABASE "{name}"')
    _execute(ADMIN_URL, f'DROP DATABASE "{name}"')
    with pytest.raises(StorageError, match=f'database "{name}" does not exist'):
        ModelRegistry(
            env.model_name, tracking_uri=f"postgresql+psycopg2://postgres@127.0.0.1/{name}"
        )


# --------------------------------------------------------------------------------------------
# 3. S3 endpoint down for artifacts → clear failure
# --------------------------------------------------------------------------------------------


@pytest.fixture
def s3_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server with a bucket, stopped before the test runs: the endpoint is down."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="churn-artifacts")
    server.stop()
    yield "s3://churn-artifacts/reliability"


def test_s3_down_fails_the_snapshot_clearly_and_scores_nothing(env: Env, s3_down: str) -> None:
    before = table_state(env)
    artifacts = ArtifactStoreResource(root=s3_down)
    with pytest.raises(ArtifactStoreUnavailableError) as info:
        run_assets(
            env,
            SCORE,
            artifacts=artifacts,
            snapshot_io_manager=ParquetSnapshotIOManager(artifacts=artifacts),
        )
    message = str(info.value)
    assert "Cannot reach the artifact store at http://127.0.0.1:" in message
    assert "s3://churn-artifacts/reliability/assets/customer_features/" in message
    assert table_state(env) == before


# --------------------------------------------------------------------------------------------
# 4. Two scoring runs of the same week at once → one wins, rows consistent
# --------------------------------------------------------------------------------------------


def test_two_concurrent_writers_of_one_week_serialize_and_one_wins(env: Env) -> None:
    model = f"{env.model_name}_concurrent"
    source = env.repo().read_week(env.week, env.model_name).assign(model_name=model)
    n = len(source)
    versions = {"a": 101, "b": 202}
    go = threading.Barrier(2)
    finished: dict[str, float] = {}
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        rows = source.assign(model_version=versions[tag], dagster_run_id=f"run-{tag}")

        def slow() -> Iterator[pd.DataFrame]:
            for start in range(0, n, 500):
                time.sleep(0.05)  # keep the transaction open so the two overlap
                yield rows.iloc[start : start + 500]

        repo = env.repo()
        try:
            go.wait()
            assert repo.replace_week(env.week, model, slow(), expected_rows=n) == n
            finished[tag] = time.monotonic()
        except BaseException as exc:
            errors.append(exc)
        finally:
            repo.dispose()

    waiting: list[int] = []

    def watch() -> None:  # one writer must wait on the other's advisory lock
        for _ in range(100):
            rows = _execute(
                env.pg_url,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :a "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
                a="churn_platform.predictions",
            )
            waiting.append(int(rows[0][0]))
            if waiting[-1]:
                return
            time.sleep(0.02)

    threads = [threading.Thread(target=writer, args=(t,)) for t in versions]
    watcher = threading.Thread(target=watch)
    for t in [*threads, watcher]:
        t.start()
    for t in [*threads, watcher]:
        t.join(60)
    assert not errors, errors
    assert max(waiting) == 1
    winner = max(finished, key=finished.__getitem__)  # the last to commit
    rows = _execute(
        env.pg_url,
        f'SELECT model_version, dagster_run_id, count(*) FROM "{env.schema}".predictions '
        "WHERE scoring_week = :w AND model_name = :m GROUP BY 1, 2",
        w=env.week,
        m=model,
    )
    assert rows == [(versions[winner], f"run-{winner}", n)]


# --------------------------------------------------------------------------------------------
# 5. Disk-full failure in the middle of COPY → rollback
# --------------------------------------------------------------------------------------------


def test_disk_full_mid_copy_rolls_back(env: Env) -> None:
    """A row trigger raises SQLSTATE 53100 (disk_full), the error PostgreSQL gives when it
    cannot extend a data file, on the 1,200th row of the transaction: two COPY batches are
    already in, the third fails mid-stream. A real full disk cannot be made safely on a shared
    CI machine; the server-side error path (abort of the COPY and of the transaction) is the
    same. ``temp_file_limit`` would not do: COPY into a table writes no temp files."""
    before = _week_fingerprint(env)
    rows = env.repo().read_week(env.week, env.model_name)
    schema = f'"{env.schema}"'
    _execute(
        env.pg_url,
        f"""
        CREATE FUNCTION {schema}.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM set_config('churn.rows', (coalesce(nullif(current_setting('churn.rows', true),
                             ''), '0')::int + 1)::text, true);
          IF current_setting('churn.rows')::int >= 1200 THEN
            RAISE EXCEPTION 'could not extend file "base/16384/2619": No space left on device'
              USING ERRCODE = 'disk_full';
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER disk_full BEFORE INSERT ON {schema}.predictions
          FOR EACH ROW EXECUTE FUNCTION {schema}.disk_full();
        """,
    )
    repo = env.repo()
    try:
        batches = (rows.iloc[i : i + 500] for i in range(0, len(rows), 500))
        with pytest.raises(StorageError) as info:
            repo.replace_week(env.week, env.model_name, batches, expected_rows=len(rows))
    finally:
        repo.dispose()
        _execute(
            env.pg_url,
            f"DROP TRIGGER disk_full ON {schema}.predictions; DROP FUNCTION {schema}.disk_full()",
        )
    message = str(info.value)
    assert "No space left on device" in message
    assert "failed after 1000 rows and was rolled back" in message
    assert _week_fingerprint(env) == before
