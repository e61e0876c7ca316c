"""The training job: training set → model version (challenger if it passes the gate).

Its two steps run in the run's own process (``in_process_executor``): a process per step would
re-import MLflow and XGBoost for no parallelism (the model needs the training set).
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

TRAINING_ASSETS: tuple[str, ...] = ("training_dataset", "churn_model")

training_job = define_asset_job(
    "training_job",
    selection=AssetSelection.assets(*TRAINING_ASSETS),
    description="Build the training set, train XGBoost Cox + lifelines baseline, register the "
    "version and make it the challenger if it passes the validation gate.",
    tags={"churn/job": "training"},
    executor_def=in_process_executor,
)
