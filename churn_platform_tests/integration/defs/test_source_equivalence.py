"""Equivalence: the simulator exported to snapshot + event files, and to PostgreSQL tables,
replayed through the configured source gives the same predictions checksum and the same
delayed C-index as the simulator path (same model, same weeks, through the Dagster assets)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterInstance, materialize

from churn_platform.app.training_data import stacked_training_frame
from churn_platform.defs.features.assets import customer_features
from churn_platform.defs.monitoring.assets import churn_labels, delayed_evaluation
from churn_platform.defs.resources import DataSourceResource, MonitoringResource
from churn_platform.defs.scoring.assets import churn_scores
from churn_platform.defs.training.assets import churn_model, training_dataset
from churn_platform.domain.datasource import CohortPlan, export_tables
from churn_platform.entry.loop import QUIET

ASSETS = [
    customer_features,
    training_dataset,
    churn_model,
    churn_scores,
    churn_labels,
    delayed_evaluation,
]
START = date(2025, 1, 6)
AS_OF = date(2025, 4, 7)  # training as of week 13
SCORED = [date(2025, 4, 7) + timedelta(weeks=i) for i in range(5)]
LAG = 3  # delayed evaluation 3 weeks after scoring
DELAY = 1  # a churn is known one week after it happens


def replay(resources: dict[str, Any], instance: DagsterInstance) -> tuple[list[str], list[float]]:
    """Score SCORED and evaluate the matured cohorts; checksums and delayed C-indexes."""
    repo = resources["warehouse"].predictions()
    model = resources["mlflow_resource"].model_name
    sums = []
    for week in SCORED:
        result = materialize(
            ASSETS,
            selection=["customer_features", "churn_scores", "churn_labels", "delayed_evaluation"],
            partition_key=week.isoformat(),
            resources=resources,
            instance=instance,
            run_config=QUIET,
        )
        assert result.success
        sums.append(repo.checksum_week(week, model))
    evals = resources["warehouse"].evaluations().read(model)
    return sums, [round(float(c), 12) for c in evals["c_index"]]


@pytest.fixture
def sim_resources(resources: dict[str, Any]) -> dict[str, Any]:
    return {
        **resources,
        "data_source": DataSourceResource(
            sim_customers=2_000, sim_seed=11, sim_label_delay_weeks=DELAY
        ),
        "monitoring": MonitoringResource(label_lag_weeks=LAG),
    }


@pytest.fixture
def exported(sim_resources: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    source = sim_resources["data_source"].source()
    weeks = [START + timedelta(weeks=i) for i in range((SCORED[-1] - START).days // 7 + 1)]
    return export_tables(source, weeks)


def config(folder: Path, snapshots: dict[str, Any], labels: dict[str, Any]) -> str:
    doc = {
        "snapshots": {"week_column": "snapshot_week", "id": "customer_id", **snapshots},
        "labels": {
            "id": "customer_id",
            "churned_on": "churned_on",
            "delay_days": 7 * DELAY,
            **labels,
        },
        "training": {"cohorts": 1},
    }
    path = folder / "source.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture
def pg_config(
    pg_url: str, exported: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    snaps, events = exported
    engine = sa.create_engine(pg_url)
    tag = tmp_path.name[-12:].replace("-", "_").lower()
    snap_table, event_table = f"eq_snaps_{tag}", f"eq_events_{tag}"
    snaps.assign(snapshot_week=pd.to_datetime(snaps["snapshot_week"]).dt.date).to_sql(
        snap_table, engine, index=False
    )
    events.assign(churned_on=pd.to_datetime(events["churned_on"]).dt.date).to_sql(
        event_table, engine, index=False
    )
    monkeypatch.setenv("EQ_SOURCE_URL", pg_url)
    (tmp_path / "pg").mkdir()
    yield config(
        tmp_path / "pg",
        {"kind": "postgres", "table": snap_table, "url_env": "EQ_SOURCE_URL"},
        {"kind": "postgres", "table": event_table, "url_env": "EQ_SOURCE_URL"},
    )
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{snap_table}", "{event_table}"'))
    engine.dispose()


@pytest.mark.slow
def test_files_and_postgres_replay_like_the_simulator(
    sim_resources: dict[str, Any], exported: Any, pg_config: str, tmp_path: Path
) -> None:
    snaps, events = exported
    (tmp_path / "files").mkdir()
    snaps.to_parquet(tmp_path / "files" / "snapshots.parquet")
    events.to_csv(tmp_path / "files" / "events.csv", index=False)
    file_config = config(
        tmp_path / "files",
        {"kind": "parquet", "path": "snapshots.parquet"},
        {"kind": "csv", "path": "events.csv"},
    )
    sim_source = sim_resources["data_source"]
    plan = CohortPlan(window_weeks=12, n_cohorts=3, spacing_weeks=4)
    want_train, _ = stacked_training_frame(sim_source, AS_OF, plan)

    with DagsterInstance.ephemeral() as instance:
        trained = materialize(
            ASSETS,
            selection=["training_dataset", "churn_model"],
            resources=sim_resources,
            instance=instance,
            run_config={
                **QUIET,
                "ops": {"training_dataset": {"config": {"as_of_week": AS_OF.isoformat()}}},
            },
        )
        version = int(
            trained.asset_materializations_for_node("churn_model")[0]
            .metadata["model_version"]
            .value
        )
        registry = sim_resources["mlflow_resource"].registry(sim_resources["warehouse"])
        registry.promote(version, approver="tester", reason="equivalence test")

        sim_sums, sim_c = replay(sim_resources, instance)
        assert len(sim_c) == len(SCORED) - LAG and all(0.0 < c < 1.0 for c in sim_c), sim_c
        for path in (file_config, pg_config):
            source = DataSourceResource(config_path=path)
            got_train, _ = stacked_training_frame(source, AS_OF, plan)
            pd.testing.assert_frame_equal(got_train, want_train, check_categorical=False)
            sums, c_index = replay({**sim_resources, "data_source": source}, instance)
            assert sums == sim_sums, path
            assert c_index == sim_c, path
