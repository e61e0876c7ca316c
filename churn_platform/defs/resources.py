"""Dagster resources: the database, MLflow, the artifact store and the customer data source.

Built in one place, :func:`build_resources`, from a :class:`~churn_platform.settings.Settings`
(Definitions, the demo, the CLI and the tests all use it). Connection settings arrive resolved:
resource accessors never start a server or read the environment; the entry points call
:func:`churn_platform.runtime.bootstrap` first (it starts the embedded PostgreSQL when nothing
is configured). Secret-bearing fields are ``EnvVar`` references in Definitions, so their values
never show in the UI.

The warehouse holds one bounded pool per process (``pool_size + max_overflow`` connections),
opened on first use and closed at the end of every run (``teardown_after_execution``) and at
process exit.
"""

import functools
from datetime import date
from typing import Any

import pandas as pd
from dagster import ConfigurableResource, EnvVar, InitResourceContext

from churn_platform.domain.datasource import CustomerDataSource, SimulatorSource
from churn_platform.domain.drift import DriftThresholds
from churn_platform.domain.policy import PolicyConfig
from churn_platform.domain.schema import DEFAULT_HORIZONS, FeatureContract
from churn_platform.domain.simulator import CustomerSimulator, SimulatorConfig
from churn_platform.errors import StorageError
from churn_platform.io.artifacts import ArtifactStore
from churn_platform.io.db import MAX_OVERFLOW, POOL_SIZE, Database, database_for, ensure_schema
from churn_platform.io.insights_store import InsightsStore
from churn_platform.io.ledger import RetrainLedger
from churn_platform.io.notify import LogNotifier, Notifier, SlackWebhookNotifier
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.reference_cache import ReferenceDiskCache
from churn_platform.io.registry import ModelRegistry
from churn_platform.io.results import AliasHistory, CustomerKeys, DriftStore, EvaluationStore
from churn_platform.io.sharding import shard_slice
from churn_platform.settings import Settings

_SCHEMA_READY: set[tuple[str, str, tuple[int, ...]]] = set()

_NOT_BOOTSTRAPPED = (
    "{what} is not configured. Set {env}, or start through an entry point (`churn-platform "
    "demo`, `churn-platform dev`, the CLI commands), which starts the embedded PostgreSQL "
    "when nothing is configured (churn_platform.runtime.bootstrap)."
)


class WarehouseResource(ConfigurableResource):
    """The PostgreSQL database holding predictions, evaluations, drift results, alias history."""

    database_url: str | None = None
    db_schema: str = "churn"
    horizons: list[int] = list(DEFAULT_HORIZONS)  # noqa: RUF012 - pydantic field default
    pool_size: int = POOL_SIZE
    max_overflow: int = MAX_OVERFLOW

    def url(self) -> str:
        if not self.database_url:
            raise StorageError(
                _NOT_BOOTSTRAPPED.format(what="The application database", env="DATABASE_URL")
            )
        return self.database_url

    def database(self) -> Database:
        """The process's one bounded pool for this database (opened on first use)."""
        return database_for(self.url(), pool_size=self.pool_size, max_overflow=self.max_overflow)

    def setup(self) -> Database:
        """Create the schema and tables if missing (idempotent, once per process); returns
        the database."""
        db = self.database()
        key = (db.url, self.db_schema, tuple(self.horizons))
        if key not in _SCHEMA_READY:
            ensure_schema(db.engine, self.db_schema, self.horizons)
            _SCHEMA_READY.add(key)
        return db

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Close this process's pool at the end of the run (the next run reopens it)."""
        if self.database_url:
            self.database().dispose()

    def predictions(self) -> PredictionsRepository:
        return PredictionsRepository(self.setup(), self.db_schema, self.horizons)

    def evaluations(self) -> EvaluationStore:
        return EvaluationStore(self.setup(), self.db_schema)

    def drift(self) -> DriftStore:
        return DriftStore(self.setup(), self.db_schema)

    def customer_keys(self) -> CustomerKeys:
        return CustomerKeys(self.setup(), self.db_schema)

    def alias_history(self) -> AliasHistory:
        return AliasHistory(self.setup(), self.db_schema)

    def insights(self) -> InsightsStore:
        return InsightsStore(self.setup(), self.db_schema)

    def retrain_ledger(self) -> RetrainLedger:
        return RetrainLedger(self.setup(), self.db_schema)


class MlflowResource(ConfigurableResource):
    """MLflow tracking + model registry (``models:/<name>@production``)."""

    tracking_uri: str | None = None
    model_name: str = "churn_model"
    experiment_name: str = "churn_platform"
    artifact_location: str | None = None
    #: Local folder where training references are kept once downloaded (shared by the step
    #: processes of this machine); None reads them from MLflow every time.
    reference_cache_dir: str | None = None

    def resolved_tracking_uri(self) -> str:
        if not self.tracking_uri:
            raise StorageError(
                _NOT_BOOTSTRAPPED.format(
                    what="The MLflow tracking store", env="MLFLOW_TRACKING_URI"
                )
            )
        return self.tracking_uri

    def registry(self, warehouse: WarehouseResource | None = None) -> ModelRegistry:
        return ModelRegistry(
            self.model_name,
            tracking_uri=self.resolved_tracking_uri(),
            experiment_name=self.experiment_name,
            artifact_location=self.artifact_location,
            alias_history=warehouse.alias_history() if warehouse is not None else None,
            reference_cache=(
                ReferenceDiskCache(self.reference_cache_dir) if self.reference_cache_dir else None
            ),
        )


class ArtifactStoreResource(ConfigurableResource):
    """Where reports and snapshots go: a local folder or ``s3://bucket/prefix``."""

    root: str | None = None

    def store(self) -> ArtifactStore:
        if not self.root:
            raise StorageError(
                _NOT_BOOTSTRAPPED.format(what="The artifact store", env="CHURN_ARTIFACT_ROOT")
            )
        return ArtifactStore.from_uri(self.root)


class MonitoringResource(ConfigurableResource):
    """Thresholds of the weekly monitors and of the retraining policy (all configurable).

    With 1M customers a KS test flags a 0.02-sigma shift at p~1e-24, so a breach needs both a
    small p-value AND an effect size (KS D or PSI) that matters to the business.
    """

    label_lag_weeks: int = 13  # evaluate predictions once ~3 months of outcomes are known
    alpha: float = 0.01
    min_ks: float = 0.1
    min_psi: float = 0.2
    c_index_threshold: float = 0.75
    c_index_consecutive: int = 2
    drift_consecutive: int = 1
    cooldown_weeks: int = 4
    drift_learn_weeks: int = 0  # wait this long after a drift began before retraining on it
    max_retrain_attempts: int = 3  # per breach
    report_sample_rows: int = 5_000  # Evidently renders on a bounded sample
    # Insight monitors (defs/insights/assets.py): segment columns to monitor one level (or
    # quantile band) at a time, the monthly revenue column behind revenue at risk, the size of
    # the weekly retention list, the |estimated - realised| C-index gap that fails the
    # performance-estimate check, and the smallest segment that is reported (not suppressed).
    segment_columns: list[str] = ["contract", "region", "tenure_days"]  # noqa: RUF012
    value_column: str | None = "monthly_charges"
    retention_top_n: int = 500
    estimate_gap_threshold: float = 0.05
    segment_min_size: int = 200
    # Calibration (WARN check on delayed_evaluation): the integrated calibration index (mean
    # |smoothed observed - predicted| churn probability, Austin et al. 2020) at any matured
    # horizon above this many probability points warns. 0.01 = one percentage point; a
    # calibrated model on 20k customers measures ~0.002 at 30 days.
    calibration_ici_threshold: float = 0.01
    # Early warning (WARN check on performance_estimate): churners observed so far in a cohort
    # inside the lag window vs the sum of its predicted probabilities over the same window;
    # warns when p < early_warning_alpha AND observed/expected is off by >= min_relative.
    early_warning_alpha: float = 0.01
    early_warning_min_relative: float = 0.2

    def thresholds(self) -> DriftThresholds:
        return DriftThresholds(alpha=self.alpha, min_ks=self.min_ks, min_psi=self.min_psi)

    def policy(self) -> PolicyConfig:
        return PolicyConfig(
            c_index_threshold=self.c_index_threshold,
            c_index_consecutive=self.c_index_consecutive,
            drift_consecutive=self.drift_consecutive,
            cooldown_weeks=self.cooldown_weeks,
            drift_learn_weeks=self.drift_learn_weeks,
            max_attempts=self.max_retrain_attempts,
        )


class NotifierResource(ConfigurableResource):
    """Slack incoming webhook (``SLACK_WEBHOOK_URL``); without one, notifications are logged."""

    webhook_url: str | None = None

    def notifier(self) -> Notifier:
        if self.webhook_url:
            return SlackWebhookNotifier(self.webhook_url)
        return LogNotifier()


@functools.lru_cache(maxsize=4)
def _simulator(config: SimulatorConfig) -> CustomerSimulator:
    return CustomerSimulator(config)


class DataSourceResource(ConfigurableResource):
    """Where customer snapshots and churn events come from; itself a ``CustomerDataSource``
    (every method delegates to :meth:`source`), so assets can take it as one.

    ``config_path`` points at a two-part data-source YAML (``snapshots`` + ``labels``: CSV,
    Parquet or PostgreSQL; docs/data-sources.md). Without it, the built-in simulator provides a
    realistic subscription base, with optional feature and concept drift from a given week.
    Both sit behind :class:`~churn_platform.domain.datasource.CustomerDataSource`.
    """

    config_path: str | None = None
    sim_customers: int = 20_000
    sim_seed: int = 0
    sim_start_week: str = "2025-01-06"
    sim_label_delay_weeks: int = 4
    sim_nonlinear: bool = True
    sim_feature_drift_week: str | None = None
    sim_concept_drift_week: str | None = None
    sim_cohorts: int = 1  # weekly cohorts a training set stacks by default (each censored)

    def simulator(self) -> CustomerSimulator:
        return _simulator(
            SimulatorConfig(
                n_customers=self.sim_customers,
                seed=self.sim_seed,
                start_week=date.fromisoformat(self.sim_start_week),
                label_delay_weeks=self.sim_label_delay_weeks,
                nonlinear=self.sim_nonlinear,
                feature_drift_week=_opt_date(self.sim_feature_drift_week),
                concept_drift_week=_opt_date(self.sim_concept_drift_week),
            )
        )

    def source(self) -> CustomerDataSource:
        """The data source behind this resource (simulator or configured)."""
        if self.config_path is None:
            return SimulatorSource(self.simulator(), n_cohorts=self.sim_cohorts)
        from churn_platform.io.configured_source import ConfiguredSource

        return ConfiguredSource.from_path(self.config_path)

    def describe(self) -> str:
        return self.source().describe()

    def contract(self) -> FeatureContract:
        return self.source().contract()

    def first_week(self) -> date:
        return self.source().first_week()

    def default_cohorts(self) -> int:
        return self.source().default_cohorts()

    def censor_date(self, as_of: date) -> date:
        return self.source().censor_date(as_of)

    def events(self, as_of: date) -> pd.DataFrame:
        return self.source().events(as_of)

    def features_for_week(self, week: date) -> pd.DataFrame:
        """Snapshot of the customers active on ``week`` (validated by the caller)."""
        return self.source().features_for_week(week)

    def features_for_shard(self, week: date, shard: int, shards: int) -> pd.DataFrame:
        """One shard's customers of ``week``: read as a slice where the source can push the
        shard filter down (``ConfiguredSource.features_for_shard``), else the week, sliced."""
        source = self.source()
        read_shard = getattr(source, "features_for_shard", None)
        if read_shard is not None:
            return read_shard(week, shard, shards)
        return shard_slice(source.features_for_week(week), "customer_id", shard, shards)

    def text_keys(self, week: date) -> pd.DataFrame | None:
        """Text customer ids of ``week`` and their keys (None: the source has integer ids)."""
        source = self.source()
        text_keys = getattr(source, "text_keys", None)
        if text_keys is None:
            return None
        keys: pd.DataFrame = text_keys(week)
        return keys if len(keys) else None

    def training_frame(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        """Features of the ``cohort_week`` base joined with outcomes known on ``as_of``."""
        return self.source().training_frame(cohort_week, as_of)

    def labels_for_cohort(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        """customer_id, duration_days, event for the base of ``cohort_week`` as known on as_of."""
        return self.source().labels_for_cohort(cohort_week, as_of)


def _opt_date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def build_resources(
    settings: Settings | None = None, *, as_env_vars: bool = True, **overrides: Any
) -> dict[str, Any]:
    """The resource set of churn_platform, from settings (default: read from the environment).

    With ``as_env_vars`` (the default, for Definitions) the secret-bearing values that came
    from the environment are passed as ``EnvVar`` references that Dagster resolves at run time
    and never displays; False passes the values, for code that also uses the resources outside
    a run (the demo, the CLI, tests). ``overrides`` replace resources by key (e.g.
    ``data_source=DataSourceResource(...)``). Pass settings resolved by
    :func:`churn_platform.runtime.bootstrap` so the embedded defaults are filled in.
    """
    from churn_platform.defs.io_managers import ParquetSnapshotIOManager

    s = settings if settings is not None else Settings.from_env()

    def value(name: str, resolved: str | None) -> Any:
        if not resolved:
            return None
        if as_env_vars and name in s.from_environment:
            return EnvVar(name)
        return resolved

    artifacts = overrides.get("artifacts") or ArtifactStoreResource(
        root=value("CHURN_ARTIFACT_ROOT", s.artifact_root)
    )
    resources: dict[str, Any] = {
        "warehouse": WarehouseResource(
            database_url=value("DATABASE_URL", s.database_url),
            db_schema=s.db_schema,
            pool_size=s.db_pool_size,
            max_overflow=s.db_max_overflow,
        ),
        "mlflow_resource": MlflowResource(
            tracking_uri=value("MLFLOW_TRACKING_URI", s.mlflow_tracking_uri),
            model_name=s.model_name,
            artifact_location=value("CHURN_MLFLOW_ARTIFACT_ROOT", s.mlflow_artifact_root),
            reference_cache_dir=str(s.reference_cache_dir),
        ),
        "artifacts": artifacts,
        "data_source": DataSourceResource(config_path=value("CHURN_DATA_CONFIG", s.data_config)),
        "snapshot_io_manager": ParquetSnapshotIOManager(artifacts=artifacts),
        "monitoring": MonitoringResource(),
        "notifier": NotifierResource(webhook_url=value("SLACK_WEBHOOK_URL", s.slack_webhook_url)),
    }
    resources.update(overrides)
    return resources
