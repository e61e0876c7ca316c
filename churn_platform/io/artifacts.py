"""Artifact store: reference datasets, drift reports and retention lists, on disk or on S3.

Artifacts are files the platform produces for later runs or for people: the training reference
dataset that drift is measured against (parquet), the weekly Evidently drift report (HTML/PNG),
retention call lists (CSV). They live under one *artifact root*:

* ``s3://bucket/prefix`` → :class:`S3ArtifactStore` (AWS S3, or MinIO/moto through
  ``MLFLOW_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL_S3``; credentials come from the usual AWS
  environment/profile/role chain and are never named in errors);
* a folder path (or ``file://`` URI) → :class:`LocalArtifactStore` (demo, tests).

Keys are relative, ``/``-separated paths such as ``reference/churn_model/v3/features.parquet``
(no ``..``, no absolute paths). By convention the first segment says what produced the artifact,
which lets a "not found" error tell the user what to run:
``reference/`` (training), ``reports/`` (drift monitoring), ``retention/`` (weekly scoring).

Every failure is an :class:`~churn_platform.errors.ArtifactError` naming the full URI; an
unreachable endpoint is an :class:`~churn_platform.errors.ArtifactStoreUnavailableError` (also a
``StorageError``) naming the endpoint.
"""

from __future__ import annotations

import io
import mimetypes
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa

from churn_platform.errors import ArtifactError, ArtifactStoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REFERENCE_PREFIX = "reference"
REPORTS_PREFIX = "reports"
RETENTION_PREFIX = "retention"

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"

S3_ENDPOINT_ENV_VARS = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
"""Environment variables naming a custom S3 endpoint (MinIO, moto), first one set wins."""

_PRODUCERS: dict[str, str] = {
    REFERENCE_PREFIX: "Reference datasets are written when the model is trained (`churn_model` "
    "asset): materialize training first.",
    REPORTS_PREFIX: "Drift reports are written by the `feature_drift` / `score_drift` assets: "
    "materialize them for that week.",
    RETENTION_PREFIX: "Retention lists are written by the weekly scoring run (`churn_scores`): "
    "score that week first.",
}
_GENERIC_HINT = "Nothing has written this artifact yet: run the asset that produces it."
_ROOT_HINT = "If it was produced, check that CHURN_ARTIFACT_ROOT points at the store that run used."


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative artifact key, else raise :class:`ArtifactError`.

    Rejected: empty keys, absolute paths, ``..`` or ``.`` segments, empty segments (``a//b``),
    backslashes, drive letters, NUL bytes, a trailing ``/``.
    """
    problem = None
    if not isinstance(key, str) or not key:
        problem = "it is empty"
    elif "\x00" in key:
        problem = "it contains a NUL byte"
    elif "\\" in key:
        problem = "it contains a backslash; use '/' between folders"
    elif key.startswith("/"):
        problem = "it is an absolute path; keys are relative to the artifact root"
    elif key.endswith("/"):
        problem = "it ends with '/'; a key names a file, not a folder"
    else:
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            problem = "it contains an empty, '.' or '..' segment"
        elif len(parts[0]) == 2 and parts[0][1] == ":" and parts[0][0].isalpha():
            problem = "it starts with a drive letter"
    if problem:
        raise ArtifactError(f"Invalid artifact key {key!r}: {problem}.")
    return key


def _missing_message(uri: str, key: str, hint: str | None) -> str:
    producer = hint or _PRODUCERS.get(key.split("/", 1)[0], _GENERIC_HINT)
    return f"Artifact not found: {uri}. {producer} {_ROOT_HINT}"


def _content_type(key: str, content_type: str | None) -> str:
    if content_type:
        return content_type
    if key.endswith(".parquet"):
        return PARQUET_CONTENT_TYPE
    guessed, _ = mimetypes.guess_type(key)
    return guessed or "application/octet-stream"


class ArtifactStore(ABC):
    """Where the platform keeps its artifacts; see the module docstring for keys and errors."""

    @staticmethod
    def from_uri(
        root: str, *, environ: Mapping[str, str] | None = None, **s3_options: Any
    ) -> ArtifactStore:
        """Open the store for an artifact root: ``s3://bucket/prefix`` or a local folder.

        For S3 the endpoint comes from ``MLFLOW_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL_S3``
        (first set wins; otherwise AWS). ``s3_options`` go to :class:`S3ArtifactStore`
        (``connect_timeout``, ``read_timeout``, ``max_attempts``, ``region_name``,
        ``endpoint_url``).
        """
        env = os.environ if environ is None else environ
        if not root or not root.strip():
            raise ArtifactError("The artifact root is empty; set CHURN_ARTIFACT_ROOT.")
        parts = urlsplit(root)
        if parts.scheme == "s3":
            if not parts.netloc:
                raise ArtifactError(
                    f"Artifact root {root!r} names no bucket: use s3://bucket/prefix"
                )
            options = dict(s3_options)
            if options.get("endpoint_url") is None:
                options["endpoint_url"] = next(
                    (env[v] for v in S3_ENDPOINT_ENV_VARS if env.get(v)), None
                )
            return S3ArtifactStore(parts.netloc, parts.path.strip("/"), **options)
        if parts.scheme == "file":
            return LocalArtifactStore(unquote(parts.path))
        if "://" in root:
            raise ArtifactError(
                f"Unsupported artifact root {root!r}: use s3://bucket/prefix or a local folder."
            )
        return LocalArtifactStore(root)

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where ``key`` lives: ``s3://bucket/prefix/key`` or an absolute local path."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        """Store ``data`` under ``key`` (replacing it) and return its URI."""

    @abstractmethod
    def get_bytes(self, key: str, *, missing_hint: str | None = None) -> bytes:
        """Read the artifact at ``key``; a missing one raises an error saying what produces it.

        ``missing_hint`` replaces the default "what produces it" advice.
        """

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an artifact is stored under ``key``."""

    def put_frame(self, key: str, df: pd.DataFrame) -> str:
        """Store a DataFrame as parquet under ``key`` and return its URI."""
        buffer = io.BytesIO()
        try:
            df.to_parquet(buffer, engine="pyarrow")
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise ArtifactError(
                f"Cannot write the DataFrame as parquet to {self.uri(key)}: {exc}"
            ) from exc
        return self.put_bytes(key, buffer.getvalue(), PARQUET_CONTENT_TYPE)

    def get_frame(self, key: str, *, missing_hint: str | None = None) -> pd.DataFrame:
        """Read a parquet artifact into a DataFrame; a corrupt file raises naming its URI."""
        data = self.get_bytes(key, missing_hint=missing_hint)
        try:
            return pd.read_parquet(io.BytesIO(data), engine="pyarrow")
        except (pa.ArrowException, ValueError, OSError) as exc:
            raise ArtifactError(
                f"Artifact {self.uri(key)} is not a readable parquet file ({len(data)} bytes): "
                f"{exc}. Re-run the asset that produces it."
            ) from exc


class LocalArtifactStore(ArtifactStore):
    """Artifacts as files under a local folder (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*PurePosixPath(validate_key(key)).parts)

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # write then rename: readers never see a half-written artifact
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise ArtifactError(f"Cannot write artifact {path}: {exc.strerror or exc}") from exc
        return str(path)

    def get_bytes(self, key: str, *, missing_hint: str | None = None) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(_missing_message(str(path), key, missing_hint)) from None
        except OSError as exc:
            raise ArtifactError(f"Cannot read artifact {path}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
    }
)


def _public_endpoint(url: str) -> str:
    """The endpoint without any user:password@ part."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


# Bounds of every S3 request (issue 19: each store fails fast with a named error): a refused or
# silent endpoint costs at most about MAX_ATTEMPTS * (CONNECT_TIMEOUT_S + backoff) seconds.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 2


def s3_client_config(
    *,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    read_timeout: float = READ_TIMEOUT_S,
    max_attempts: int = MAX_ATTEMPTS,
    path_style: bool = False,
) -> Any:
    """The botocore ``Config`` every S3 client of the platform is made with: bounded timeouts and
    retries ("standard" mode), path-style addressing for S3-compatible endpoints (MinIO, moto)."""
    from botocore.config import Config

    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # total attempts, the first included (botocore's ``max_attempts`` counts retries only)
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"} if path_style else None,
    )


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects under ``s3://bucket/prefix`` (AWS S3 or an S3-compatible endpoint).

    Timeouts and retries are deliberately bounded so an unreachable endpoint fails a run in
    seconds, not minutes: ``connect_timeout``/``read_timeout`` in seconds, ``max_attempts``
    total attempts per request (botocore "standard" retry mode).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        max_attempts: int = MAX_ATTEMPTS,
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = validate_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        if client is not None:
            self.__dict__["client"] = client
        self._bucket_checked = False

    def __repr__(self) -> str:
        where = f", endpoint={_public_endpoint(self.endpoint_url)!r}" if self.endpoint_url else ""
        return f"S3ArtifactStore({self.uri('')!r}{where})"

    @cached_property
    def client(self) -> S3Client:
        """The boto3 S3 client, created on first use with bounded timeouts and retries."""
        import boto3

        config = s3_client_config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_attempts=self.max_attempts,
            # S3-compatible servers (MinIO, moto) are addressed by path, not bucket subdomain
            path_style=self.endpoint_url is not None,
        )
        session = boto3.session.Session()
        return session.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region_name, config=config
        )

    @property
    def endpoint(self) -> str:
        """The endpoint requests go to, without credentials (for error messages)."""
        return _public_endpoint(self.client.meta.endpoint_url)

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        if key == "":
            return f"s3://{self.bucket}/{self.prefix}"
        return f"s3://{self.bucket}/{self._key(key)}"

    def _error(
        self, exc: Exception, action: str, key: str, hint: str | None = None
    ) -> ArtifactError:
        """Translate a botocore error into an ArtifactError a person can act on."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        uri = self.uri(key)
        if isinstance(
            exc,
            EndpointConnectionError
            | ConnectTimeoutError
            | ReadTimeoutError
            | ConnectionClosedError,
        ):
            return ArtifactStoreUnavailableError(
                f"Cannot reach the artifact store at {self.endpoint} (bucket {self.bucket!r}) to "
                f"{action} {uri} ({type(exc).__name__}, after {self.max_attempts} attempts). "
                f"Check that the service is up and that {' / '.join(S3_ENDPOINT_ENV_VARS)} "
                "point at it."
            )
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return ArtifactError(
                f"No usable AWS credentials to {action} {uri}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give this process an IAM role."
            )
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            if code == "NoSuchBucket":
                return ArtifactError(
                    f"Bucket {self.bucket!r} does not exist at {self.endpoint} (needed to {action} "
                    f"{uri}): create it or fix CHURN_ARTIFACT_ROOT."
                )
            if code in _MISSING_CODES:
                return ArtifactError(_missing_message(uri, key, hint))
            if code in _DENIED_CODES:
                return ArtifactError(
                    f"Access denied to {action} {uri} ({code}): check the AWS credentials or role "
                    "this process runs with and the bucket policy."
                )
            return ArtifactError(
                f"S3 refused to {action} {uri}: {code} {error.get('Message', '')}".rstrip()
            )
        return ArtifactError(f"Cannot {action} {uri}: {type(exc).__name__}: {exc}")

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        s3_key = self._key(key)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=s3_key,
                Body=data,
                ContentType=_content_type(key, content_type),
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "write", key) from exc
        return self.uri(key)

    def get_bytes(self, key: str, *, missing_hint: str | None = None) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        s3_key = self._key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=s3_key)
            return response["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "read", key, missing_hint) from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        s3_key = self._key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=s3_key)
            return True
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in _MISSING_CODES:
                raise self._error(exc, "look up", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "look up", key) from exc
        # HEAD answers a bare 404 for a missing bucket too: tell the two apart once
        if not self._bucket_checked:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in _MISSING_CODES or code == "NoSuchBucket":
                    raise ArtifactError(
                        f"Bucket {self.bucket!r} does not exist at {self.endpoint}: create it or "
                        "fix CHURN_ARTIFACT_ROOT."
                    ) from exc
                raise self._error(exc, "look up", key) from exc
            except BotoCoreError as exc:
                raise self._error(exc, "look up", key) from exc
            self._bucket_checked = True
        return False
