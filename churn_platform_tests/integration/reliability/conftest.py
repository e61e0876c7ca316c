"""Shared pieces of the reliability suite: one trained + promoted model per module, the state of
every table (to prove that a failure changed nothing) and helpers that run assets through
Dagster and surface the domain error that stopped them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from dagster import DagsterInstance

from churn_platform_tests.support.dagster import ALL_ASSETS, WEEK, make_resources, score, train
from churn_platform_tests.support.reliability import (
    Env,
    root_error,
    run_assets,
    table_state,
)

__all__ = ["ALL_ASSETS", "WEEK", "Env", "root_error", "run_assets", "table_state"]


@pytest.fixture(scope="module")
def env(
    pg_url: str, mlflow_tracking_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    """A trained, promoted model and a scored week, shared by a module's tests."""
    tag = uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp(f"reliability_{tag}")
    schema, model_name = f"rel_{tag}", f"rel_{tag}"
    resources = make_resources(
        pg_url, mlflow_tracking_uri, tmp, schema=schema, model_name=model_name
    )
    with DagsterInstance.ephemeral() as instance:
        version = train(resources, instance)
        resources["mlflow_resource"].registry(resources["warehouse"]).promote(
            version, approver="reliability", reason="reliability suite"
        )
        assert score(resources, instance).success
        yield Env(resources, instance, pg_url, schema, model_name, version, tmp)
