"""``churn_scores``: every active customer scored with the production model, written to the
``predictions`` table with lineage. Re-running a week replaces that week atomically."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

import churn_platform
from churn_platform.app.scoring import DEFAULT_CHUNK_ROWS, score_week
from churn_platform.defs.partitions import week_of, weekly_partitions
from churn_platform.defs.resources import DataSourceResource, MlflowResource, WarehouseResource
from churn_platform.errors import DataContractError, ModelNotFoundError
from churn_platform.settings import get_settings
from churn_platform.viz.plots import (
    histogram_png,
    markdown_table,
    png_markdown,
    readable_drivers,
)


class ScoringConfig(Config):
    """Tuning knobs of the weekly scoring run."""

    chunk_rows: int = DEFAULT_CHUNK_ROWS  # rows per scoring/COPY batch: bounds memory
    top_drivers: int = 3  # per-customer risk drivers to store (0 = skip, faster)


def code_version() -> str:
    """Package version plus the git sha CI bakes into the image (CHURN_CODE_VERSION)."""
    sha = get_settings().code_sha
    return f"{churn_platform.__version__}+{sha}" if sha else churn_platform.__version__


@asset(
    partitions_def=weekly_partitions,
    deps=[AssetKey("churn_model")],
    group_name="scoring",
    code_version="1",
    kinds={"postgres", "mlflow"},
    retry_policy=RetryPolicy(max_retries=2, delay=5),
)
def churn_scores(
    context: AssetExecutionContext,
    config: ScoringConfig,
    customer_features: pd.DataFrame,
    data_source: DataSourceResource,
    mlflow_resource: MlflowResource,
    warehouse: WarehouseResource,
) -> MaterializeResult:
    """Risk score, P(churn within each horizon), rank/decile and top drivers per customer,
    from ``models:/<name>@production``; rows carry model name, version, run id, feature
    snapshot id, Dagster run id and code version. The week's previous rows are replaced in
    one transaction: readers see either the old week or the new one, never a mix or a gap."""
    week = week_of(context.partition_key)
    try:
        scored = score_week(
            week,
            customer_features,
            data_source.contract(),
            registry=mlflow_resource.registry(),
            repo=warehouse.predictions(),
            run_id=context.run_id,
            code_version=code_version(),
            chunk_rows=config.chunk_rows,
            top_drivers=config.top_drivers,
            log=context.log,
        )
    # retrying cannot help: a human must promote a model / the same input fails again
    except (ModelNotFoundError, DataContractError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    lineage, summary = scored.lineage, scored.summary
    top = warehouse.predictions().top_ranked(
        week,
        lineage.model_name,
        10,
        ["customer_id", "risk_score", "risk_rank", "risk_decile", "top_drivers"],
    )
    # drivers as people read them: feature, direction, log hazard-ratio contribution
    top = top.assign(
        risk_score=top["risk_score"].round(3),
        top_drivers=[readable_drivers(d) for d in top["top_drivers"]],
    )
    hist = histogram_png(
        summary["risk_score"].to_numpy(), f"Risk scores {week}", "hazard ratio", log_x=True
    )
    return MaterializeResult(
        metadata={
            "rows_written": scored.rows_written,
            "model_name": lineage.model_name,
            "model_version": lineage.model_version,
            "model_run_id": lineage.model_run_id,
            "feature_snapshot_id": lineage.feature_snapshot_id,
            "mean_risk_score": round(float(summary["risk_score"].mean()), 4),
            "score_histogram": MetadataValue.md(png_markdown(hist, "risk score histogram")),
            # drivers: log hazard-ratio contribution of each feature for that customer
            "top_10_riskiest": MetadataValue.md(markdown_table(top, floatfmt=".3f")),
        }
    )
