"""promote/reject/rollback as Dagster jobs: committed steps survive a Slack outage; bad
approver text fails the run before anything changed."""

from __future__ import annotations

from typing import Any

from churn_platform.app import promotion
from churn_platform.app.promotion import ledger_of
from churn_platform.defs.promotion import promote_model_job, reject_model_job, rollback_model_job
from churn_platform.defs.resources import NotifierResource
from churn_platform.io.registry import CHALLENGER, PRODUCTION
from churn_platform_tests.support.lifecycle import new_version


def _run(job: Any, resources: dict[str, Any], op: str, config: dict[str, Any]) -> Any:
    needed = {k: resources[k] for k in ("mlflow_resource", "warehouse", "notifier")}
    return job.execute_in_process(
        run_config={"ops": {op: {"config": config}}}, resources=needed, raise_on_error=False
    )


def test_lifecycle_jobs_commit_even_when_slack_is_down(resources: dict[str, Any]) -> None:
    resources["notifier"] = NotifierResource(webhook_url="http://127.0.0.1:9/hooks/down")
    registry = resources["mlflow_resource"].registry(resources["warehouse"])
    v1, v2 = new_version(registry), new_version(registry)
    promotion.nominate(registry, v1, actor="gate", reason="passed")
    ok = _run(
        promote_model_job,
        resources,
        "promote_challenger",
        {"version": v1, "approver": "alice", "reason": "first"},
    )
    assert ok.success
    promotion.nominate(registry, v2, actor="gate", reason="passed")

    nul = _run(
        promote_model_job,
        resources,
        "promote_challenger",
        {"version": v2, "approver": "al\x00ice", "reason": "x"},
    )
    assert not nul.success
    assert registry.aliases() == {PRODUCTION: v1, CHALLENGER: v2}  # nothing moved

    assert _run(
        promote_model_job,
        resources,
        "promote_challenger",
        {"version": v2, "approver": "[/bold]", "reason": "better"},
    ).success
    assert _run(
        rollback_model_job, resources, "rollback_production", {"approver": "bob", "reason": "r"}
    ).success
    assert registry.aliases() == {PRODUCTION: v1}
    assert _run(
        reject_model_job,
        resources,
        "reject_version",
        {"version": v2, "approver": "bob", "reason": "post-mortem"},
    ).success
    states = ledger_of(registry).current_states(registry.model_name)
    assert states == {v1: "production", v2: "rejected"}
    refused = _run(
        reject_model_job,
        resources,
        "reject_version",
        {"version": v1, "approver": "bob", "reason": "no"},
    )
    assert not refused.success
    assert ledger_of(registry).current_states(registry.model_name) == states
