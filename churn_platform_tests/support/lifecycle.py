"""Registered model versions for lifecycle tests, without training a model.

The promotion lifecycle never loads a model, so a run with a holdout metric and a model URI tag
is enough for a real MLflow version; aliases, tags and the ledger stay fully real.
"""

from __future__ import annotations

from churn_platform.io.registry import MODEL_URI_TAG, ModelRegistry


def new_version(registry: ModelRegistry, c_index: float = 0.8) -> int:
    """Register a version whose run carries ``holdout.xgboost_cox.c_index``."""
    client = registry.client
    run = client.create_run(registry.experiment_id())
    client.log_metric(run.info.run_id, "holdout.xgboost_cox.c_index", c_index)
    client.set_tag(run.info.run_id, MODEL_URI_TAG, f"runs:/{run.info.run_id}/model")
    client.set_terminated(run.info.run_id)
    return registry.register(run.info.run_id)


def assert_lifecycle_consistent(registry: ModelRegistry) -> dict[int, str]:
    """The ledger's states, the MLflow aliases and the MLflow state/production tags agree.
    Returns the ledger's state per version."""
    from churn_platform.app.promotion import STATE_TAG, ledger_of

    recorded = ledger_of(registry).current_states(registry.model_name)
    aliases = registry.aliases()
    for v, state in recorded.items():
        tags = registry.version_tags(v)
        assert tags.get(STATE_TAG) == state, (v, state, tags)
        assert (aliases.get("production") == v) == (state == "production"), (v, state, aliases)
        assert (aliases.get("challenger") == v) == (state == "challenger"), (v, state, aliases)
        assert ("churn.production_by" in tags) == (state == "production"), (v, state, tags)
    return recorded
