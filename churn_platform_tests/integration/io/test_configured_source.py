"""The configured weekly source (snapshots + churn events) on real files and PostgreSQL.

The simulator is exported to files/tables; read back through the configured source it must give
the very same snapshots and labels as the simulator path. As-of discipline: a poisoned row of a
later week, or a later event, changes nothing read as of an earlier week. Source queries run
read-only with a statement timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from churn_platform.domain.datasource import SimulatorSource, export_tables
from churn_platform.domain.simulator import CustomerSimulator, SimulatorConfig
from churn_platform.errors import DataContractError, DataSourceConfigError, EmptyPartitionError
from churn_platform.io.configured_source import ConfiguredSource, load_weekly_config

W0 = date(2025, 1, 6)
WEEKS = [W0 + timedelta(weeks=i) for i in range(12)]
DELAY_WEEKS = 2


@pytest.fixture(scope="module")
def sim() -> SimulatorSource:
    cfg = SimulatorConfig(n_customers=600, seed=5, label_delay_weeks=DELAY_WEEKS)
    return SimulatorSource(CustomerSimulator(cfg))


@pytest.fixture(scope="module")
def tables(sim: SimulatorSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    return export_tables(sim, WEEKS)


def write_config(folder: Path, snapshots: dict[str, Any], labels: dict[str, Any]) -> Path:
    doc = {
        "snapshots": {"week_column": "snapshot_week", "id": "customer_id", **snapshots},
        "labels": {
            "id": "customer_id",
            "churned_on": "churned_on",
            "delay_days": 7 * DELAY_WEEKS,
            **labels,
        },
    }
    path = folder / "source.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def file_source(
    folder: Path, snaps: pd.DataFrame, events: pd.DataFrame, kind: str
) -> ConfiguredSource:
    if kind == "csv":
        snaps.to_csv(folder / "snapshots.csv", index=False)
        events.to_csv(folder / "events.csv", index=False)
    elif kind == "parquet":
        snaps.to_parquet(folder / "snapshots.parquet")
        events.to_parquet(folder / "events.parquet")
    else:  # one CSV file per week, the date in the name
        (folder / "weeks").mkdir()
        for week, part in snaps.groupby("snapshot_week"):
            part.to_csv(folder / "weeks" / f"snapshot_{week}.csv", index=False)
        events.to_csv(folder / "events.csv", index=False)
    ext = "parquet" if kind == "parquet" else "csv"
    path = "weeks/snapshot_*.csv" if kind == "glob" else f"snapshots.{ext}"
    cfg = write_config(folder, {"kind": ext, "path": path}, {"kind": ext, "path": f"events.{ext}"})
    return ConfiguredSource(load_weekly_config(cfg))


@pytest.mark.parametrize("kind", ["csv", "parquet", "glob"])
def test_files_read_back_as_the_simulator(
    tmp_path: Path, sim: SimulatorSource, tables: Any, kind: str
) -> None:
    source = file_source(tmp_path, *tables, kind)
    assert source.first_week() == W0
    assert source.weeks() == WEEKS
    assert source.contract().feature_names == sim.contract().feature_names
    week = WEEKS[6]
    got = source.features_for_week(week)
    want = sim.contract().validate(sim.features_for_week(week))
    pd.testing.assert_frame_equal(got, want, check_categorical=False)
    cohort, as_of = WEEKS[1], WEEKS[11]
    pd.testing.assert_frame_equal(
        source.labels_for_cohort(cohort, as_of), sim.labels_for_cohort(cohort, as_of)
    )


def test_a_poisoned_future_row_changes_nothing(tmp_path: Path, tables: Any) -> None:
    snaps, events = tables
    (tmp_path / "clean").mkdir()
    clean = file_source(tmp_path / "clean", snaps, events, "csv")
    week, as_of = WEEKS[3], WEEKS[8]
    poisoned_snaps = snaps.astype({"monthly_charges": object}).copy()
    future = poisoned_snaps["snapshot_week"] == WEEKS[10].isoformat()
    poisoned_snaps.loc[future.idxmax(), "monthly_charges"] = "n/a"  # a type change, later
    poisoned_snaps.loc[future.idxmax(), "contract"] = "lifetime"  # a new level, later
    cohort_ids = snaps.loc[snaps["snapshot_week"] == week.isoformat(), "customer_id"]
    survivor = int(cohort_ids.iloc[0])
    late_event = pd.DataFrame({"customer_id": [survivor], "churned_on": [WEEKS[10].isoformat()]})
    poisoned_events = pd.concat([events, late_event], ignore_index=True)
    (tmp_path / "poisoned").mkdir()
    poisoned = file_source(tmp_path / "poisoned", poisoned_snaps, poisoned_events, "csv")
    assert poisoned.contract() == clean.contract()
    pd.testing.assert_frame_equal(poisoned.features_for_week(week), clean.features_for_week(week))
    pd.testing.assert_frame_equal(
        poisoned.training_frame(week, as_of), clean.training_frame(week, as_of)
    )
    with pytest.raises(DataContractError, match="monthly_charges"):
        poisoned.features_for_week(WEEKS[10])  # the poisoned week itself is refused, named


def test_bad_events_and_weeks_are_named(tmp_path: Path, tables: Any) -> None:
    snaps, events = tables
    future = pd.DataFrame({"customer_id": [1], "churned_on": ["2100-01-01"]})
    source = file_source(tmp_path, snaps, pd.concat([events, future]), "csv")
    with pytest.raises(DataContractError, match="churn dates in the future"):
        source.events(WEEKS[5])
    with pytest.raises(EmptyPartitionError, match="week 2024-01-01 has no customer rows"):
        source.features_for_week(date(2024, 1, 1))


@pytest.mark.parametrize("kind", ["csv", "glob", "events"])
def test_a_csv_header_naming_a_column_twice_is_refused(
    tmp_path: Path, tables: Any, kind: str
) -> None:
    # pandas would read the second one as 'monthly_charges.1' and the mapping would take the
    # first: which value is scored would be an accident of column order.
    snaps, events = tables
    source = file_source(tmp_path, snaps, events, "glob" if kind == "glob" else "csv")
    if kind == "events":
        target = tmp_path / "events.csv"
        text = target.read_text().splitlines()
        text[0] += ",churned_on"
        target.write_text("\n".join(line + ("," if i else "") for i, line in enumerate(text)))
        call = lambda: source.events(WEEKS[5])  # noqa: E731
        dup = "'churned_on' (2 times)"
    else:
        files = sorted((tmp_path / "weeks").glob("*.csv")) if kind == "glob" else []
        target = files[2] if files else tmp_path / "snapshots.csv"
        frame = pd.read_csv(target)
        frame.insert(1, "monthly_charges", 0.0, allow_duplicates=True)
        frame.to_csv(target, index=False)
        call = lambda: source.features_for_week(WEEKS[2])  # noqa: E731
        dup = "'monthly_charges' (2 times)"
    with pytest.raises(DataSourceConfigError) as info:
        call()
    message = str(info.value)
    assert str(target) in message and "duplicate column name(s)" in message, message
    assert dup in message, message


def test_a_parquet_file_naming_a_column_twice_is_refused(tmp_path: Path, tables: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    snaps, events = tables
    source = file_source(tmp_path, snaps, events, "parquet")
    table = pa.Table.from_pandas(snaps, preserve_index=False)
    table = table.append_column("tenure_days", pa.array([1.0] * len(snaps)))
    pq.write_table(table, tmp_path / "snapshots.parquet")
    with pytest.raises(DataSourceConfigError, match=r"duplicate column name\(s\) 'tenure_days'"):
        source.features_for_week(WEEKS[2])


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture()
def pg_tables(
    pg_url: str, tables: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, sa.Engine]]:
    snaps, events = tables
    engine = sa.create_engine(pg_url)
    suffix = uuid.uuid4().hex[:6]
    snap_table, event_table = f"snaps_{suffix}", f"events_{suffix}"
    snaps.assign(snapshot_week=pd.to_datetime(snaps["snapshot_week"]).dt.date).to_sql(
        snap_table, engine, index=False
    )
    events.assign(churned_on=pd.to_datetime(events["churned_on"]).dt.date).to_sql(
        event_table, engine, index=False
    )
    monkeypatch.setenv("SOURCE_DB_URL", pg_url)
    yield snap_table, event_table, engine
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{snap_table}", "{event_table}"'))
    engine.dispose()


def test_postgres_tables_read_back_as_the_simulator(
    tmp_path: Path, sim: SimulatorSource, pg_tables: Any
) -> None:
    snap_table, event_table, _ = pg_tables
    cfg = write_config(
        tmp_path,
        {"kind": "postgres", "table": snap_table, "url_env": "SOURCE_DB_URL"},
        {"kind": "postgres", "table": event_table, "url_env": "SOURCE_DB_URL"},
    )
    source = ConfiguredSource(load_weekly_config(cfg))
    assert source.weeks() == WEEKS
    week = WEEKS[6]
    want = sim.contract().validate(sim.features_for_week(week))
    pd.testing.assert_frame_equal(source.features_for_week(week), want, check_categorical=False)
    pd.testing.assert_frame_equal(
        source.labels_for_cohort(WEEKS[1], WEEKS[11]), sim.labels_for_cohort(WEEKS[1], WEEKS[11])
    )


def test_postgres_query_with_week_runs_read_only(tmp_path: Path, pg_tables: Any) -> None:
    snap_table, event_table, engine = pg_tables
    query = f'SELECT * FROM "{snap_table}" WHERE snapshot_week = :week'
    cfg = write_config(
        tmp_path,
        {
            "kind": "postgres",
            "query": query,
            "url_env": "SOURCE_DB_URL",
            "reference_week": W0.isoformat(),
        },
        {"kind": "postgres", "table": event_table, "url_env": "SOURCE_DB_URL"},
    )
    source = ConfiguredSource(load_weekly_config(cfg))
    assert len(source.features_for_week(WEEKS[2])) > 0
    hostile = f'DELETE FROM "{snap_table}" RETURNING *'
    bad = write_config(
        tmp_path,
        {
            "kind": "postgres",
            "query": hostile,
            "url_env": "SOURCE_DB_URL",
            "reference_week": W0.isoformat(),
        },
        {"kind": "postgres", "table": event_table, "url_env": "SOURCE_DB_URL"},
    )
    with pytest.raises(DataSourceConfigError, match="read-only"):
        ConfiguredSource(load_weekly_config(bad)).features_for_week(WEEKS[2])
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f'SELECT count(*) FROM "{snap_table}"')).scalar_one()
    assert rows > 0  # nothing was deleted


def test_postgres_statement_timeout_cancels_a_slow_query(tmp_path: Path, pg_tables: Any) -> None:
    snap_table, event_table, _ = pg_tables
    slow = f'SELECT s.* FROM "{snap_table}" s, pg_sleep(5) WHERE snapshot_week = :week'
    cfg = write_config(
        tmp_path,
        {
            "kind": "postgres",
            "query": slow,
            "url_env": "SOURCE_DB_URL",
            "reference_week": W0.isoformat(),
            "statement_timeout_s": 0.2,
        },
        {"kind": "postgres", "table": event_table, "url_env": "SOURCE_DB_URL"},
    )
    with pytest.raises(DataSourceConfigError, match=r"statement_timeout_s=0\.2"):
        ConfiguredSource(load_weekly_config(cfg)).features_for_week(WEEKS[2])


def test_a_query_returning_duplicate_column_names_is_named(tmp_path: Path, pg_tables: Any) -> None:
    """``SELECT 1 AS a, 2 AS a ...`` is refused naming the columns and the config file, instead
    of a frame where ``frame['a']`` is itself a frame (issue 19); a duplicated week column
    (PostgreSQL: "ambiguous") is named too."""
    snap_table, event_table, _ = pg_tables
    events = {"kind": "postgres", "table": event_table, "url_env": "SOURCE_DB_URL"}
    dup = (
        f'SELECT 1 AS a, 2 AS a, s.*, s.customer_id FROM "{snap_table}" s '
        "WHERE snapshot_week = :week"
    )
    cfg = write_config(
        tmp_path,
        {"kind": "postgres", "query": dup, "url_env": "SOURCE_DB_URL", "reference_week": str(W0)},
        events,
    )
    with pytest.raises(DataSourceConfigError) as info:
        ConfiguredSource(load_weekly_config(cfg)).features_for_week(WEEKS[2])
    message = str(info.value)
    assert message.startswith(str(cfg)), message
    assert "duplicate column names 'a', 'customer_id'" in message, message

    # a query without :week is filtered on week_column: the duplicate is then ambiguous
    twice = f'SELECT s.*, s.snapshot_week FROM "{snap_table}" s'
    cfg = write_config(
        tmp_path, {"kind": "postgres", "query": twice, "url_env": "SOURCE_DB_URL"}, events
    )
    with pytest.raises(DataSourceConfigError) as info:
        ConfiguredSource(load_weekly_config(cfg)).features_for_week(WEEKS[2])
    message = str(info.value)
    assert message.startswith(str(cfg)), message
    assert "returns the column 'snapshot_week' more than once" in message, message


def test_a_source_url_with_a_bad_port_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DB_URL", "postgresql://u:s3cr3tpw@127.0.0.1:notaport/x")
    spec = {"kind": "postgres", "table": "t", "url_env": "SOURCE_DB_URL"}
    cfg = write_config(tmp_path, spec, spec)
    with pytest.raises(DataSourceConfigError) as info:
        ConfiguredSource(load_weekly_config(cfg))
    message = str(info.value)
    assert "'SOURCE_DB_URL' does not hold a valid database URL" in message, message
    assert "s3cr3tpw" not in message


def test_postgres_shard_reads_partition_the_week(tmp_path: Path, pg_tables: Any) -> None:
    """Each shard read selects only its slice in SQL; the shards together are the week."""
    from churn_platform.io.sharding import shard_of

    snap_table, event_table, _ = pg_tables
    cfg = write_config(
        tmp_path,
        {"kind": "postgres", "table": snap_table, "url_env": "SOURCE_DB_URL"},
        {"kind": "postgres", "table": event_table, "url_env": "SOURCE_DB_URL"},
    )
    source = ConfiguredSource(load_weekly_config(cfg))
    week, shards = WEEKS[6], 3
    full = source.features_for_week(week)

    def whole_week(_: Any) -> pd.DataFrame:
        raise AssertionError("a shard read the whole week instead of its slice")

    source.features_for_week = whole_week  # type: ignore[method-assign]
    parts = [source.features_for_shard(week, shard, shards) for shard in range(shards)]
    for shard, part in enumerate(parts):
        assert 0 < len(part) < len(full)
        assert (shard_of(part["customer_id"], shards) == shard).all()
    union = pd.concat(parts).sort_values("customer_id").reset_index(drop=True)
    want = full.sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(union, want, check_categorical=False)
    with pytest.raises(ValueError, match="shard"):
        source.features_for_shard(week, 3, shards)
