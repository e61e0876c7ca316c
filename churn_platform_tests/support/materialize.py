"""Materialize the training assets directly (asset tests that need a model, not the loop).

The weekly loop launches ``training_job`` through the instance (churn_platform.entry.loop);
asset-level tests that only need a trained model in a throwaway instance use this instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from dagster import AssetsDefinition, DagsterInstance, materialize

from churn_platform.entry.loop import QUIET, training_config


def train_run(
    assets: Sequence[AssetsDefinition],
    resources: dict[str, Any],
    instance: DagsterInstance,
    as_of: date,
    *,
    label_window_weeks: int,
    reason: str,
) -> dict[str, Any]:
    """Materialize training_dataset + churn_model; returns the churn_model metadata."""
    result = materialize(
        assets,
        selection=["training_dataset", "churn_model"],
        resources=resources,
        instance=instance,
        run_config={**QUIET, **training_config(as_of, reason, label_window_weeks)},
        tags={"churn/retrain_reason": reason},
    )
    mats = result.asset_materializations_for_node("churn_model")
    return {k: v.value for k, v in mats[0].metadata.items()} if mats else {}
