"""Reading bring-your-own data: config files, CSV, Parquet and a real PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from churn_platform.domain.mapping import apply_mapping
from churn_platform.domain.schema import ContractViolation
from churn_platform.errors import DataContractError, DataSourceConfigError, EmptyPartitionError
from churn_platform.io.sources import load_data_config, read_source, read_table_file

REPO = Path(__file__).resolve().parents[3]
WEEK_1 = date(2024, 1, 1)
WEEK_2 = date(2024, 1, 8)

COLUMNS: dict[str, Any] = {
    "id": "customerID",
    "duration": "tenure",
    "time_unit": "months",
    "event": "Churn",
    "event_value": "Yes",
    "event_censored_values": ["No"],
    "categorical": ["SeniorCitizen"],
}


def snapshots(n: int = 10) -> pd.DataFrame:
    """Two weekly snapshots of the same customers, telco-style."""
    rng = np.random.default_rng(7)
    weeks = []
    for week in (WEEK_1, WEEK_2):
        weeks.append(
            pd.DataFrame(
                {
                    "customerID": [f"{2000 + i}-XYZ" for i in range(n)],
                    "snapshot_week": week,
                    "tenure": rng.integers(1, 60, n),
                    "Churn": rng.choice(["Yes", "No"], n),
                    "Contract": rng.choice(["Month-to-month", "Two year"], n),
                    "SeniorCitizen": rng.integers(0, 2, n),
                    "MonthlyCharges": rng.uniform(20, 110, n).round(2),
                }
            )
        )
    return pd.concat(weeks, ignore_index=True)


def write_config(tmp_path: Path, source: dict[str, Any], **extra: Any) -> Path:
    path = tmp_path / "source.yaml"
    doc = {"source": source, "columns": COLUMNS, **extra}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# -- config files ------------------------------------------------------------------------------


def test_shipped_csv_example_loads_cleanly() -> None:
    config = load_data_config(REPO / "configs" / "example_csv.yaml")
    raw = read_source(config, week=WEEK_1)
    df, contract = apply_mapping(raw, config.columns, config.policies)
    assert len(df) == 200
    assert 0 < df["event"].sum() < 200
    assert "TotalCharges" not in df.columns and "snapshot_week" not in df.columns
    assert "Contract" in contract.categorical_features


def test_shipped_postgres_example_parses() -> None:
    config = load_data_config(REPO / "configs" / "example_postgres.yaml")
    assert config.source.kind == "postgres"
    assert config.source.url_env == "DATABASE_URL"


def test_nonexistent_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(DataSourceConfigError, match=rf"{missing}: data source config file does"):
        load_data_config(missing)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("source:\n  kind: csv\n  path: [unclosed\ncolumns: {}\n", encoding="utf-8")
    with pytest.raises(DataSourceConfigError, match=rf"{path}: malformed YAML at line \d+"):
        load_data_config(path)


def test_unknown_config_key_names_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("a\n1\n", encoding="utf-8")
    path = write_config(tmp_path, {"kind": "csv", "path": "c.csv", "delimiter": ";"})
    with pytest.raises(DataSourceConfigError, match=rf"{path}: unknown key 'source.delimiter'"):
        load_data_config(path)


def test_nonexistent_data_file_names_key_and_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"kind": "csv", "path": "missing.csv"})
    with pytest.raises(DataSourceConfigError) as info:
        load_data_config(path)
    assert str(path) in str(info.value)
    assert "'source.path'" in str(info.value)
    assert str(tmp_path / "missing.csv") in str(info.value)


# -- CSV / Parquet -----------------------------------------------------------------------------


def test_csv_happy_path_selects_one_week(tmp_path: Path) -> None:
    snapshots().to_csv(tmp_path / "customers.csv", index=False)
    path = write_config(
        tmp_path, {"kind": "csv", "path": "customers.csv", "week_column": "snapshot_week"}
    )
    config = load_data_config(path)
    raw = read_source(config, week=WEEK_2)
    assert len(raw) == 10
    df, _ = apply_mapping(raw, config.columns, config.policies)
    assert df["customer_id"].is_unique
    assert len(read_source(config)) == 20


def test_parquet_happy_path(tmp_path: Path) -> None:
    snapshots().to_parquet(tmp_path / "customers.parquet", index=False)
    path = write_config(
        tmp_path, {"kind": "parquet", "path": "customers.parquet", "week_column": "snapshot_week"}
    )
    config = load_data_config(path)
    raw = read_source(config, week=WEEK_1)
    df, contract = apply_mapping(raw, config.columns, config.policies)
    assert len(df) == 10
    assert contract.feature_names == ("Contract", "SeniorCitizen", "MonthlyCharges")


def test_week_without_rows_is_an_empty_partition(tmp_path: Path) -> None:
    snapshots().to_csv(tmp_path / "customers.csv", index=False)
    path = write_config(
        tmp_path, {"kind": "csv", "path": "customers.csv", "week_column": "snapshot_week"}
    )
    with pytest.raises(EmptyPartitionError, match="week 2030-01-07 has no customer rows"):
        read_source(load_data_config(path), week=date(2030, 1, 7))


def test_csv_with_text_in_numeric_column_names_the_value(tmp_path: Path) -> None:
    raw = snapshots()
    raw["MonthlyCharges"] = raw["MonthlyCharges"].astype(object)
    raw.loc[3, "MonthlyCharges"] = "12a"
    raw.to_csv(tmp_path / "customers.csv", index=False)
    config = load_data_config(write_config(tmp_path, {"kind": "csv", "path": "customers.csv"}))
    # The whole file (both weeks) is one table here, so ids repeat: drop the second week.
    frame = read_source(config).query("snapshot_week == '2024-01-01'")
    with pytest.raises(ContractViolation) as info:
        apply_mapping(frame, config.columns, config.policies)
    msg = str(info.value)
    assert "column 'MonthlyCharges': expected dtype float64, got object" in msg
    assert "'12a' (row 3; customer_id 2003-XYZ)" in msg


def test_csv_infinity_is_reported(tmp_path: Path) -> None:
    raw = snapshots().iloc[:10].copy()
    raw.loc[[2, 4], "MonthlyCharges"] = [np.inf, -np.inf]
    raw.to_csv(tmp_path / "customers.csv", index=False)
    config = load_data_config(write_config(tmp_path, {"kind": "csv", "path": "customers.csv"}))
    with pytest.raises(
        ContractViolation, match=r"2 rows with infinite values inf, -inf \(rows 2, 4"
    ):
        apply_mapping(read_source(config), config.columns, config.policies)


def test_read_table_file(tmp_path: Path) -> None:
    snapshots().to_parquet(tmp_path / "c.parquet", index=False)
    assert len(read_table_file(tmp_path / "c.parquet")) == 20
    with pytest.raises(DataSourceConfigError, match=r"unsupported file type \.xlsx"):
        read_table_file(tmp_path / "c.xlsx")
    with pytest.raises(DataSourceConfigError, match=r"missing\.csv does not exist"):
        read_table_file(tmp_path / "missing.csv")


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    # pandas would silently read the second 'tenure' as 'tenure.1'
    frame = snapshots()
    frame.insert(3, "tenure", 0, allow_duplicates=True)
    frame.to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(DataSourceConfigError) as info:
        read_table_file(tmp_path / "customers.csv")
    message = str(info.value)
    assert "customers.csv" in message and "duplicate column name(s) 'tenure' (2 times)" in message
    path = write_config(tmp_path, {"kind": "csv", "path": "customers.csv"})
    with pytest.raises(DataSourceConfigError, match=r"source\.yaml: csv file .*customers\.csv"):
        read_source(load_data_config(path))


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture()
def customer_table(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real table of two weekly snapshots; its URL in $CHURN_SOURCE_URL."""
    name = f"customers_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS crm"))
    snapshots().to_sql(name, engine, schema="crm", index=False)
    monkeypatch.setenv("CHURN_SOURCE_URL", pg_url)
    yield f"crm.{name}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS crm."{name}"'))
    engine.dispose()


def pg_source(**kw: Any) -> dict[str, Any]:
    return {"kind": "postgres", "url_env": "CHURN_SOURCE_URL", **kw}


def test_postgres_table_happy_path(tmp_path: Path, customer_table: str) -> None:
    config = load_data_config(
        write_config(tmp_path, pg_source(table=customer_table, week_column="snapshot_week"))
    )
    raw = read_source(config, week=WEEK_2)
    assert len(raw) == 10
    assert set(raw["snapshot_week"]) == {WEEK_2}
    df, contract = apply_mapping(raw, config.columns, config.policies)
    assert len(df) == 10
    assert "snapshot_week" not in contract.feature_names
    assert len(read_source(config)) == 20


def test_postgres_query_with_week_parameter(tmp_path: Path, customer_table: str) -> None:
    query = f'SELECT * FROM {customer_table} WHERE snapshot_week = :week AND "MonthlyCharges" > 0'
    config = load_data_config(
        write_config(tmp_path, pg_source(query=query, week_column="snapshot_week"))
    )
    raw = read_source(config, week=WEEK_1)
    assert len(raw) == 10 and set(raw["snapshot_week"]) == {WEEK_1}
    df, _ = apply_mapping(raw, config.columns, config.policies)
    assert df["event"].isin([0, 1]).all()


def test_date_column_as_feature_is_rejected_clearly(tmp_path: Path, customer_table: str) -> None:
    query = f"SELECT * FROM {customer_table} WHERE snapshot_week = :week"
    config = load_data_config(write_config(tmp_path, pg_source(query=query)))
    raw = read_source(config, week=WEEK_1)
    with pytest.raises(DataContractError, match="column 'snapshot_week': holds date values"):
        apply_mapping(raw, config.columns, config.policies)


def test_postgres_query_week_via_week_column(tmp_path: Path, customer_table: str) -> None:
    config = load_data_config(
        write_config(
            tmp_path,
            pg_source(query=f"SELECT * FROM {customer_table}", week_column="snapshot_week"),
        )
    )
    assert len(read_source(config, week=WEEK_1)) == 10


def test_postgres_query_only_binds_week(tmp_path: Path, customer_table: str) -> None:
    query = f'SELECT * FROM {customer_table} WHERE "Contract" = :contract'
    config = load_data_config(write_config(tmp_path, pg_source(query=query)))
    with pytest.raises(DataSourceConfigError, match=r"parameters \['contract'\]; only :week"):
        read_source(config)


def test_postgres_hostile_table_name_is_quoted_not_executed(
    tmp_path: Path, customer_table: str, pg_url: str
) -> None:
    hostile = f"{customer_table}; DROP TABLE {customer_table}; --"
    config = load_data_config(write_config(tmp_path, pg_source(table=hostile)))
    with pytest.raises(DataSourceConfigError, match="does not exist in the database"):
        read_source(config)
    # Even if the existence check were bypassed, the compiled SQL quotes the whole name.
    schema, _, name = hostile.rpartition(".")
    table = sa.table(sa.sql.quoted_name(name, True), schema=sa.sql.quoted_name(schema, True))
    engine = sa.create_engine(pg_url)
    sql = str(sa.select(sa.literal_column("*")).select_from(table).compile(dialect=engine.dialect))
    assert f'"{name}"' in sql
    schema_name, _, table_name = customer_table.partition(".")
    assert sa.inspect(engine).has_table(table_name, schema=schema_name)  # still there
    engine.dispose()


def test_postgres_missing_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHURN_SOURCE_URL", raising=False)
    config = load_data_config(write_config(tmp_path, pg_source(table="customers")))
    with pytest.raises(DataSourceConfigError, match="environment variable 'CHURN_SOURCE_URL'"):
        read_source(config)
