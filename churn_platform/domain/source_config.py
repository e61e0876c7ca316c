"""The two-part data-source config (weekly snapshots + churn events) and snapshot mapping.

A configured source is one YAML file with two parts (reference: docs/data-sources.md)::

    snapshots:                     # weekly features of the customers active that week
      kind: csv                    # csv | parquet | postgres
      path: snapshots/*.csv        # a file, or a glob of one file per week (csv/parquet)
      # table: public.snapshots    # postgres: a table ...
      # query: "SELECT ... WHERE week = :week"   # ... or a query with :week bound
      # url_env: DATABASE_URL      # postgres: env var holding the SQLAlchemy URL
      week_column: snapshot_week
      id: customer_id
      features: all                # or a list
      categorical: [plan]
      drop: [email]
      policies: {extra_columns: ignore, missing_values: error, new_levels: error}
    labels:                        # churn events: who left, on which day
      kind: csv
      path: churn_events.csv
      id: customer_id
      churned_on: churned_on
      # observed_until: 2025-06-30 # events complete up to this date (default: the replayed week)
      # delay_days: 0              # a churn is recorded this many days after it happens
    training: {cohorts: 4, spacing_weeks: 4, window_weeks: 26}   # optional

This module is pure: :func:`parse_weekly_config` turns the loaded YAML into frozen dataclasses
(every problem a :class:`DataSourceConfigError` naming the file and the key), and
:func:`map_snapshot` turns one raw weekly snapshot into the canonical ``customer_id`` + features
frame, applying the policies and the contract inferred once from the reference snapshot.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from churn_platform.domain.mapping import (
    _check_keys,
    _enum,
    _mapping,
    _opt_str,
    _req_str,
    _str_list,
)
from churn_platform.domain.schema import (
    CategoricalFeature,
    ContractViolation,
    FeatureContract,
    NumericFeature,
    infer_contract,
)
from churn_platform.errors import DataContractError, DataSourceConfigError, EmptyPartitionError

__all__ = [
    "MISSING_LEVEL",
    "OTHER_LEVEL",
    "LabelsSpec",
    "SnapshotPolicies",
    "SnapshotsSpec",
    "TableSpec",
    "TrainingSpec",
    "WeeklySourceConfig",
    "canonical_ids",
    "is_weekly_config",
    "map_snapshot",
    "parse_weekly_config",
    "reference_contract",
]

log = logging.getLogger(__name__)

CANONICAL_ID = "customer_id"
MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
INT64_MAX = 2**63 - 1

SourceKind = Literal["csv", "parquet", "postgres"]
ExtraColumns = Literal["ignore", "error"]
MissingValues = Literal["error", "drop_rows", "impute"]
NewLevels = Literal["error", "other"]

_TABLE_KEYS = {"kind", "path", "table", "query", "url_env", "statement_timeout_s"}
_SNAPSHOT_KEYS = _TABLE_KEYS | {
    "week_column",
    "id",
    "features",
    "categorical",
    "drop",
    "policies",
    "reference_week",
}
_LABEL_KEYS = _TABLE_KEYS | {"id", "churned_on", "observed_until", "delay_days"}
_POLICY_KEYS = {"extra_columns", "missing_values", "new_levels", "max_levels"}
_TRAINING_KEYS = {"cohorts", "spacing_weeks", "window_weeks"}
_TOP_KEYS = {"snapshots", "labels", "training"}


@dataclass(frozen=True)
class TableSpec:
    """Where one part is read from: a file / glob of files, a table, or a query.

    ``statement_timeout_s`` bounds each PostgreSQL query (``SET LOCAL statement_timeout`` in a
    read-only transaction).
    """

    kind: SourceKind
    path: str | None = None  # absolute (resolved against the config file's folder); may glob
    table: str | None = None
    query: str | None = None
    url_env: str | None = None
    statement_timeout_s: float = 300.0

    @property
    def is_glob(self) -> bool:
        return self.path is not None and any(ch in self.path for ch in "*?[")


@dataclass(frozen=True)
class SnapshotPolicies:
    """What to do with columns outside the contract, missing values and unseen levels.

    ``missing_values``: ``error`` (default), ``drop_rows`` (logged; those customers are not
    scored) or ``impute`` (numeric: the reference snapshot's median; categorical: the level
    ``(missing)``; counts logged). ``new_levels``: ``other`` (default: a level not in the
    reference snapshot becomes ``(other)``, logged with counts; new plans and regions are a
    business reality, not bad data) or ``error``. ``max_levels``: a
    categorical with more distinct levels in the reference snapshot is refused (an id?).
    """

    extra_columns: ExtraColumns = "ignore"
    missing_values: MissingValues = "error"
    new_levels: NewLevels = "other"
    max_levels: int = 50


@dataclass(frozen=True)
class SnapshotsSpec:
    """The ``snapshots`` part: weekly features of active customers."""

    source: TableSpec
    week_column: str | None
    id: str
    features: Literal["all"] | tuple[str, ...] = "all"
    categorical: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    policies: SnapshotPolicies = field(default_factory=SnapshotPolicies)
    reference_week: date | None = None


@dataclass(frozen=True)
class LabelsSpec:
    """The ``labels`` part: churn events (``id``, ``churned_on``)."""

    source: TableSpec
    id: str
    churned_on: str
    observed_until: date | None = None
    delay_days: int = 0


@dataclass(frozen=True)
class TrainingSpec:
    """How many past cohorts a training set stacks (see docs/data-sources.md for why)."""

    cohorts: int = 4
    spacing_weeks: int = 4
    window_weeks: int = 26


@dataclass(frozen=True)
class WeeklySourceConfig:
    snapshots: SnapshotsSpec
    labels: LabelsSpec
    training: TrainingSpec = field(default_factory=TrainingSpec)
    origin: str = "<data source config>"


def is_weekly_config(raw: object) -> bool:
    """True for the two-part (``snapshots`` + ``labels``) format."""
    return isinstance(raw, Mapping) and ("snapshots" in raw or "labels" in raw)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def parse_weekly_config(
    raw: object, *, origin: str, base_dir: Path | None = None
) -> WeeklySourceConfig:
    """Turn a loaded YAML document into a :class:`WeeklySourceConfig`.

    Unknown or missing keys, wrong types and bad values raise :class:`DataSourceConfigError`
    naming ``origin`` and the key (e.g. ``snapshots.week_column``).
    """
    top = _mapping(raw, "<top level>", origin)
    _check_keys(top, _TOP_KEYS, "", origin)
    for key in ("snapshots", "labels"):
        if key not in top:
            raise DataSourceConfigError(
                f"{origin}: missing required key '{key}' (a weekly source has two parts: "
                "'snapshots' with the weekly features and 'labels' with the churn events)"
            )
    snap = _mapping(top["snapshots"], "snapshots", origin)
    _check_keys(snap, _SNAPSHOT_KEYS, "snapshots.", origin)
    snap_source = _table(snap, "snapshots.", origin, base_dir)
    week_column = _opt_str(snap, "week_column", "snapshots.", origin)
    query_has_week = snap_source.query is not None and ":week" in snap_source.query
    if week_column is None and not query_has_week and not snap_source.is_glob:
        raise DataSourceConfigError(
            f"{origin}: key 'snapshots.week_column' is required (the column holding each "
            "snapshot's week), unless 'snapshots.path' is a glob of one file per week whose "
            "names contain the date, or 'snapshots.query' binds :week"
        )
    features_raw = snap.get("features", "all")
    features: Literal["all"] | tuple[str, ...] = (
        "all"
        if features_raw == "all"
        else _str_list(features_raw, "snapshots.features", origin, allow_all=True)
    )
    snapshots = SnapshotsSpec(
        source=snap_source,
        week_column=week_column,
        id=_req_str(snap, "id", "snapshots.", origin),
        features=features,
        categorical=_str_list(snap.get("categorical", []), "snapshots.categorical", origin),
        drop=_str_list(snap.get("drop", []), "snapshots.drop", origin),
        policies=_policies(snap.get("policies"), origin),
        reference_week=_opt_date(snap, "reference_week", "snapshots.", origin),
    )
    roles = {"id": snapshots.id, "week_column": week_column}
    for role, name in roles.items():
        if name is None:
            continue
        if name in snapshots.drop:
            raise DataSourceConfigError(
                f"{origin}: key 'snapshots.drop' lists {name!r}, which is the {role} column"
            )
        if features != "all" and name in features:
            raise DataSourceConfigError(
                f"{origin}: key 'snapshots.features' lists {name!r}, which is the {role} column"
            )

    lab = _mapping(top["labels"], "labels", origin)
    _check_keys(lab, _LABEL_KEYS, "labels.", origin)
    delay = lab.get("delay_days", 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
        raise DataSourceConfigError(
            f"{origin}: key 'labels.delay_days' must be a whole number of days >= 0, got {delay!r}"
        )
    labels = LabelsSpec(
        source=_table(lab, "labels.", origin, base_dir),
        id=_req_str(lab, "id", "labels.", origin),
        churned_on=_req_str(lab, "churned_on", "labels.", origin),
        observed_until=_opt_date(lab, "observed_until", "labels.", origin),
        delay_days=delay,
    )
    if labels.source.query is not None and ":week" in labels.source.query:
        raise DataSourceConfigError(
            f"{origin}: key 'labels.query' may bind :as_of (events are read up to a date), "
            "not :week"
        )

    tr = _mapping(top.get("training", {}) or {}, "training", origin)
    _check_keys(tr, _TRAINING_KEYS, "training.", origin)
    training = TrainingSpec(
        cohorts=_pos_int(tr, "cohorts", 4, origin),
        spacing_weeks=_pos_int(tr, "spacing_weeks", 4, origin),
        window_weeks=_pos_int(tr, "window_weeks", 26, origin),
    )
    return WeeklySourceConfig(snapshots, labels, training, origin)


def _table(section: Mapping[str, Any], prefix: str, origin: str, base: Path | None) -> TableSpec:
    kind = _enum(section, "kind", get_args(SourceKind), prefix, origin, required=True)
    path = _opt_str(section, "path", prefix, origin)
    table = _opt_str(section, "table", prefix, origin)
    query = _opt_str(section, "query", prefix, origin)
    url_env = _opt_str(section, "url_env", prefix, origin)
    timeout = section.get("statement_timeout_s", 300.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise DataSourceConfigError(
            f"{origin}: key '{prefix}statement_timeout_s' must be a positive number of seconds, "
            f"got {timeout!r}"
        )
    if kind in ("csv", "parquet"):
        if path is None:
            raise DataSourceConfigError(f"{origin}: key '{prefix}path' is required for kind {kind}")
        for key, value in (("table", table), ("query", query), ("url_env", url_env)):
            if value is not None:
                raise DataSourceConfigError(
                    f"{origin}: key '{prefix}{key}' is only valid for kind postgres, not {kind}"
                )
        resolved = Path(path).expanduser()
        if not resolved.is_absolute() and base is not None:
            resolved = base / resolved
        path = str(resolved)
    else:
        if path is not None:
            raise DataSourceConfigError(
                f"{origin}: key '{prefix}path' is only valid for kind csv/parquet, not postgres"
            )
        if (table is None) == (query is None):
            raise DataSourceConfigError(
                f"{origin}: kind postgres needs exactly one of '{prefix}table' or '{prefix}query'"
            )
        if url_env is None:
            raise DataSourceConfigError(
                f"{origin}: key '{prefix}url_env' is required for kind postgres (the name of "
                "the environment variable holding the database URL; never the URL itself)"
            )
        if "://" in url_env:
            raise DataSourceConfigError(
                f"{origin}: key '{prefix}url_env' must name an environment variable, not "
                "contain a database URL (secrets stay out of config files)"
            )
    return TableSpec(
        kind=kind,  # type: ignore[arg-type]
        path=path,
        table=table,
        query=query,
        url_env=url_env,
        statement_timeout_s=float(timeout),
    )


def _policies(raw: object, origin: str) -> SnapshotPolicies:
    pol = _mapping(raw or {}, "snapshots.policies", origin)
    _check_keys(pol, _POLICY_KEYS, "snapshots.policies.", origin)
    p = "snapshots.policies."
    max_levels = pol.get("max_levels", 50)
    if isinstance(max_levels, bool) or not isinstance(max_levels, int) or max_levels < 1:
        raise DataSourceConfigError(
            f"{origin}: key '{p}max_levels' must be a whole number >= 1, got {max_levels!r}"
        )
    return SnapshotPolicies(
        extra_columns=_enum(pol, "extra_columns", get_args(ExtraColumns), p, origin)  # type: ignore[arg-type]
        or "ignore",
        missing_values=_enum(pol, "missing_values", get_args(MissingValues), p, origin)  # type: ignore[arg-type]
        or "error",
        new_levels=_enum(pol, "new_levels", get_args(NewLevels), p, origin) or "other",  # type: ignore[arg-type]
        max_levels=max_levels,
    )


def _opt_date(section: Mapping[str, Any], key: str, prefix: str, origin: str) -> date | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, date):  # YAML reads unquoted 2025-01-06 as a date
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DataSourceConfigError(
            f"{origin}: key '{prefix}{key}' must be a date (YYYY-MM-DD), got {value!r}"
        ) from None


def _pos_int(section: Mapping[str, Any], key: str, default: int, origin: str) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataSourceConfigError(
            f"{origin}: key 'training.{key}' must be a whole number >= 1, got {value!r}"
        )
    return value


# --------------------------------------------------------------------------------------------
# Customer ids: integers kept, text mapped to a stable 63-bit key
# --------------------------------------------------------------------------------------------

_INT_TEXT = re.compile(r"^-?(0|[1-9][0-9]*)$")


def text_id_key(text: str) -> int:
    """Stable 63-bit integer key of a text customer id (BLAKE2b, first 8 bytes, top bit 0).

    Deterministic across processes and versions, so the predictions table, the shard hash and
    every week agree; the text itself is stored next to the key (``customer_keys`` table).
    """
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & INT64_MAX


def canonical_ids(values: pd.Series, *, column: str, origin: str) -> tuple[pd.Series, pd.Series]:
    """Customer ids as int64 keys, plus the source ids as text.

    Integer ids (or text made only of digits without leading zeros, within int64) are kept as
    they are. Other text ids (``7590-VHVEG``, unicode) become :func:`text_id_key`. Refused,
    each with a :class:`DataContractError` naming the column and example values: missing ids,
    fractional ids (1.5), integers beyond int64 (>= 2**63), empty text or text with leading or
    trailing whitespace (``" A1"`` and ``"A1"`` would be two customers), and two different
    text ids with the same key (a collision; astronomically unlikely, but checked).
    """
    s = values
    where = f"{origin}: id column {column!r}"
    if s.isna().any():
        rows = s.index[s.isna()].tolist()[:5]
        raise DataContractError(f"{where}: {int(s.isna().sum())} rows without an id (rows {rows})")
    if pd.api.types.is_bool_dtype(s.dtype):
        raise DataContractError(f"{where}: holds booleans, not customer ids")
    if pd.api.types.is_integer_dtype(s.dtype):
        if (
            pd.api.types.is_unsigned_integer_dtype(s.dtype)
            and (s.astype("uint64") > INT64_MAX).any()
        ):
            bad = s[s.astype("uint64") > INT64_MAX].head(3).tolist()
            raise DataContractError(f"{where}: ids beyond 2**63-1 cannot be stored: {bad}")
        as_int = s.astype("int64")
        return as_int, as_int.astype(str)
    if pd.api.types.is_float_dtype(s.dtype):
        x = s.astype("float64")
        frac = x != np.floor(x)
        if frac.any():
            bad = x[frac].head(5).tolist()
            raise DataContractError(
                f"{where}: {int(frac.sum())} fractional ids, e.g. {bad}; customer ids must be "
                "whole numbers or text (they are never rounded)"
            )
        if (x.abs() >= 2.0**53).any():
            raise DataContractError(
                f"{where}: ids stored as floating point beyond 2**53 lose digits; store them as "
                "integers or text"
            )
        as_int = x.astype("int64")
        return as_int, as_int.astype(str)
    text = s.map(lambda v: v if isinstance(v, str) else str(v))
    stripped = text.str.strip()
    bad_ws = (stripped != text) | (stripped == "")
    if bad_ws.any():
        examples = [repr(v) for v in text[bad_ws].head(5)]
        raise DataContractError(
            f"{where}: {int(bad_ws.sum())} ids are empty or have leading/trailing whitespace, "
            f"e.g. {', '.join(examples)}; clean them in the source (ids are never trimmed: "
            "' A1' and 'A1' would silently become one customer)"
        )
    # Row by row, so one id always gets the same key whatever else is in the week or file:
    # "42" is 42 everywhere, "0042" and "CUST-42" are text keys everywhere.
    is_int = text.str.fullmatch(_INT_TEXT).to_numpy(dtype=bool)
    values = text[is_int].map(int)
    too_big = values.map(lambda v: not -INT64_MAX - 1 <= v <= INT64_MAX)
    if too_big.any():
        raise DataContractError(
            f"{where}: integer ids beyond 2**63-1 cannot be stored, e.g. "
            f"{text[is_int][too_big.to_numpy()].head(3).tolist()}"
        )
    keys = pd.Series(np.zeros(len(text), dtype=np.int64), index=text.index)
    keys[is_int] = values.astype("int64").to_numpy()
    keys[~is_int] = text[~is_int].map(text_id_key).astype("int64").to_numpy()
    pairs = pd.DataFrame({"k": keys.to_numpy(), "t": text.to_numpy()}).drop_duplicates()
    clash = pairs["k"].duplicated(keep=False)
    if clash.any():
        raise DataContractError(
            f"{where}: text ids {pairs.loc[clash, 't'].head(4).tolist()} map to the same "
            "63-bit key; rename one of them"
        )
    return keys, text


# --------------------------------------------------------------------------------------------
# Snapshot mapping: raw weekly snapshot -> customer_id + contract features
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceContract:
    """The contract inferred once from the reference snapshot, plus the imputation values."""

    contract: FeatureContract
    fill_values: dict[str, float] = field(default_factory=dict)
    week: date | None = None


def _is_date_column(s: pd.Series) -> bool:
    """Dates/timestamps (a signup date, a last-login time): not model inputs as they are."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return True
    if pd.api.types.is_object_dtype(s.dtype):
        first = s.dropna().head(1)
        return bool(len(first)) and isinstance(first.iloc[0], date | pd.Timestamp)
    return False


def _feature_columns(raw: pd.DataFrame, spec: SnapshotsSpec) -> list[str]:
    skip = {spec.id, *spec.drop}
    if spec.week_column is not None:
        skip.add(spec.week_column)
    if spec.features == "all":
        dates = [str(c) for c in raw.columns if c not in skip and _is_date_column(raw[c])]
        if dates:
            log.warning(
                "date/timestamp column(s) %s are not used as features (features: all takes "
                "numbers and categories); derive a number (e.g. days since signup) in the "
                "source, or list them in snapshots.drop to silence this",
                dates,
            )
        return [str(c) for c in raw.columns if c not in skip and c not in dates]
    return list(spec.features)


def _require(raw: pd.DataFrame, spec: SnapshotsSpec, origin: str) -> None:
    wanted = [("snapshots.id", spec.id)]
    if spec.features != "all":
        wanted += [("snapshots.features", c) for c in spec.features]
    wanted += [("snapshots.categorical", c) for c in spec.categorical]
    missing = [(k, c) for k, c in wanted if c not in raw.columns]
    if missing:
        available = ", ".join(map(str, raw.columns))
        listed = "; ".join(f"{c!r} (from {k})" for k, c in missing)
        raise DataContractError(
            f"{origin}: the snapshot lacks column(s) {listed}; available: {available}"
        )
    dup = raw.columns[raw.columns.duplicated()].tolist()
    if dup:
        raise DataContractError(f"{origin}: the snapshot has duplicated column names {dup}")


def _as_text(s: pd.Series) -> pd.Series:
    return s.map(str, na_action="ignore").astype("object")


def reference_contract(
    raw: pd.DataFrame, spec: SnapshotsSpec, *, origin: str, week: date | None = None
) -> ReferenceContract:
    """Infer the contract once from the reference snapshot (the training cohort's week).

    Categoricals: the declared ones, and text/boolean columns; their levels are those of the
    reference week (plus ``(missing)``/``(other)`` when the policies impute or map new levels).
    Numeric columns are unbounded numeric features. Imputation values are the reference
    medians.
    """
    if len(raw) == 0:
        raise EmptyPartitionError(f"{origin}: the reference snapshot has no rows")
    _require(raw, spec, origin)
    cols = _feature_columns(raw, spec)
    frame = raw[cols].copy()
    for name in cols:
        s = frame[name]
        if name in spec.categorical or pd.api.types.is_bool_dtype(s.dtype):
            frame[name] = _as_text(s)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            frame[name] = _as_text(s.astype("object"))
    frame[CANONICAL_ID] = np.arange(len(frame))
    frame["_d"] = 1.0
    frame["_e"] = 0
    try:
        contract = infer_contract(
            frame,
            id_column=CANONICAL_ID,
            duration_column="_d",
            event_column="_e",
            categorical=[c for c in spec.categorical if c in cols],
            max_levels=spec.policies.max_levels,
        )
    except DataContractError as exc:
        raise DataContractError(
            f"{origin}: reference snapshot{f' {week}' if week else ''}: {exc} "
            "(snapshots.policies.max_levels raises the limit; snapshots.drop removes a column)"
        ) from None
    fills: dict[str, float] = {}
    features: list[CategoricalFeature | NumericFeature] = []
    extra: list[str] = []
    if spec.policies.missing_values == "impute":
        extra.append(MISSING_LEVEL)
    if spec.policies.new_levels == "other":
        extra.append(OTHER_LEVEL)
    for f in contract.features:
        if isinstance(f, CategoricalFeature):
            levels = tuple(sorted({*f.categories, *extra}))
            features.append(CategoricalFeature(f.name, levels))
        else:
            features.append(f)
            if spec.policies.missing_values == "impute":
                values = pd.to_numeric(frame[f.name], errors="coerce")
                median = float(values.median()) if values.notna().any() else 0.0
                fills[f.name] = float(round(median)) if f.integer else median
    out = FeatureContract(features=tuple(features), id_column=CANONICAL_ID)
    return ReferenceContract(out, fills, week)


def map_snapshot(
    raw: pd.DataFrame,
    spec: SnapshotsSpec,
    reference: ReferenceContract,
    *,
    origin: str,
    week: date | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One raw weekly snapshot → (``customer_id`` + contract features, id key → source id).

    Applies the policies (logged) and validates against the reference contract: a new column
    with ``extra_columns: error``, a column whose type changed, a new category level with
    ``new_levels: error``, missing values with ``missing_values: error``, and duplicate ids
    within the week are :class:`ContractViolation` / :class:`DataContractError` naming the
    column, values and rows. Never adds a feature.
    """
    label = f"{origin} week {week}" if week is not None else origin
    if len(raw) == 0:
        raise EmptyPartitionError(f"{label}: the snapshot has no customer rows")
    _require(raw, spec, label)
    contract = reference.contract
    policies = spec.policies
    features = list(contract.feature_names)
    skip = {spec.id, *spec.drop, *([spec.week_column] if spec.week_column else [])}
    extra = [
        str(c)
        for c in raw.columns
        if c not in skip and c not in features and not _is_date_column(raw[c])
    ]
    if extra:
        if policies.extra_columns == "error":
            raise DataContractError(
                f"{label}: column(s) {extra} are not in the feature contract inferred from the "
                f"reference snapshot{f' {reference.week}' if reference.week else ''} "
                "(snapshots.policies.extra_columns: error); drop them (snapshots.drop) or set "
                "extra_columns: ignore"
            )
        log.warning(
            "%s: column(s) %s are not in the feature contract; ignored (never new features)",
            label,
            extra,
        )
    missing_cols = [c for c in features if c not in raw.columns]
    if missing_cols:
        raise DataContractError(
            f"{label}: column(s) {missing_cols} of the feature contract are missing from the "
            "snapshot"
        )
    ids, source_ids = canonical_ids(raw[spec.id], column=spec.id, origin=label)
    df = raw[features].copy()
    df.insert(0, CANONICAL_ID, ids.to_numpy())
    df.index = raw.index
    keep = pd.Series(True, index=df.index)
    for f in contract.features:
        s = df[f.name]
        if isinstance(f, CategoricalFeature):
            if not (
                pd.api.types.is_object_dtype(s.dtype)
                or pd.api.types.is_string_dtype(s.dtype)
                or pd.api.types.is_bool_dtype(s.dtype)
                or isinstance(s.dtype, pd.CategoricalDtype)
                or f.name in spec.categorical
            ):
                raise DataContractError(
                    f"{label}: column {f.name!r} changed type: categorical in the reference "
                    f"snapshot, now {s.dtype}"
                )
            s = _as_text(s.astype("object") if isinstance(s.dtype, pd.CategoricalDtype) else s)
            if policies.missing_values == "impute" and s.isna().any():
                log.warning(
                    "%s: column %r: %d missing values imputed as %r",
                    label,
                    f.name,
                    int(s.isna().sum()),
                    MISSING_LEVEL,
                )
                s = s.fillna(MISSING_LEVEL)
            if policies.new_levels == "other":
                unseen = s.notna() & ~s.isin(f.categories)
                if unseen.any():
                    log.warning(
                        "%s: column %r: %d rows with levels not in the reference snapshot %s "
                        "mapped to %r (snapshots.policies.new_levels: other)",
                        label,
                        f.name,
                        int(unseen.sum()),
                        sorted(set(s[unseen]))[:10],
                        OTHER_LEVEL,
                    )
                    s = s.where(~unseen, OTHER_LEVEL)
            df[f.name] = s
        else:
            assert isinstance(f, NumericFeature)
            if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
                examples = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()].head(5)
                raise DataContractError(
                    f"{label}: column {f.name!r} changed type: numeric in the reference "
                    f"snapshot, now {s.dtype} (e.g. {examples.tolist()})"
                )
            if policies.missing_values == "impute" and s.isna().any():
                n = int(s.isna().sum())
                log.warning(
                    "%s: column %r: %d missing values imputed with the reference median %g",
                    label,
                    f.name,
                    n,
                    reference.fill_values.get(f.name, 0.0),
                )
                s = s.fillna(reference.fill_values.get(f.name, 0.0))
                df[f.name] = s
        if policies.missing_values == "drop_rows":
            keep &= df[f.name].notna()
    if policies.missing_values == "drop_rows" and not keep.all():
        log.warning(
            "%s: missing_values=drop_rows: %d of %d customers with missing values not scored",
            label,
            int((~keep).sum()),
            len(df),
        )
        df = df[keep]
        source_ids = source_ids[keep.to_numpy()]
        if df.empty:
            raise EmptyPartitionError(f"{label}: every customer has a missing value")
    try:
        validated = contract.validate(df.reset_index(drop=True), with_target=False)
    except ContractViolation as exc:
        raise ContractViolation(
            exc.failures,
            header=f"{label}: the snapshot violates the feature contract inferred from the "
            f"reference snapshot{f' {reference.week}' if reference.week else ''} "
            f"(id column {spec.id!r} → 'customer_id'):",
        ) from None
    keys = pd.DataFrame(
        {CANONICAL_ID: validated[CANONICAL_ID].to_numpy(), "source_id": source_ids.to_numpy()}
    )
    return validated, keys


def with_week(spec: SnapshotsSpec, week: date) -> SnapshotsSpec:
    """The spec with ``reference_week`` set (used when the config leaves it to the data)."""
    return replace(spec, reference_week=week)
