"""IO manager storing DataFrame assets as Parquet in the artifact store (folder or S3).

Feature snapshots and training sets are then plain Parquet files people can open, one per
weekly partition: ``<root>/assets/<asset>/<partition>.parquet``.
"""

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext, ResourceDependency

from churn_platform.defs.resources import ArtifactStoreResource


class ParquetSnapshotIOManager(ConfigurableIOManager):
    artifacts: ResourceDependency[ArtifactStoreResource]

    def _key(self, context: OutputContext | InputContext) -> str:
        asset = "/".join(context.asset_key.path)
        part = context.partition_key if context.has_partition_key else "latest"
        return f"assets/{asset}/{part}.parquet"

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        uri = self.artifacts.store().put_frame(self._key(context), obj)
        context.add_output_metadata({"path": uri})

    def load_input(self, context: InputContext) -> pd.DataFrame:
        return self.artifacts.store().get_frame(self._key(context))
