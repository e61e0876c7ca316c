"""Reading a company's own customer snapshots: config files, CSV, Parquet and PostgreSQL.

``load_data_config`` reads the YAML data source config (see ``churn_platform.domain.mapping``);
``read_source`` returns the raw customer table, optionally one weekly snapshot. PostgreSQL is
read through SQLAlchemy with bound parameters only; table names are quoted by the dialect's
identifier preparer, never pasted into SQL text. The database URL comes from an environment
variable named in the config, never from the file itself.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
import yaml

from churn_platform.domain.mapping import DataSourceConfig, SourceConfig, parse_data_config
from churn_platform.errors import DataSourceConfigError, EmptyPartitionError, StorageError

__all__ = ["load_data_config", "read_source", "read_table_file"]


def load_data_config(path: str | Path) -> DataSourceConfig:
    """Read and check a data source config file.

    Raises :class:`DataSourceConfigError` naming the file (and the key) when the file does not
    exist, is not valid YAML, has unknown or missing keys or bad values, or points at a data file
    that does not exist. Relative data paths are resolved against the config file's folder.
    """
    config_path = Path(path).expanduser()
    origin = str(config_path)
    if not config_path.is_file():
        raise DataSourceConfigError(f"{origin}: data source config file does not exist")
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise DataSourceConfigError(f"{origin}: malformed YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataSourceConfigError(f"{origin}: cannot read the config file: {exc}") from None
    if raw is None:
        raise DataSourceConfigError(f"{origin}: the config file is empty")
    config = parse_data_config(raw, origin=origin, base_dir=config_path.parent)
    source = config.source
    if source.path is not None and not source.path.is_file():
        raise DataSourceConfigError(
            f"{origin}: key 'source.path': data file {source.path} does not exist "
            "(relative paths are resolved against the config file's folder)"
        )
    return config


def read_source(config: DataSourceConfig, week: date | None = None) -> pd.DataFrame:
    """The raw customer table of a data source, or only the snapshot of ``week``.

    Selecting a week needs ``source.week_column`` (or, for a query, a ``:week`` parameter).
    Raises :class:`EmptyPartitionError` when the selected snapshot has no rows,
    :class:`DataSourceConfigError` for configuration problems (missing environment variable,
    unknown table or column) and :class:`StorageError` when the database cannot be reached.
    """
    source = config.source
    if source.kind == "postgres":
        df = _read_postgres(source, week, config.origin)
    else:
        df = _read_file(source, config.origin)
        if week is not None:
            df = _filter_week(df, source, week, config.origin)
    if len(df) == 0:
        what = f"the snapshot for week {week.isoformat()}" if week is not None else "the source"
        raise EmptyPartitionError(f"{config.origin}: {what} has no customer rows")
    return df


def read_table_file(path: str | Path) -> pd.DataFrame:
    """Read a customer table from a CSV or Parquet file (chosen by the file extension).

    Used by ``churn-platform backtest --data FILE``. Raises :class:`DataSourceConfigError` naming
    the file when it does not exist, has another extension or cannot be parsed, and
    :class:`EmptyPartitionError` when it has no rows.
    """
    file = Path(path).expanduser()
    suffix = file.suffix.lower()
    kinds = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
    if suffix not in kinds:
        raise DataSourceConfigError(
            f"{file}: unsupported file type {suffix or '(none)'}; expected .csv or .parquet"
        )
    source = SourceConfig(kind=kinds[suffix], path=file)  # type: ignore[arg-type]
    df = _read_file(source, str(file))
    if len(df) == 0:
        raise EmptyPartitionError(f"{file}: the file has no customer rows")
    return df


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def require_unique_columns(names: Any, where: str) -> None:
    """Refuse a table whose header names a column twice: which of the two a mapping or the
    contract would read is an accident (pandas silently renames the second CSV one ``a.1``)."""
    counts = Counter(str(n) for n in names)
    dup = sorted(n for n, k in counts.items() if k > 1)
    if dup:
        listed = ", ".join(f"{n!r} ({counts[n]} times)" for n in dup)
        raise DataSourceConfigError(
            f"{where}: duplicate column name(s) {listed}; give each column one name"
        )


def _where(origin: str, kind: str, path: str | Path) -> str:
    """How an error names the file: the origin alone when the origin is the file itself."""
    return origin if str(path) == origin else f"{origin}: {kind} file {path}"


def read_csv_file(path: str | Path, origin: str, **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv`` after checking the header names each column once; read errors and a
    duplicate header become :class:`DataSourceConfigError` naming the file."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            header = next(csv.reader(f), [])
        require_unique_columns(header, _where(origin, "csv", path))
        return pd.read_csv(path, **kwargs)
    except (OSError, ValueError, csv.Error, pd.errors.ParserError) as exc:
        if isinstance(exc, DataSourceConfigError):
            raise
        raise DataSourceConfigError(f"{origin}: cannot read csv file {path}: {exc}") from None


def read_parquet_file(path: str | Path, origin: str, **kwargs: Any) -> pd.DataFrame:
    """``pd.read_parquet`` with read errors and duplicate column names as
    :class:`DataSourceConfigError` naming the file."""
    try:
        df = pd.read_parquet(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise DataSourceConfigError(f"{origin}: cannot read parquet file {path}: {exc}") from None
    require_unique_columns(df.columns, _where(origin, "parquet", path))
    return df


def _read_file(source: SourceConfig, origin: str) -> pd.DataFrame:
    path = source.path
    if path is None or not path.is_file():
        raise DataSourceConfigError(f"{origin}: key 'source.path': data file {path} does not exist")
    if source.kind == "csv":
        return read_csv_file(path, origin)
    return read_parquet_file(path, origin)


def _filter_week(df: pd.DataFrame, source: SourceConfig, week: date, origin: str) -> pd.DataFrame:
    column = source.week_column
    if column is None:
        raise DataSourceConfigError(
            f"{origin}: a week was requested but 'source.week_column' is not set"
        )
    if column not in df.columns:
        raise DataSourceConfigError(
            f"{origin}: key 'source.week_column': column {column!r} is not in the data "
            f"(available: {', '.join(map(str, df.columns))})"
        )
    try:
        weeks = pd.to_datetime(df[column], errors="raise").dt.date
    except (ValueError, TypeError) as exc:
        raise DataSourceConfigError(
            f"{origin}: key 'source.week_column': column {column!r} does not hold dates: {exc}"
        ) from None
    return df.loc[weeks == week].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def _engine(source: SourceConfig, origin: str) -> sa.Engine:
    env = source.url_env or ""
    url = os.environ.get(env)
    if not url:
        raise DataSourceConfigError(
            f"{origin}: key 'source.url_env': environment variable {env!r} is not set "
            "(it must hold the SQLAlchemy database URL)"
        )
    try:
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DataSourceConfigError(
            f"{origin}: environment variable {env!r} does not hold a valid database URL: "
            f"{type(exc).__name__}"
        ) from None


def _table_statement(
    source: SourceConfig, engine: sa.Engine, week: date | None, origin: str
) -> tuple[Any, dict[str, Any]]:
    assert source.table is not None
    schema, _, name = source.table.rpartition(".")
    schema_or_none = schema or None
    try:
        exists = sa.inspect(engine).has_table(name, schema=schema_or_none)
    except sa.exc.OperationalError as exc:
        raise StorageError(f"{origin}: cannot reach the database: {exc.orig}") from None
    if not exists:
        raise DataSourceConfigError(
            f"{origin}: key 'source.table': table {source.table!r} does not exist in the database"
        )
    # quoted_name(..., quote=True): the dialect's identifier preparer always quotes (and
    # escapes) these names when compiling; they never become SQL text of their own.
    table = sa.table(
        _quoted(name), schema=None if schema_or_none is None else _quoted(schema_or_none)
    )
    stmt: Any = sa.select(sa.literal_column("*")).select_from(table)
    params: dict[str, Any] = {}
    if week is not None:
        if source.week_column is None:
            raise DataSourceConfigError(
                f"{origin}: a week was requested but 'source.week_column' is not set"
            )
        week_col: Any = sa.column(_quoted(source.week_column))
        stmt = stmt.where(week_col == sa.bindparam("week"))
        params["week"] = week
    return stmt, params


def _query_statement(
    source: SourceConfig, week: date | None, origin: str
) -> tuple[Any, dict[str, Any]]:
    assert source.query is not None
    text = sa.text(source.query)
    names = set(text.compile().params)
    unknown = sorted(names - {"week"})
    if unknown:
        raise DataSourceConfigError(
            f"{origin}: key 'source.query' uses parameters {unknown}; only :week can be bound"
        )
    if "week" in names:
        if week is None:
            raise DataSourceConfigError(
                f"{origin}: key 'source.query' has a :week parameter but no week was given"
            )
        return text, {"week": week}
    if week is None:
        return text, {}
    if source.week_column is None:
        raise DataSourceConfigError(
            f"{origin}: a week was requested but the query has no :week parameter and "
            "'source.week_column' is not set"
        )
    sub = text.columns().subquery("source_query")
    stmt: Any = (
        sa.select(sa.literal_column("*"))
        .select_from(sub)
        .where(sa.column(_quoted(source.week_column)) == sa.bindparam("week"))
    )
    return stmt, {"week": week}


def _quoted(identifier: str) -> sa.sql.quoted_name:
    return sa.sql.quoted_name(identifier, quote=True)


def _read_postgres(source: SourceConfig, week: date | None, origin: str) -> pd.DataFrame:
    engine = _engine(source, origin)
    try:
        if source.table is not None:
            stmt, params = _table_statement(source, engine, week, origin)
        else:
            stmt, params = _query_statement(source, week, origin)
        try:
            with engine.connect() as conn:
                return pd.read_sql(stmt, conn, params=params)
        except sa.exc.ProgrammingError as exc:
            raise DataSourceConfigError(
                f"{origin}: the database rejected the source query: {exc.orig}"
            ) from None
        except sa.exc.OperationalError as exc:
            raise StorageError(f"{origin}: cannot read from the database: {exc.orig}") from None
    finally:
        engine.dispose()
