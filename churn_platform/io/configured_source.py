"""The configured data source: weekly snapshots + churn events from CSV, Parquet or PostgreSQL.

Implements :class:`churn_platform.domain.datasource.CustomerDataSource` over a two-part YAML
config (``snapshots`` + ``labels``; reference in docs/data-sources.md). As-of discipline is
enforced where the data is read:

* PostgreSQL: the week's snapshot is selected in SQL (``week_column`` in ``[W, W+7 days)`` or a
  query binding ``:week``) and events with ``churned_on <= censor date`` in SQL; every query runs
  in a ``READ ONLY`` transaction with ``SET LOCAL statement_timeout``.
* Parquet: a row filter on the week column (only that week's rows are materialised).
* CSV: one file per week (glob), or one file read as text, the week's rows selected *before*
  types are inferred, so a later week's rows cannot change this week's column types.

The feature contract is inferred once from the reference snapshot (``snapshots.reference_week``
or the first week of data) and enforced on every week (``domain/source_config.py``).
"""

from __future__ import annotations

import functools
import glob as globlib
import io
import logging
import os
import re
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import sqlalchemy as sa
import yaml

from churn_platform.domain.datasource import CHURNED_ON, cohort_labels
from churn_platform.domain.schema import FeatureContract
from churn_platform.domain.source_config import (
    ReferenceContract,
    TableSpec,
    WeeklySourceConfig,
    canonical_ids,
    is_weekly_config,
    map_snapshot,
    parse_weekly_config,
    reference_contract,
)
from churn_platform.errors import (
    DataContractError,
    DataSourceConfigError,
    EmptyPartitionError,
    StorageError,
)
from churn_platform.io.db import connect_args_for
from churn_platform.io.sharding import shard_slice, shard_sql
from churn_platform.io.sources import read_csv_file, read_parquet_file, require_unique_columns

__all__ = ["ConfiguredSource", "load_weekly_config", "readonly_query"]

log = logging.getLogger(__name__)

_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def load_weekly_config(path: str | Path) -> WeeklySourceConfig:
    """Read and check a two-part data source config; errors name the file and the key."""
    config_path = Path(path).expanduser()
    origin = str(config_path)
    if not config_path.is_file():
        raise DataSourceConfigError(f"{origin}: data source config file does not exist")
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DataSourceConfigError(f"{origin}: malformed YAML{where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataSourceConfigError(f"{origin}: cannot read the config file: {exc}") from None
    if raw is None:
        raise DataSourceConfigError(f"{origin}: the config file is empty")
    if not is_weekly_config(raw):
        raise DataSourceConfigError(
            f"{origin}: the weekly loop needs a two-part config: 'snapshots' (weekly features) "
            "and 'labels' (churn events); this file has "
            f"{sorted(map(str, raw)) if isinstance(raw, dict) else type(raw).__name__} "
            "(the single-table 'source'/'columns' format is for `backtest` and `train` only; "
            "see docs/data-sources.md)"
        )
    config = parse_weekly_config(raw, origin=origin, base_dir=config_path.parent)
    for part, spec in (("snapshots", config.snapshots.source), ("labels", config.labels.source)):
        if spec.path is not None and not spec.is_glob and not Path(spec.path).is_file():
            raise DataSourceConfigError(
                f"{origin}: key '{part}.path': data file {spec.path} does not exist "
                "(relative paths are resolved against the config file's folder)"
            )
        if spec.is_glob and not globlib.glob(spec.path or ""):
            raise DataSourceConfigError(f"{origin}: key '{part}.path': no file matches {spec.path}")
    return config


# --------------------------------------------------------------------------------------------
# PostgreSQL: read-only transaction with a statement timeout
# --------------------------------------------------------------------------------------------


def _quoted(identifier: str) -> sa.sql.quoted_name:
    return sa.sql.quoted_name(identifier, quote=True)


def _table_clause(name: str) -> Any:
    schema, _, table = name.rpartition(".")
    return sa.table(_quoted(table), schema=_quoted(schema) if schema else None)


def readonly_query(
    engine: sa.Engine, stmt: Any, params: dict[str, Any], *, timeout_s: float, origin: str
) -> pd.DataFrame:
    """Run one source query in a READ ONLY transaction with ``SET LOCAL statement_timeout``.

    A query that tries to write fails (PostgreSQL refuses it in a read-only transaction) and is
    rolled back; one that runs too long is cancelled by the server. Either is a
    :class:`DataSourceConfigError` naming the config file.
    """
    try:
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.execute(
                sa.text("SELECT set_config('statement_timeout', :ms, true)"),
                {"ms": str(int(timeout_s * 1000))},
            )
            frame = pd.read_sql(stmt, conn, params=params)
    except sa.exc.OperationalError as exc:
        text = str(exc.orig)
        if "statement timeout" in text:
            raise DataSourceConfigError(
                f"{origin}: the source query ran longer than statement_timeout_s={timeout_s:g} "
                "and was cancelled"
            ) from None
        raise StorageError(f"{origin}: cannot read from the database: {exc.orig}") from None
    except (sa.exc.ProgrammingError, sa.exc.InternalError, sa.exc.DataError) as exc:
        ambiguous = _AMBIGUOUS.search(str(exc.orig))
        if ambiguous is not None:
            # the platform filters on a column the query returns twice (``SELECT a, a ...``)
            raise DataSourceConfigError(
                f"{origin}: the source query returns the column {ambiguous.group(1)!r} more than "
                "once, so it cannot be selected; give each output column a distinct name "
                "(SELECT ... AS other_name)"
            ) from None
        raise DataSourceConfigError(
            f"{origin}: the database rejected the source query (it runs read-only): {exc.orig}"
        ) from None
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        # pandas would keep both under one label: frame[col] turns into a frame, and the contract
        # or the model fails later naming nothing; refuse here, naming the columns and the file
        raise DataSourceConfigError(
            f"{origin}: the source query returns duplicate column names "
            f"{', '.join(repr(c) for c in duplicated)}; give each output column a distinct name "
            "(SELECT ... AS other_name) or select it once"
        )
    return frame


_AMBIGUOUS = re.compile(r'column reference "([^"]+)" is ambiguous')


class _Postgres:
    def __init__(self, spec: TableSpec, origin: str, part: str) -> None:
        env = spec.url_env or ""
        url = os.environ.get(env)
        if not url:
            raise DataSourceConfigError(
                f"{origin}: key '{part}.url_env': environment variable {env!r} is not set "
                "(it must hold the SQLAlchemy database URL)"
            )
        try:
            parsed = sa.make_url(url)
            # the same libpq connect_timeout as the warehouse: a silent source host fails fast
            self.engine = sa.create_engine(
                parsed, connect_args=connect_args_for(parsed), pool_pre_ping=True
            )
        except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
            raise DataSourceConfigError(
                f"{origin}: environment variable {env!r} does not hold a valid database URL: "
                f"{type(exc).__name__}"
            ) from None
        self.spec = spec
        self.origin = origin
        self.part = part

    def source(self) -> Any:
        if self.spec.table is not None:
            return _table_clause(self.spec.table)
        return sa.text(self.spec.query or "").columns().subquery("source_query")

    def read(self, stmt: Any, params: dict[str, Any]) -> pd.DataFrame:
        return readonly_query(
            self.engine,
            stmt,
            params,
            timeout_s=self.spec.statement_timeout_s,
            origin=self.origin,
        )


# --------------------------------------------------------------------------------------------
# The source
# --------------------------------------------------------------------------------------------


class ConfiguredSource:
    """Weekly snapshots + churn events described by a two-part YAML config."""

    def __init__(self, config: WeeklySourceConfig) -> None:
        self.config = config
        self.origin = config.origin
        self._lock = threading.Lock()
        self._reference: ReferenceContract | None = None
        self._weeks: list[date] | None = None
        self._text_cache: dict[str, pd.DataFrame] = {}
        self._events_cache: pd.DataFrame | None = None
        self._keys: dict[date, pd.DataFrame] = {}
        self._snap_pg = (
            _Postgres(config.snapshots.source, self.origin, "snapshots")
            if config.snapshots.source.kind == "postgres"
            else None
        )
        self._lab_pg = (
            _Postgres(config.labels.source, self.origin, "labels")
            if config.labels.source.kind == "postgres"
            else None
        )

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def from_path(path: str) -> ConfiguredSource:
        return ConfiguredSource(load_weekly_config(path))

    # -- CustomerDataSource --------------------------------------------------------------

    def describe(self) -> str:
        s = self.config.snapshots.source
        where = s.path or s.table or "query"
        return f"configured source {self.origin} (snapshots: {s.kind} {where})"

    def default_cohorts(self) -> int:
        return self.config.training.cohorts

    def weeks(self) -> list[date]:
        """Mondays with a snapshot, in order (as read from the week column or file names)."""
        if self._weeks is None:
            self._weeks = sorted({_monday(d) for d in self._snapshot_dates()})
            if not self._weeks:
                raise EmptyPartitionError(f"{self.origin}: the snapshots source has no rows")
        return self._weeks

    def first_week(self) -> date:
        ref = self.config.snapshots.reference_week
        if ref is not None and self._is_query_with_week():
            return _monday(ref)
        return self.weeks()[0]

    def reference_week(self) -> date:
        ref = self.config.snapshots.reference_week
        return _monday(ref) if ref is not None else self.first_week()

    def reference(self) -> ReferenceContract:
        with self._lock:
            if self._reference is None:
                week = self.reference_week()
                raw = self.raw_snapshot(week)
                self._reference = reference_contract(
                    raw, self.config.snapshots, origin=self.origin, week=week
                )
                log.info(
                    "%s: feature contract inferred from the reference snapshot %s (%d features)",
                    self.origin,
                    week,
                    len(self._reference.contract.features),
                )
            return self._reference

    def contract(self) -> FeatureContract:
        return self.reference().contract

    def features_for_week(self, week: date) -> pd.DataFrame:
        frame, _ = self.features_and_keys(week)
        return frame

    def features_and_keys(self, week: date) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The validated snapshot and the id mapping (``customer_id`` key → source id text)."""
        frame, keys = map_snapshot(
            self.raw_snapshot(week),
            self.config.snapshots,
            self.reference(),
            origin=self.origin,
            week=week,
        )
        text = keys["source_id"] != keys["customer_id"].astype(str)
        self._keys[week] = keys[text.to_numpy()].reset_index(drop=True)
        return frame, keys

    def features_for_shard(self, week: date, shard: int, shards: int) -> pd.DataFrame:
        """The customers of ``week`` whose ``customer_id`` falls in ``shard`` of ``shards``
        (:func:`churn_platform.io.sharding.shard_of`), mapped like :meth:`features_for_week`.

        PostgreSQL tables with integer ids read only the slice: the shard hash runs in the
        ``WHERE`` clause (:func:`~churn_platform.io.sharding.shard_sql`, bit-identical to the
        Python hash). Text ids (hashed to integer keys after the read), ``:week`` queries, CSV
        and Parquet (a row filter cannot express the hash) read the week and keep the slice.
        """
        if not 0 <= shard < shards:
            raise ValueError(f"shard must be in 0..{shards - 1}, got {shard}")
        spec = self.config.snapshots
        pushdown = (
            self._snap_pg is not None
            and not self._is_query_with_week()
            and spec.week_column is not None
            and self.text_keys(self.reference_week()).empty
        )
        if not pushdown:
            frame = self.features_for_week(week)
            return shard_slice(frame, "customer_id", shard, shards)
        pg = self._snap_pg
        assert pg is not None and spec.week_column is not None
        lo, hi = self._week_bounds(week)
        col = sa.cast(sa.column(_quoted(spec.week_column)), sa.Date)
        id_sql = '"' + spec.id.replace('"', '""') + '"'  # a quoted identifier, never a value
        stmt: Any = (
            sa.select(sa.literal_column("*"))
            .select_from(pg.source())
            .where(
                col >= sa.bindparam("lo", type_=sa.Date),
                col < sa.bindparam("hi", type_=sa.Date),
                sa.literal_column(shard_sql(id_sql, shards)) == sa.bindparam("shard"),
            )
        )
        raw = pg.read(stmt, {"lo": lo, "hi": hi, "shard": shard})
        if raw.empty:
            raise EmptyPartitionError(
                f"{self.origin}: shard {shard}/{shards} of week {week.isoformat()} has no "
                "customer rows"
            )
        frame, _ = map_snapshot(raw, spec, self.reference(), origin=self.origin, week=week)
        return frame

    def text_keys(self, week: date) -> pd.DataFrame:
        """Keys of the week's text ids (``customer_id``, ``source_id``), empty for integer ids;
        read by the ``customer_features`` asset into the ``customer_keys`` table."""
        if week not in self._keys:
            self.features_and_keys(week)
        return self._keys[week]

    def censor_date(self, as_of: date) -> date:
        lab = self.config.labels
        censor = as_of - timedelta(days=lab.delay_days)
        if lab.observed_until is not None:
            censor = min(censor, lab.observed_until)
        return censor

    def events(self, as_of: date) -> pd.DataFrame:
        """Churn events dated on or before the censoring date as of ``as_of``."""
        until = self.censor_date(as_of)
        lab = self.config.labels
        if self._lab_pg is not None:
            pg = self._lab_pg
            src = pg.source()
            when: Any = sa.column(_quoted(lab.churned_on))
            stmt = (
                sa.select(
                    sa.column(_quoted(lab.id)).label("customer_id"),
                    when.label(CHURNED_ON),
                )
                .select_from(src)
                .where(sa.cast(when, sa.Date) <= sa.bindparam("until", type_=sa.Date))
            )
            raw = pg.read(stmt, {"until": until})
            return self._clean_events(raw, "customer_id", CHURNED_ON, until=until)
        allev = self._all_file_events()
        return allev[allev[CHURNED_ON] <= until].reset_index(drop=True)

    def labels_for_cohort(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        ids = self.features_for_week(cohort_week)["customer_id"]
        censor = max(self.censor_date(as_of), cohort_week)
        return cohort_labels(ids, self.events(as_of), cohort_week, censor)

    def training_frame(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        features = self.features_for_week(cohort_week)
        censor = max(self.censor_date(as_of), cohort_week)
        labels = cohort_labels(features["customer_id"], self.events(as_of), cohort_week, censor)
        return features.merge(labels, on="customer_id", how="inner", validate="one_to_one")

    # -- snapshots -----------------------------------------------------------------------

    def _is_query_with_week(self) -> bool:
        q = self.config.snapshots.source.query
        return q is not None and ":week" in q

    def raw_snapshot(self, week: date) -> pd.DataFrame:
        """The raw rows of the snapshot of ``week`` (Monday ``week`` to the next Sunday)."""
        spec = self.config.snapshots
        src = spec.source
        if self._snap_pg is not None:
            df = self._pg_snapshot(week)
        elif src.is_glob:
            df = self._glob_snapshot(week)
        elif src.kind == "parquet":
            df = self._parquet_snapshot(week)
        else:
            df = self._csv_snapshot(week)
        if len(df) == 0:
            raise EmptyPartitionError(
                f"{self.origin}: the snapshot for week {week.isoformat()} has no customer rows"
            )
        return df.reset_index(drop=True)

    def _week_bounds(self, week: date) -> tuple[date, date]:
        monday = _monday(week)
        return monday, monday + timedelta(days=7)

    def _pg_snapshot(self, week: date) -> pd.DataFrame:
        pg = self._snap_pg
        assert pg is not None
        spec = self.config.snapshots
        lo, hi = self._week_bounds(week)
        if self._is_query_with_week():
            return pg.read(sa.text(spec.source.query or ""), {"week": week})
        assert spec.week_column is not None
        col = sa.cast(sa.column(_quoted(spec.week_column)), sa.Date)
        stmt: Any = (
            sa.select(sa.literal_column("*"))
            .select_from(pg.source())
            .where(
                col >= sa.bindparam("lo", type_=sa.Date), col < sa.bindparam("hi", type_=sa.Date)
            )
        )
        return pg.read(stmt, {"lo": lo, "hi": hi})

    def _id_dtypes(self) -> dict[str, Any]:
        return {self.config.snapshots.id: str}

    def _glob_files(self) -> dict[date, list[str]]:
        spec = self.config.snapshots
        files = sorted(globlib.glob(spec.source.path or ""))
        by_week: dict[date, list[str]] = {}
        for f in files:
            m = _DATE_IN_NAME.search(Path(f).name)
            if m is not None:
                d = date.fromisoformat(m.group(1))
            elif spec.week_column is not None:
                d = self._file_week(f)
            else:
                raise DataSourceConfigError(
                    f"{self.origin}: key 'snapshots.path': file {f} has no date (YYYY-MM-DD) in "
                    "its name and 'snapshots.week_column' is not set"
                )
            by_week.setdefault(_monday(d), []).append(f)
        return by_week

    def _file_week(self, f: str) -> date:
        col = self.config.snapshots.week_column
        assert col is not None
        values = self._read_file(f, columns=[col])[col]
        weeks = {_monday(d) for d in _as_dates(values, f"{self.origin}: {f}", col)}
        if len(weeks) != 1:
            raise DataContractError(
                f"{self.origin}: file {f} holds {len(weeks)} different weeks in {col!r}; a glob "
                "source has one file per week"
            )
        return weeks.pop()

    def _read_file(self, f: str, columns: list[str] | None = None) -> pd.DataFrame:
        if self.config.snapshots.source.kind == "parquet":
            return read_parquet_file(f, self.origin, columns=columns)
        return read_csv_file(
            f,
            self.origin,
            usecols=columns,
            dtype=self._id_dtypes(),
            float_precision="round_trip",
        )

    def _glob_snapshot(self, week: date) -> pd.DataFrame:
        files = self._glob_files().get(_monday(week), [])
        if not files:
            return pd.DataFrame()
        return pd.concat([self._read_file(f) for f in files], ignore_index=True)

    def _parquet_snapshot(self, week: date) -> pd.DataFrame:
        spec = self.config.snapshots
        path = spec.source.path or ""
        col = spec.week_column
        assert col is not None
        try:
            if os.path.isfile(path):  # name the column: Arrow's own error does not
                require_unique_columns(pq.read_schema(path).names, f"{self.origin}: {path}")
            dataset = pads.dataset(path, format="parquet")
            if col not in dataset.schema.names:
                raise DataSourceConfigError(
                    f"{self.origin}: key 'snapshots.week_column': column {col!r} is not in "
                    f"{path} (available: {', '.join(dataset.schema.names)})"
                )
            lo, hi = self._week_bounds(week)
            field_type = dataset.schema.field(col).type
            lo_s, hi_s = _scalar_for(lo, field_type), _scalar_for(hi, field_type)
            expr = (pads.field(col) >= lo_s) & (pads.field(col) < hi_s)
            return dataset.to_table(filter=expr).to_pandas()
        except (OSError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataSourceConfigError(
                f"{self.origin}: cannot read parquet file {path}: {exc}"
            ) from None

    def _csv_text(self) -> pd.DataFrame:
        path = self.config.snapshots.source.path or ""
        if path not in self._text_cache:
            self._text_cache[path] = read_csv_file(
                path, self.origin, dtype=str, keep_default_na=False
            )
        return self._text_cache[path]

    def _csv_snapshot(self, week: date) -> pd.DataFrame:
        spec = self.config.snapshots
        col = spec.week_column
        assert col is not None
        text = self._csv_text()
        if col not in text.columns:
            raise DataSourceConfigError(
                f"{self.origin}: key 'snapshots.week_column': column {col!r} is not in "
                f"{spec.source.path} (available: {', '.join(text.columns)})"
            )
        dates = self._csv_week_index(col)
        subset = text[dates == _monday(week)]
        if subset.empty:
            return pd.DataFrame()
        # Re-parse only this week's rows: a later week cannot change this week's types.
        buf = io.StringIO(subset.to_csv(index=False))
        return pd.read_csv(buf, dtype=self._id_dtypes(), float_precision="round_trip")

    @functools.cache  # noqa: B019 - one source object per config file, kept for the process
    def _csv_week_index(self, col: str) -> pd.Series:
        text = self._csv_text()
        days = _as_dates(text[col], f"{self.origin}: {self.config.snapshots.source.path}", col)
        return pd.Series([_monday(d) for d in days], index=text.index)

    def _snapshot_dates(self) -> list[date]:
        spec = self.config.snapshots
        src = spec.source
        if self._snap_pg is not None:
            if self._is_query_with_week():
                if spec.reference_week is None:
                    raise DataSourceConfigError(
                        f"{self.origin}: a 'snapshots.query' with :week cannot list its weeks; "
                        "set 'snapshots.reference_week' (the first week of data)"
                    )
                return [spec.reference_week]
            assert spec.week_column is not None
            pg = self._snap_pg
            wcol: Any = sa.column(_quoted(spec.week_column))
            stmt: Any = sa.select(sa.cast(wcol, sa.Date).label("w")).distinct()
            stmt = stmt.select_from(pg.source())
            return [_to_date(v) for v in pg.read(stmt, {})["w"].dropna()]
        if src.is_glob:
            return list(self._glob_files())
        col = spec.week_column
        assert col is not None
        if src.kind == "parquet":
            values = self._read_file(src.path or "", columns=[col])[col]
            return _as_dates(values.drop_duplicates(), f"{self.origin}: {src.path}", col)
        return list(set(self._csv_week_index(col)))

    # -- events --------------------------------------------------------------------------

    def _all_file_events(self) -> pd.DataFrame:
        if self._events_cache is None:
            lab = self.config.labels
            src = lab.source
            files = sorted(globlib.glob(src.path or "")) if src.is_glob else [src.path or ""]
            parts = []
            for f in files:
                if src.kind == "parquet":
                    parts.append(read_parquet_file(f, self.origin))
                else:
                    parts.append(read_csv_file(f, self.origin, dtype={lab.id: str}))
            raw = pd.concat(parts, ignore_index=True)
            self._events_cache = self._clean_events(raw, lab.id, lab.churned_on, until=None)
        return self._events_cache

    def _clean_events(
        self, raw: pd.DataFrame, id_col: str, date_col: str, *, until: date | None
    ) -> pd.DataFrame:
        where = f"{self.origin}: labels"
        lab = self.config.labels
        for key, col in (("labels.id", id_col), ("labels.churned_on", date_col)):
            if col not in raw.columns:
                raise DataSourceConfigError(
                    f"{where}: key '{key}': column {col!r} is not in the events "
                    f"(available: {', '.join(map(str, raw.columns))})"
                )
        if raw.empty:
            return pd.DataFrame(
                {
                    "customer_id": pd.Series([], dtype="int64"),
                    CHURNED_ON: pd.Series([], dtype=object),
                }
            )
        missing = raw[date_col].isna()
        if missing.any():
            raise DataContractError(
                f"{where}: column {lab.churned_on!r}: {int(missing.sum())} events without a "
                f"churn date (rows {raw.index[missing].tolist()[:5]})"
            )
        days = _as_dates(raw[date_col], where, lab.churned_on)
        today = date.today()
        future = [i for i, d in enumerate(days) if d > today]
        if future:
            raise DataContractError(
                f"{where}: column {lab.churned_on!r}: {len(future)} churn dates in the future "
                f"(after today {today}), e.g. {[str(days[i]) for i in future[:3]]} "
                f"(rows {future[:5]}); fix the events source"
            )
        ids, _ = canonical_ids(raw[id_col], column=lab.id, origin=where)
        out = pd.DataFrame({"customer_id": ids.to_numpy(), CHURNED_ON: days})
        if until is not None:
            out = out[out[CHURNED_ON] <= until]
        return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _to_date(v: Any) -> date:
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, date):
        return v if type(v) is date else date(v.year, v.month, v.day)
    return date.fromisoformat(str(v)[:10])


def _as_dates(values: pd.Series, where: str, column: str) -> list[date]:
    try:
        parsed = pd.to_datetime(values, errors="raise")
    except (ValueError, TypeError) as exc:
        raise DataContractError(f"{where}: column {column!r} does not hold dates: {exc}") from None
    if parsed.isna().any():
        raise DataContractError(
            f"{where}: column {column!r}: {int(parsed.isna().sum())} rows without a date"
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return [d.date() for d in parsed]


def _scalar_for(d: date, arrow_type: pa.DataType) -> Any:
    if pa.types.is_timestamp(arrow_type):
        return pa.scalar(pd.Timestamp(d), type=pa.timestamp("ns")).cast(arrow_type)
    if pa.types.is_date(arrow_type):
        return pa.scalar(d, type=arrow_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return d.isoformat()
    raise DataSourceConfigError(
        f"week column of type {arrow_type} is neither a date, a timestamp nor ISO text"
    )
