"""The weekly scoring job: features → scores → monitors → insights, one partition per week.

Its steps run in the run's own process (``in_process_executor``): each step is a thin adapter
over one use case, and a process per step would re-import MLflow, XGBoost and pandas (seconds
each) for no parallelism worth having. Scale-out is ``sharded_scoring_job``'s job.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

from churn_platform.defs.partitions import weekly_partitions

WEEKLY_ASSETS: tuple[str, ...] = (
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
"""Every asset a week's run materializes, in order: the one list (job, loop driver, demo)."""

weekly_scoring_job = define_asset_job(
    "weekly_scoring_job",
    selection=AssetSelection.assets(*WEEKLY_ASSETS),
    partitions_def=weekly_partitions,
    description="Load, validate and score the week's customers with the production model, then "
    "run the monitors (delayed C-index, feature and score drift). Launch a range of partitions "
    "from the UI to backfill past weeks.",
    tags={"churn/job": "scoring"},
    executor_def=in_process_executor,
)
