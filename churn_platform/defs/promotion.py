"""Human-in-the-loop promotion: ``challenger`` → ``production`` only with a named approver."""

from dagster import Config, OpExecutionContext, job, op

from churn_platform.app.promotion import approve_challenger
from churn_platform.defs.resources import MlflowResource, NotifierResource, WarehouseResource


class PromotionConfig(Config):
    """Who approves which version, and why (recorded in alias_history)."""

    version: int
    approver: str
    reason: str = "approved in Dagster"


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
    approve_challenger(
        registry,
        config.version,
        approver=config.approver,
        reason=config.reason,
        notifier=notifier.notifier(),
    )
    context.log.info("%s v%d promoted by %s", registry.model_name, config.version, config.approver)


@job(description="Promote the challenger to production. Config names the approver.")
def promote_model_job() -> None:
    promote_challenger()
