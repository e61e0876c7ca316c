"""Jobs: weekly scoring (features → scores → monitoring) and training."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from churn_platform.defs.partitions import weekly_partitions

SCORING_ASSETS = AssetSelection.assets(
    "customer_features",
    "churn_scores",
    "churn_labels",
    "delayed_evaluation",
    "feature_drift",
    "score_drift",
    "performance_estimate",
    "segment_monitoring",
    "retention_list",
)
TRAINING_ASSETS = AssetSelection.assets("training_dataset", "churn_model")

weekly_scoring_job = define_asset_job(
    "weekly_scoring_job",
    selection=SCORING_ASSETS,
    partitions_def=weekly_partitions,
    description="Load, validate and score the week's customers with the production model, then "
    "run the monitors (delayed C-index, feature and score drift). Launch a range of partitions "
    "from the UI to backfill past weeks.",
    tags={"churn/job": "scoring"},
)

training_job = define_asset_job(
    "training_job",
    selection=TRAINING_ASSETS,
    description="Build the training set, train XGBoost Cox + lifelines baseline, register the "
    "version and make it the challenger if it passes the validation gate.",
    tags={"churn/job": "training"},
)
