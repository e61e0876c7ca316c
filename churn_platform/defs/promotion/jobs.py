"""Human-in-the-loop lifecycle jobs: promote the challenger, reject a version, roll back.

Each op calls one use case of ``app/promotion.py`` (atomic: MLflow aliases, tags and the ledger
change together or not at all), then notifies. The notification goes out after the commit and
its failure is logged as a warning on the run: it never fails the committed step.
"""

from dagster import Config, OpExecutionContext, job, op

from churn_platform.app.promotion import (
    TransitionResult,
    approve_challenger,
    notify_safely,
    reject,
    rollback,
    transition_notification,
)
from churn_platform.defs.resources import MlflowResource, NotifierResource, WarehouseResource


class PromotionConfig(Config):
    """Who approves which version, and why (recorded in the promotion ledger)."""

    version: int
    approver: str
    reason: str = "approved in Dagster"


class RejectConfig(Config):
    """Who rejects which version, and why."""

    version: int
    approver: str
    reason: str


class RollbackConfig(Config):
    """Who rolls back, why, and to which archived version (default: the previous one)."""

    approver: str
    reason: str
    to_version: int | None = None


def _after(
    context: OpExecutionContext, notifier: NotifierResource, result: TransitionResult
) -> None:
    context.log.info("%s by %r: %r", result.describe(), result.actor, result.reason)
    problem = notify_safely(notifier.notifier(), transition_notification(result))
    if problem is not None:
        context.log.warning(f"notification not delivered (the change is committed): {problem}")


@op
def promote_challenger(
    context: OpExecutionContext,
    config: PromotionConfig,
    mlflow_resource: MlflowResource,
    warehouse: WarehouseResource,
    notifier: NotifierResource,
) -> None:
    """Move ``production`` to the challenger version; refuses any other version."""
    registry = mlflow_resource.registry(warehouse)
    outcome = approve_challenger(
        registry, config.version, approver=config.approver, reason=config.reason
    )
    if outcome.transition is not None:
        _after(context, notifier, outcome.transition)


@op
def reject_version(
    context: OpExecutionContext,
    config: RejectConfig,
    mlflow_resource: MlflowResource,
    warehouse: WarehouseResource,
    notifier: NotifierResource,
) -> None:
    """Reject a candidate, challenger or archived version (production: roll back first)."""
    registry = mlflow_resource.registry(warehouse)
    result = reject(registry, config.version, approver=config.approver, reason=config.reason)
    _after(context, notifier, result)


@op
def rollback_production(
    context: OpExecutionContext,
    config: RollbackConfig,
    mlflow_resource: MlflowResource,
    warehouse: WarehouseResource,
    notifier: NotifierResource,
) -> None:
    """Production back to an archived former production version; the current is archived."""
    registry = mlflow_resource.registry(warehouse)
    result = rollback(
        registry, approver=config.approver, reason=config.reason, to_version=config.to_version
    )
    _after(context, notifier, result)


@job(description="Promote the challenger to production. Config names the approver.")
def promote_model_job() -> None:
    promote_challenger()


@job(description="Reject a model version (never promoted again). Config names the approver.")
def reject_model_job() -> None:
    reject_version()


@job(description="Roll production back to the previous (or a named archived) version.")
def rollback_model_job() -> None:
    rollback_production()
