"""Domain exceptions, and what of a secret may reach any message (redaction).

Each exception names what is wrong (column, row, file) and what to do about it. The CLI prints
these without a traceback and exits non-zero; Dagster shows them in the run.

Redaction (below the exceptions) is the one place that decides what of a secret may reach any
output: consoles, logs, exception messages (and so Dagster events and the CLI), MLflow params
and tags, reports, notifications.

* URL credentials in any text: the whole userinfo of ``scheme://user:password@host`` and of
  ``scheme://TOKEN@host`` (a token given as the URL's username, as GitHub, Databricks or a
  Pushgateway behind a proxy take it, possibly with a dummy password) becomes ``***``.
* Secret query parameters (``password=``, ``token=``, ``api_key=``, ``X-Amz-Signature=``...) and
  Slack webhook paths are masked.
* Values of the process's secret environment variables (``CHURN_API_KEY``,
  ``AWS_SECRET_ACCESS_KEY``, ``MLFLOW_TRACKING_PASSWORD``...) are masked wherever they appear.
* :func:`truncate` cuts long text (a 2 MB cell value must not be copied whole into an error or an
  event); :func:`safe_text` does both.

Pure text functions plus a ``logging.Filter``; no I/O.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable


class ChurnPlatformError(Exception):
    """Base class for every error a user is expected to read and act on.

    Its message is masked and cut when the error is made (:func:`safe_text`): whatever shows
    it (CLI, logs, Dagster events, notifications) never sees a credential or a multi-megabyte
    value.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(safe_text(a) if isinstance(a, str) else a for a in args))


class DataContractError(ChurnPlatformError):
    """Input data violates the feature contract (missing column, bad dtype, NaN, range, ...)."""


class DataSourceConfigError(ChurnPlatformError):
    """The data source configuration file is malformed or points at something that is not there."""


class EmptyPartitionError(DataContractError):
    """A weekly snapshot has no rows."""


class TrainingError(ChurnPlatformError):
    """Training cannot proceed (too few events, constant features, ...)."""


class ModelNotFoundError(ChurnPlatformError):
    """No model version holds the requested alias."""


class ArtifactError(ChurnPlatformError):
    """A stored artifact (reference data, report) is missing or unreadable."""


class StorageError(ChurnPlatformError):
    """The database or object store is unreachable or rejected a write."""


class NotificationError(ChurnPlatformError):
    """A notification (Slack webhook, ...) could not be delivered. Never carries the webhook URL."""


class ArtifactStoreUnavailableError(ArtifactError, StorageError):
    """The artifact store's endpoint (S3, MinIO, ...) cannot be reached or timed out."""


class IllegalTransitionError(ChurnPlatformError):
    """A promotion lifecycle transition is not allowed from the version's current state
    (promote a rejected version, reject production, ...). Nothing was changed."""


class NoPreviousProductionError(IllegalTransitionError):
    """A rollback was requested but no earlier production version can take over."""


class InvalidActorError(ChurnPlatformError):
    """An approver name or reason cannot be stored (NUL byte, blank). Nothing was changed."""


class TransitionFailedError(ChurnPlatformError):
    """Applying a transition to MLflow or the ledger failed; the changes were rolled back."""


class ConfigurationError(ChurnPlatformError):
    """A required setting (API key, URL, port, folder) is missing, malformed or unusable."""


# --------------------------------------------------------------------------------------------
# redaction
# --------------------------------------------------------------------------------------------


MASK = "***"
MAX_MESSAGE_CHARS = 4_000
"""Longest error/event text kept; the rest is cut with a note of how much was cut."""

SECRET_ENV_VARS = (
    "CHURN_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
    "CHURN_DB_PASSWORD",
    "MLFLOW_DB_PASSWORD",
    "DAGSTER_PG_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "GRAFANA_DB_PASSWORD",
    "MINIO_ROOT_PASSWORD",
)
"""Environment variables whose values are secrets in their own right (masked anywhere)."""
URL_ENV_VARS = (
    "DATABASE_URL",
    "MLFLOW_TRACKING_URI",
    "SLACK_WEBHOOK_URL",
    "PROMETHEUS_PUSHGATEWAY_URL",
)
"""Environment variables holding URLs whose credentials are secrets."""

# scheme://userinfo@  — userinfo has no '/', whitespace or '@'; the last '@' before the host
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/\s@'\"<>]+)@(?=[^\s@]*)"
)
_SECRET_PARAM = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|token|access_token|secret|api[_-]?key|apikey|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token|sig|signature)=)(?P<value>[^&\s'\"]+)"
)
_SLACK_HOOK = re.compile(r"(?P<prefix>hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s'\"]+")
_MIN_SECRET_CHARS = 4  # shorter env values ("1", "no") would mask unrelated text
# A URL user with no password is masked everywhere only when it looks like a token: plain user
# names ("postgres", "mlflow") would otherwise be masked in every message of the process. Inside
# a URL the whole userinfo is masked whatever its length (``_mask_userinfo``).
_MIN_TOKEN_USER_CHARS = 16


def _mask_userinfo(match: re.Match[str]) -> str:
    # the whole userinfo: a token may be the user (http://TOKEN@host) or the user with a dummy
    # password (http://TOKEN:x-oauth-basic@host); which part is secret cannot be told apart
    return f"{match.group('scheme')}{MASK}@"


def mask_url(url: str) -> str:
    """``url`` with its credentials masked (see the module docstring)."""
    return mask_secrets(url, extra=())


def _env_secrets() -> list[str]:
    from urllib.parse import unquote, urlsplit

    values: list[str] = []
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name, "")
        if len(value) >= _MIN_SECRET_CHARS:
            values.append(value)
    for name in URL_ENV_VARS:
        value = os.environ.get(name, "")
        if not value:
            continue
        try:
            parts = urlsplit(value)
            user, password = parts.username, parts.password
        except ValueError:
            continue
        if password and len(password) >= _MIN_SECRET_CHARS:
            values += [password, unquote(password)]
        elif password is None and user and len(user) >= _MIN_TOKEN_USER_CHARS:
            values += [user, unquote(user)]
    return values


def mask_secrets(text: str, extra: Iterable[str] | None = None) -> str:
    """``text`` with every credential it may carry masked: URL userinfo, secret query
    parameters, Slack webhook paths, the values of secret environment variables and ``extra``
    (defaults to those environment values)."""
    if not text:
        return text
    out = _URL_USERINFO.sub(_mask_userinfo, text)
    out = _SECRET_PARAM.sub(lambda m: f"{m.group('key')}{MASK}", out)
    out = _SLACK_HOOK.sub(lambda m: f"{m.group('prefix')}{MASK}", out)
    secrets = _env_secrets() if extra is None else list(extra)
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= _MIN_SECRET_CHARS:
            out = out.replace(secret, MASK)
    return out


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to about ``limit`` characters (head and tail kept), saying how much was cut."""
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]} …[{cut} characters cut]… {text[-tail:]}"


def safe_text(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``str(text)`` with secrets masked, then truncated: what any output may show."""
    raw = str(text)
    # cut first (bounded work on a 2 MB value), mask, then cut again in case masking grew it
    if len(raw) > 4 * limit:
        raw = truncate(raw, 4 * limit)
    return truncate(mask_secrets(raw), limit)


class SecretMaskingFilter(logging.Filter):
    """Masks and truncates every log record's message (installed on handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own error path
            return True
        safe = safe_text(message)
        if safe != message:
            record.msg, record.args = safe, None
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Add :class:`SecretMaskingFilter` to every handler of ``logger`` (default: root)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, SecretMaskingFilter) for f in handler.filters):
            handler.addFilter(SecretMaskingFilter())
