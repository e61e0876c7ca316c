"""Domain exceptions. Each names what is wrong (column, row, file) and what to do about it.

The CLI prints these without a traceback and exits non-zero; Dagster shows them in the run.
"""

from __future__ import annotations

from churn_platform.redaction import safe_text


class ChurnPlatformError(Exception):
    """Base class for every error a user is expected to read and act on.

    Its message is masked and cut when the error is made (:func:`churn_platform.redaction.
    safe_text`): whatever shows it (CLI, logs, Dagster events, notifications) never sees a
    credential or a multi-megabyte value.
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
