"""Artifact store on a local folder and on a real local S3-compatible server (moto)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from churn_platform.entry.stack import free_port
from churn_platform.errors import ArtifactError, ArtifactStoreUnavailableError, StorageError
from churn_platform.io.artifacts import (
    CONNECT_TIMEOUT_S,
    MAX_ATTEMPTS,
    READ_TIMEOUT_S,
    ArtifactStore,
    LocalArtifactStore,
    S3ArtifactStore,
    validate_key,
)

FAKE_KEY_ID = "AKIAFAKEKEYID0000000"
FAKE_SECRET = "fake-secret-access-key-do-not-print"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP server on 127.0.0.1 (moto), for the whole module."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no user AWS config, so nothing can reach a real account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "MLFLOW_S3_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def _make_bucket(endpoint: str) -> str:
    name = f"churn-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> ArtifactStore:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto_endpoint)
    return ArtifactStore.from_uri(f"s3://{_make_bucket(moto_endpoint)}/churn/artifacts")


@pytest.fixture
def local_store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore.from_uri(str(tmp_path / "artifacts"))


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> ArtifactStore:
    return request.getfixturevalue(f"{request.param}_store")


FRAME = pd.DataFrame(
    {
        "customer_id": ["c1", "c2", "c3"],
        "tenure_days": [10, 400, 73],
        "monthly_charges": [29.9, 99.5, float("nan")],
        "contract": pd.Categorical(["monthly", "yearly", "monthly"]),
        "signup": pd.to_datetime(["2024-01-01", "2023-05-02", "2024-11-30"], utc=True),
    }
)


# --- both backends --------------------------------------------------------------------------------


def test_bytes_round_trip(store: ArtifactStore) -> None:
    key = "reports/feature_drift/2025-03-03/report.html"
    assert not store.exists(key)
    uri = store.put_bytes(key, b"<html>drift</html>")
    assert uri == store.uri(key)
    assert store.exists(key)
    assert store.get_bytes(key) == b"<html>drift</html>"
    store.put_bytes(key, b"<html>v2</html>")  # overwrite
    assert store.get_bytes(key) == b"<html>v2</html>"


def test_frame_round_trip(store: ArtifactStore) -> None:
    key = "reference/churn_model/v3/features.parquet"
    uri = store.put_frame(key, FRAME)
    assert uri.endswith("reference/churn_model/v3/features.parquet")
    pd.testing.assert_frame_equal(store.get_frame(key), FRAME)


def test_missing_artifact_names_uri_and_producer(store: ArtifactStore) -> None:
    key = "reference/churn_model/v9/features.parquet"
    with pytest.raises(ArtifactError) as info:
        store.get_frame(key)
    message = str(info.value)
    assert store.uri(key) in message
    assert "churn_model" in message and "training" in message
    assert "CHURN_ARTIFACT_ROOT" in message


def test_missing_artifact_generic_and_custom_hints(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactError, match="run the asset that produces it"):
        store.get_bytes("misc/thing.bin")
    with pytest.raises(ArtifactError, match="run `churn-platform demo`"):
        store.get_bytes("misc/thing.bin", missing_hint="run `churn-platform demo` first.")


def test_corrupt_parquet_names_uri(store: ArtifactStore) -> None:
    key = "reference/broken.parquet"
    store.put_bytes(key, b"this is not parquet at all")
    with pytest.raises(ArtifactError, match="not a readable parquet") as info:
        store.get_frame(key)
    assert store.uri(key) in str(info.value)

    truncated = "reference/truncated.parquet"
    store.put_frame(truncated, FRAME)
    store.put_bytes(truncated, store.get_bytes(truncated)[:-20])
    with pytest.raises(ArtifactError, match="not a readable parquet"):
        store.get_frame(truncated)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside.csv",
        "a/../../b",
        "a//b",
        "./a",
        "a/",
        "C:/x",
        "a\\b",
        "a\x00",
    ],
)
def test_unsafe_keys_are_rejected(store: ArtifactStore, key: str) -> None:
    with pytest.raises(ArtifactError, match="Invalid artifact key"):
        store.put_bytes(key, b"x")
    with pytest.raises(ArtifactError, match="Invalid artifact key"):
        store.get_bytes(key)


def test_validate_key_accepts_normal_keys() -> None:
    assert validate_key("retention/2025-03-03/top_decile.csv") == (
        "retention/2025-03-03/top_decile.csv"
    )
    assert validate_key("a..b/c.parquet") == "a..b/c.parquet"  # dots inside a name are fine


# --- local specifics ------------------------------------------------------------------------------


def test_from_uri_local_and_file_uri(tmp_path: Path) -> None:
    store = ArtifactStore.from_uri(str(tmp_path))
    assert isinstance(store, LocalArtifactStore)
    file_store = ArtifactStore.from_uri((tmp_path / "with space").as_uri())
    assert isinstance(file_store, LocalArtifactStore)
    assert file_store.uri("a.csv") == str(tmp_path / "with space" / "a.csv")
    with pytest.raises(ArtifactError, match="Unsupported artifact root"):
        ArtifactStore.from_uri("gs://bucket/x")
    with pytest.raises(ArtifactError, match="names no bucket"):
        ArtifactStore.from_uri("s3:///x")


def test_local_store_writes_under_root_without_temp_leftovers(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "root")
    uri = store.put_bytes("retention/2025-03-03/top.csv", b"customer_id\nc1\n")
    assert Path(uri) == tmp_path / "root" / "retention" / "2025-03-03" / "top.csv"
    assert sorted(p.name for p in (tmp_path / "root" / "retention" / "2025-03-03").iterdir()) == [
        "top.csv"
    ]


def test_local_unwritable_root_is_an_artifact_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = LocalArtifactStore(blocker)
    with pytest.raises(ArtifactError, match="Cannot write artifact"):
        store.put_bytes("reports/x.html", b"x")


# --- S3 specifics ---------------------------------------------------------------------------------


def test_from_uri_s3_reads_endpoint_from_env(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    store = ArtifactStore.from_uri("s3://my-bucket/some/prefix/")
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix, store.endpoint_url) == (
        "my-bucket",
        "some/prefix",
        moto_endpoint,
    )
    assert store.uri("reports/a.html") == "s3://my-bucket/some/prefix/reports/a.html"
    # MLFLOW_S3_ENDPOINT_URL wins, as for MLflow's own artifacts
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://minio:9000")
    assert ArtifactStore.from_uri("s3://b").endpoint_url == "http://minio:9000"  # type: ignore[attr-defined]


def test_s3_objects_are_where_the_uri_says_with_content_type(
    s3_store: ArtifactStore, moto_endpoint: str
) -> None:
    assert isinstance(s3_store, S3ArtifactStore)
    s3_store.put_bytes("reports/feature_drift/2025-03-03/report.html", b"<html/>")
    s3_store.put_frame("reference/ref.parquet", FRAME)
    raw = boto3.client("s3", endpoint_url=moto_endpoint)
    head = raw.head_object(
        Bucket=s3_store.bucket, Key="churn/artifacts/reports/feature_drift/2025-03-03/report.html"
    )
    assert head["ContentType"] == "text/html"
    head = raw.head_object(Bucket=s3_store.bucket, Key="churn/artifacts/reference/ref.parquet")
    assert head["ContentType"] == "application/vnd.apache.parquet"


def test_s3_missing_bucket(moto_endpoint: str) -> None:
    store = S3ArtifactStore("no-such-bucket-churn", endpoint_url=moto_endpoint)
    with pytest.raises(ArtifactError, match="Bucket 'no-such-bucket-churn' does not exist"):
        store.get_bytes("reports/a.html")
    with pytest.raises(ArtifactError, match="does not exist"):
        store.exists("reports/a.html")


def test_s3_endpoint_down_fails_fast_naming_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped S3 server: clear error naming the endpoint (not credentials), within seconds."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", endpoint)
    store = ArtifactStore.from_uri(
        f"s3://{_make_bucket(endpoint)}/p", connect_timeout=1, read_timeout=2, max_attempts=2
    )
    store.put_bytes("reference/x.parquet", b"data")
    server.stop()

    for call in (
        lambda: store.get_bytes("reference/x.parquet"),
        lambda: store.put_bytes("reference/y.parquet", b"data"),
        lambda: store.exists("reference/x.parquet"),
    ):
        with pytest.raises(ArtifactStoreUnavailableError) as info:
            call()
        message = str(info.value)
        assert endpoint in message and f"bucket {store.bucket!r}" in message, message
        assert "after 2 attempts" in message, message
        assert FAKE_SECRET not in message and FAKE_KEY_ID not in message
        assert isinstance(info.value, ArtifactError) and isinstance(info.value, StorageError)


def test_s3_closed_port_with_default_retries_still_fails_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    store = ArtifactStore.from_uri("s3://bucket/prefix")
    with pytest.raises(ArtifactStoreUnavailableError) as info:
        store.get_frame("reference/x.parquet")
    message = str(info.value)
    assert message.startswith(f"Cannot reach the artifact store at {endpoint} (bucket 'bucket')")
    assert "s3://bucket/prefix/reference/x.parquet" in message, message
    assert "after 2 attempts" in message and "AWS_ENDPOINT_URL_S3" in message, message
    assert isinstance(info.value, StorageError)


def test_every_s3_client_is_bounded_by_default() -> None:
    """ "Fails fast" is the client's configuration (no wall-time assert): 3 s to connect, 10 s to
    read, 2 attempts in botocore's standard retry mode; explicit options still win."""
    store = S3ArtifactStore("b", endpoint_url=f"http://127.0.0.1:{free_port()}")
    config = store.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
    assert (CONNECT_TIMEOUT_S, READ_TIMEOUT_S, MAX_ATTEMPTS) == (3.0, 10.0, 2)
    # total attempts, the first included (botocore's own "max_attempts" would count retries)
    assert config.retries == {"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"}
    assert config.s3 == {"addressing_style": "path"}
    tuned = S3ArtifactStore("b", connect_timeout=1, read_timeout=2, max_attempts=4)
    config = tuned.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries == {"total_max_attempts": 4, "mode": "standard"}


def test_s3_endpoint_credentials_in_url_are_not_shown() -> None:
    store = S3ArtifactStore(
        "b", endpoint_url=f"http://user:pa55word@127.0.0.1:{free_port()}", max_attempts=1
    )
    with pytest.raises(ArtifactStoreUnavailableError) as info:
        store.get_bytes("reports/a.html")
    assert "pa55word" not in str(info.value)
    assert "pa55word" not in repr(store)


def test_mlflows_own_s3_clients_get_the_same_retry_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow makes its own boto3 client for model artifacts; bootstrap bounds its retries via
    botocore's environment (an operator's own value wins)."""
    from churn_platform.runtime import export_library_env
    from churn_platform.settings import Settings

    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    export_library_env(Settings())
    assert os.environ["AWS_MAX_ATTEMPTS"] == str(MAX_ATTEMPTS)
    assert os.environ["AWS_RETRY_MODE"] == "standard"
    client = boto3.session.Session().client("s3", endpoint_url=f"http://127.0.0.1:{free_port()}")
    assert client.meta.config.retries == {"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"}
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")
    export_library_env(Settings())
    assert os.environ["AWS_MAX_ATTEMPTS"] == "5"
