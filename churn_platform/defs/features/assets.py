"""``customer_features``: the week's validated snapshot of every active customer."""

from dagster import AssetExecutionContext, MetadataValue, Output, asset

from churn_platform.app.scoring import snapshot_id
from churn_platform.defs.partitions import week_of, weekly_partitions
from churn_platform.defs.resources import DataSourceResource, WarehouseResource
from churn_platform.viz.plots import markdown_table


@asset(
    partitions_def=weekly_partitions,
    io_manager_key="snapshot_io_manager",
    group_name="scoring",
    code_version="1",
    kinds={"pandas", "parquet"},
)
def customer_features(
    context: AssetExecutionContext, data_source: DataSourceResource, warehouse: WarehouseResource
) -> Output:
    """Active customers on the partition's Monday with their features, checked against the
    feature contract (dtypes, ranges, categories, no NaN/inf, unique ids). A snapshot that
    breaks the contract fails here, before any model sees it, with every violation listed.
    Text customer ids are recorded with their keys in ``customer_keys`` once validated."""
    week = week_of(context.partition_key)
    contract = data_source.contract()
    raw = data_source.features_for_week(week)
    context.log.info("loaded %d rows for week %s from %s", len(raw), week, data_source.describe())
    features = contract.validate(raw, with_target=False)
    sid = snapshot_id(features)
    keys = data_source.text_keys(week)
    if keys is not None:
        new = warehouse.customer_keys().record(keys, week)
        context.log.info("customer_keys: %d text ids, %d new", len(keys), new)
    context.log.info("snapshot %s: %d customers validated", sid, len(features))
    return Output(
        features,
        metadata={
            "rows": len(features),
            "snapshot_id": sid,
            "week": str(week),
            "source": data_source.describe(),
            "preview": MetadataValue.md(markdown_table(features.head(5), max_rows=5)),
        },
    )
