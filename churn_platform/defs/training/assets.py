"""``training_dataset`` and ``churn_model``: the training job as assets.

The training set is the customer base of a past week joined with what happened to each
customer until ``as_of`` (survival target: days observed, churned or still active). The model
asset trains XGBoost Cox + the lifelines baseline, logs and registers the version in MLflow and
gives it the ``challenger`` alias only if it passes the validation gate.
"""

from datetime import date, timedelta
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from churn_platform.app.model_card import MODEL_CARD_ARTIFACT
from churn_platform.app.retraining import monday, recorded_training, request_from_run_tags
from churn_platform.app.training import TrainOutcome, train_and_register
from churn_platform.app.training_data import stacked_training_frame
from churn_platform.defs.resources import (
    DataSourceResource,
    MlflowResource,
    NotifierResource,
    WarehouseResource,
)
from churn_platform.domain.datasource import CohortPlan
from churn_platform.model.train import TrainConfig
from churn_platform.viz.plots import markdown_table


class TrainingWindow(Config):
    """Which history to learn from."""

    as_of_week: str | None = None  # default: the Monday of the current week
    label_window_weeks: int = 26  # oldest cohort: week (as_of - window), followed until as_of
    # Cohorts stacked (customer x snapshot week), every cohort_spacing_weeks from the oldest,
    # each censored at as_of; None = the data source's default (docs/data-sources.md).
    n_cohorts: int | None = None
    cohort_spacing_weeks: int = 4
    reason: str = "manual"


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


@asset(
    io_manager_key="snapshot_io_manager",
    group_name="training",
    code_version="1",
    kinds={"pandas"},
)
def training_dataset(
    context: AssetExecutionContext, config: TrainingWindow, data_source: DataSourceResource
) -> Output:
    """Features of past weeks' bases with the churn outcomes observed since (censored when
    the customer is still active or the churn is not yet known), several cohorts stacked."""
    as_of = date.fromisoformat(config.as_of_week) if config.as_of_week else _monday(date.today())
    plan = CohortPlan(
        window_weeks=config.label_window_weeks,
        n_cohorts=config.n_cohorts or data_source.default_cohorts(),
        spacing_weeks=config.cohort_spacing_weeks,
    )
    frame, cohorts = stacked_training_frame(data_source, as_of, plan)
    contract = data_source.contract()
    n_events = int(frame[contract.event_column].sum())
    context.log.info(
        "cohorts %s followed to %s: %d rows, %d events",
        ", ".join(map(str, cohorts)),
        as_of,
        len(frame),
        n_events,
    )
    return Output(
        frame,
        metadata={
            "rows": len(frame),
            "events": n_events,
            "cohort_week": str(cohorts[0]),
            "cohort_weeks": ", ".join(map(str, cohorts)),
            "as_of_week": str(as_of),
            "event_rate": float(n_events / max(len(frame), 1)),
        },
    )


class ModelConfig(Config):
    """``reference_week``: population the drift monitors of this version compare against
    (default: the training rows)."""

    reference_week: str | None = None


@asset(group_name="training", code_version="1", kinds={"xgboost", "mlflow"})
def churn_model(
    context: AssetExecutionContext,
    config: ModelConfig,
    training_dataset: pd.DataFrame,
    data_source: DataSourceResource,
    mlflow_resource: MlflowResource,
    warehouse: WarehouseResource,
    notifier: NotifierResource,
) -> MaterializeResult:
    """A new model version in the MLflow registry; ``challenger`` if it passed the gate.

    Promotion to ``production`` is a human decision (``churn-platform promote`` or the
    ``promote_model_job``), never automatic."""
    registry = mlflow_resource.registry(warehouse)
    reference = None
    if config.reference_week:
        reference = data_source.contract().validate(
            data_source.features_for_week(date.fromisoformat(config.reference_week))
        )
    reason = context.run.tags.get("churn/retrain_reason", "manual")

    def progress(iteration: int, loss: float) -> None:
        if iteration % 100 == 0:
            context.log.info("boosting round %d, validation cox-nloglik %.5f", iteration, loss)

    window = context.instance.get_latest_materialization_event(AssetKey("training_dataset"))
    mat = window.asset_materialization if window is not None else None
    as_of = (
        date.fromisoformat(str(mat.metadata["as_of_week"].value))
        if mat is not None and "as_of_week" in mat.metadata
        else monday(date.today())
    )
    request = request_from_run_tags(context.run.tags, context.run_id, as_of, reason)

    def train() -> TrainOutcome:
        return train_and_register(
            training_dataset,
            data_source.contract(),
            registry,
            config=TrainConfig(horizons=tuple(warehouse.horizons)),
            changed_by=f"dagster run {context.run_id[:8]}",
            tags={"dagster.run_id": context.run_id, "churn.retrain_reason": reason},
            progress=progress,
            reference_features=reference,
            notifier=notifier.notifier(),
            training_window={k: str(mat.metadata[k].value) for k in ("cohort_week", "as_of_week")}
            if mat is not None and "as_of_week" in mat.metadata
            else None,
            drift=warehouse.drift().read(kind="feature"),
        )

    # recorded in the retrain ledger (sensor, schedule or manual): it counts for the cooldown
    outcome = recorded_training(
        warehouse.retrain_ledger(),
        registry.model_name,
        request,
        train,
        lambda o: o.version,
        dagster_run_id=context.run_id,
    )
    if outcome.notification_problem is not None:  # the model is committed all the same
        context.log.warning(
            f"challenger notification not delivered: {outcome.notification_problem}"
        )
    metadata = training_metadata(registry.model_name, outcome)
    # links that open in the MLflow UI, whatever the artifact store (no file:// or s3:// links)
    metadata["mlflow_run"] = MetadataValue.url(registry.run_url(outcome.run_id))
    metadata["mlflow_model_version"] = MetadataValue.url(
        registry.model_version_url(outcome.version)
    )
    if outcome.model_card_uri is not None:
        metadata["model_card"] = MetadataValue.url(
            registry.artifact_page_url(outcome.run_id, MODEL_CARD_ARTIFACT)
        )
    return MaterializeResult(metadata=metadata)


def training_metadata(model_name: str, outcome: TrainOutcome) -> dict[str, Any]:
    """What the Dagster UI shows for a training run: version, gate, holdout metrics, card."""
    table = markdown_table(
        pd.DataFrame(
            [
                {"model": n, "c_index": e.c_index, "uno_c": e.uno_c, "ibs": e.ibs}
                for n, e in outcome.result.evaluations.items()
            ]
        )
    )
    metadata: dict[str, Any] = {
        "model_name": model_name,
        "model_version": outcome.version,
        "mlflow_run_id": outcome.run_id,
        "challenger": outcome.became_challenger,
        "gate": MetadataValue.md("\n".join(f"- {r}" for r in outcome.gate.reasons)),
        "holdout_metrics": MetadataValue.md(table),
        "c_index": outcome.result.evaluations["xgboost_cox"].c_index,
        "n_train": outcome.result.n_train,
    }
    if outcome.became_challenger:
        problem = outcome.notification_problem
        metadata["notification"] = "sent" if problem is None else f"FAILED: {problem}"
    if outcome.model_card_uri is not None:
        metadata["model_card"] = MetadataValue.url(outcome.model_card_uri)
    return metadata
