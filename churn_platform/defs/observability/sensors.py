"""Alert (Slack, critical) when any churn_platform run fails."""

from dagster import RunFailureSensorContext, run_failure_sensor

from churn_platform.defs.automation import sensor_status
from churn_platform.defs.resources import NotifierResource
from churn_platform.io.notify import Notification


@run_failure_sensor(
    default_status=sensor_status(),
    description="Critical alert (Slack) when any churn_platform run fails.",
)
def run_failure_alert(context: RunFailureSensorContext, notifier: NotifierResource) -> None:
    run = context.dagster_run
    notifier.notifier().send(
        Notification(
            title=f"Run failed: {run.job_name}",
            text=context.failure_event.message or "no message",
            severity="critical",
            fields={"run_id": run.run_id, "partition": run.tags.get("dagster/partition", "-")},
        )
    )
