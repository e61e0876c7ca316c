"""The reliability harness: one environment (resources + instance), table state
snapshots, asset runs that return the root error, and the training run selection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dagster import DagsterInstance, Failure, materialize
from dagster._core.errors import DagsterExecutionStepExecutionError
from mlflow.tracking import MlflowClient

from churn_platform.io.predictions import PredictionsRepository
from churn_platform_tests.support.dagster import ALL_ASSETS, WEEK


@dataclass
class Env:
    """A schema with a promoted model and one scored week (``WEEK``)."""

    resources: dict[str, Any]
    instance: DagsterInstance
    pg_url: str
    schema: str
    model_name: str
    version: int
    tmp: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def week(self) -> date:
        return date.fromisoformat(WEEK)

    def repo(self) -> PredictionsRepository:
        return PredictionsRepository(self.pg_url, self.schema)


def table_state(env: Env) -> dict[str, Any]:
    """Row count and content hash of every table in the schema, plus the MLflow registry state
    of the model (versions and aliases): equal before and after ⇔ nothing was written."""
    engine = sa.create_engine(env.pg_url)
    state: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = :s ORDER BY table_name"
                ),
                {"s": env.schema},
            ).scalars()
            quote = conn.dialect.identifier_preparer.quote
            for name in list(tables):
                # The retrain ledger is an audit log: a refused training attempt is recorded
                # there as a failure (it counts towards the attempt cap); everything else in it
                # must stay unchanged.
                audit = " WHERE t.status <> 'failure'" if name == "retrain_ledger" else ""
                row = conn.execute(
                    sa.text(
                        "SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) "
                        f"FROM {quote(env.schema)}.{quote(name)} AS t{audit}"
                    )
                ).one()
                state[name] = tuple(row)
    finally:
        engine.dispose()
    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{env.model_name}'")
    state["mlflow_versions"] = sorted(int(v.version) for v in versions)
    state["mlflow_aliases"] = sorted(client.get_registered_model(env.model_name).aliases.items())
    return state


def root_error(exc: BaseException) -> BaseException:
    """The user-code exception behind Dagster's wrappers (``Failure`` keeps it as __cause__)."""
    while True:
        if isinstance(exc, DagsterExecutionStepExecutionError) and exc.user_exception:
            exc = exc.user_exception
        elif isinstance(exc, Failure) and exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            return exc


def run_assets(
    env: Env,
    selection: list[str],
    *,
    partition_key: str | None = WEEK,
    run_config: dict[str, Any] | None = None,
    **overrides: Any,
) -> Any:
    """Materialize ``selection`` with the env's resources (some overridden); on failure raise
    the domain error the asset raised, as the operator would read it in the run."""
    try:
        return materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key=partition_key,
            resources={**env.resources, **overrides},
            instance=env.instance,
            run_config=run_config,
        )
    except (DagsterExecutionStepExecutionError, Failure) as exc:
        raise root_error(exc) from None


def error_chain(info: Any) -> list[str]:
    """Class names along a SerializableErrorInfo's cause chain (outermost first)."""
    names = []
    while info is not None:
        names.append(info.cls_name)
        info = info.cause
    return names


TRAIN = ["training_dataset", "churn_model"]


TRAIN_CONFIG = {"ops": {"training_dataset": {"config": {"as_of_week": "2025-07-07"}}}}
