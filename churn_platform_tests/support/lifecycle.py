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
