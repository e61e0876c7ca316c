"""Bring-your-own data: how a company's customer table maps onto the churn platform.

A data source config (YAML, read by ``churn_platform.io.sources.load_data_config``) says where the
customer snapshot lives and which of its columns are the customer id, the observed duration
(tenure), the churn flag and the model features::

    source:   {kind: csv, path: customers.csv}
    columns:  {id: customerID, duration: tenure, time_unit: months,
               event: Churn, event_value: "Yes", event_censored_values: ["No"],
               features: all, categorical: [SeniorCitizen], drop: [TotalCharges]}
    policies: {extra_columns: ignore, missing_values: error}

This module is pure: :func:`parse_data_config` turns the already-loaded YAML mapping into frozen
dataclasses, and :func:`apply_mapping` turns a raw customer table into the canonical
``customer_id`` / ``duration_days`` / ``event`` + features frame, with its feature contract.
Nothing is silently coerced: missing values, infinities, non-positive durations, duplicate ids and
churn-flag values outside the mapping are errors naming the column, example values and row count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from churn_platform.domain.schema import (
    ContractViolation,
    FeatureContract,
    infer_contract,
)
from churn_platform.errors import DataSourceConfigError, EmptyPartitionError

__all__ = [
    "DAYS_PER_UNIT",
    "ColumnMapping",
    "DataSourceConfig",
    "EventValue",
    "Policies",
    "SourceConfig",
    "apply_mapping",
    "mapping_from_cli",
    "parse_data_config",
]

logger = logging.getLogger(__name__)

SourceKind = Literal["csv", "parquet", "postgres"]
TimeUnit = Literal["days", "weeks", "months"]
ExtraColumnsPolicy = Literal["ignore", "error"]
MissingValuesPolicy = Literal["error", "drop_rows"]
EventValue = str | int | float | bool

DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 30.4375}
"""Duration units a source may use; converted to days (a month is 365.25 / 12 days)."""

CANONICAL_ID = "customer_id"
CANONICAL_DURATION = "duration_days"
CANONICAL_EVENT = "event"

# Usual "churned" flags and their "still a customer" counterpart, used when the config does not
# list ``event_censored_values`` explicitly.
_CENSORED_FOR: dict[Any, tuple[EventValue, ...]] = {
    1: (0,),
    "1": ("0",),
    "Yes": ("No",),
    "yes": ("no",),
    "YES": ("NO",),
    "Y": ("N",),
    "y": ("n",),
    "true": ("false",),
    "True": ("False",),
    "TRUE": ("FALSE",),
}


@dataclass(frozen=True)
class SourceConfig:
    """Where the weekly customer snapshot is read from.

    ``path`` for CSV/Parquet files; ``table`` (optionally ``schema.table``) or ``query`` (with
    bound parameters such as ``:week``) for PostgreSQL, whose SQLAlchemy URL is read from the
    environment variable ``url_env``. ``week_column`` selects one weekly snapshot.
    """

    kind: SourceKind
    path: Path | None = None
    table: str | None = None
    query: str | None = None
    url_env: str | None = None
    week_column: str | None = None


@dataclass(frozen=True)
class ColumnMapping:
    """Which source columns are the customer id, tenure, churn flag and features.

    ``event_value`` is the churn flag value meaning "churned"; ``event_censored_values`` the
    values meaning "still a customer" (inferred for the usual Yes/No, 1/0, true/false flags
    when omitted). Any other value is an error. ``features="all"`` means every column not used
    as id/duration/event and not dropped.
    """

    id: str
    duration: str
    event: str
    event_value: EventValue = 1
    event_censored_values: tuple[EventValue, ...] | None = None
    time_unit: TimeUnit = "days"
    features: Literal["all"] | tuple[str, ...] = "all"
    categorical: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_mapping(self, origin="column mapping")

    @property
    def censored_values(self) -> tuple[EventValue, ...]:
        """Values of the churn flag that mean "still a customer"."""
        if self.event_censored_values is not None:
            return self.event_censored_values
        return _default_censored(self.event_value, origin="column mapping")

    @property
    def days_per_unit(self) -> float:
        """Days in one unit of the source's duration column."""
        return DAYS_PER_UNIT[self.time_unit]


@dataclass(frozen=True)
class Policies:
    """What to do with columns outside the contract and with rows that have missing values.

    ``missing_values="drop_rows"`` removes such rows and logs how many; the default is an error.
    """

    extra_columns: ExtraColumnsPolicy = "ignore"
    missing_values: MissingValuesPolicy = "error"


@dataclass(frozen=True)
class DataSourceConfig:
    """A parsed data source config; ``origin`` names the file for error messages."""

    source: SourceConfig
    columns: ColumnMapping
    policies: Policies = field(default_factory=Policies)
    origin: str = "<data source config>"


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

_TOP_KEYS = {"source": True, "columns": True, "policies": False}
_SOURCE_KEYS = {"kind", "path", "table", "query", "url_env", "week_column"}
_COLUMN_KEYS = {
    "id",
    "duration",
    "event",
    "event_value",
    "event_censored_values",
    "time_unit",
    "features",
    "categorical",
    "drop",
}
_POLICY_KEYS = {"extra_columns", "missing_values"}


def parse_data_config(
    raw: object, *, origin: str, base_dir: Path | None = None
) -> DataSourceConfig:
    """Turn a loaded YAML document into a :class:`DataSourceConfig`.

    Unknown keys, missing required keys, wrong types and bad enum values raise
    :class:`DataSourceConfigError` naming ``origin`` (the file) and the key. A relative
    ``source.path`` is resolved against ``base_dir`` (the config file's folder).
    """
    top = _mapping(raw, "<top level>", origin)
    _check_keys(top, set(_TOP_KEYS), "", origin)
    for key, required in _TOP_KEYS.items():
        if required and key not in top:
            raise DataSourceConfigError(f"{origin}: missing required key '{key}'")

    src = _mapping(top["source"], "source", origin)
    _check_keys(src, _SOURCE_KEYS, "source.", origin)
    kind = _enum(src, "kind", get_args(SourceKind), "source.", origin, required=True)
    path = _opt_str(src, "path", "source.", origin)
    table = _opt_str(src, "table", "source.", origin)
    query = _opt_str(src, "query", "source.", origin)
    url_env = _opt_str(src, "url_env", "source.", origin)
    week_column = _opt_str(src, "week_column", "source.", origin)
    if kind in ("csv", "parquet"):
        if path is None:
            raise DataSourceConfigError(f"{origin}: key 'source.path' is required for kind {kind}")
        for key, value in (("table", table), ("query", query), ("url_env", url_env)):
            if value is not None:
                raise DataSourceConfigError(
                    f"{origin}: key 'source.{key}' is only valid for kind postgres, not {kind}"
                )
    else:
        if path is not None:
            raise DataSourceConfigError(
                f"{origin}: key 'source.path' is only valid for kind csv/parquet, not postgres"
            )
        if (table is None) == (query is None):
            raise DataSourceConfigError(
                f"{origin}: kind postgres needs exactly one of 'source.table' or 'source.query'"
            )
        if url_env is None:
            raise DataSourceConfigError(
                f"{origin}: key 'source.url_env' is required for kind postgres (the name of the "
                "environment variable holding the database URL; never put the URL in the file)"
            )
        if "://" in url_env:
            raise DataSourceConfigError(
                f"{origin}: key 'source.url_env' must name an environment variable, not contain "
                "a database URL (secrets stay out of config files)"
            )
    resolved: Path | None = None
    if path is not None:
        resolved = Path(path).expanduser()
        if not resolved.is_absolute() and base_dir is not None:
            resolved = base_dir / resolved
    source = SourceConfig(
        kind=kind,  # type: ignore[arg-type]
        path=resolved,
        table=table,
        query=query,
        url_env=url_env,
        week_column=week_column,
    )

    cols = _mapping(top["columns"], "columns", origin)
    _check_keys(cols, _COLUMN_KEYS, "columns.", origin)
    ids = {k: _req_str(cols, k, "columns.", origin) for k in ("id", "duration", "event")}
    event_value = cols.get("event_value", 1)
    if not isinstance(event_value, str | int | float | bool) or event_value is None:
        raise DataSourceConfigError(
            f"{origin}: key 'columns.event_value' must be a single value, got {event_value!r}"
        )
    censored: tuple[EventValue, ...] | None = None
    if "event_censored_values" in cols:
        raw_censored = cols["event_censored_values"]
        if not isinstance(raw_censored, list) or not raw_censored:
            raise DataSourceConfigError(
                f"{origin}: key 'columns.event_censored_values' must be a non-empty list"
            )
        censored = tuple(raw_censored)
    else:
        _default_censored(event_value, origin=f"{origin}: key 'columns.event_censored_values'")
    features_raw = cols.get("features", "all")
    features: Literal["all"] | tuple[str, ...]
    if features_raw == "all":
        features = "all"
    else:
        features = _str_list(features_raw, "columns.features", origin, allow_all=True)
    drop = _str_list(cols.get("drop", []), "columns.drop", origin)
    if week_column is not None and week_column not in drop and week_column not in features:
        drop = (*drop, week_column)  # the snapshot date is not a customer attribute
    mapping = _build_mapping(
        origin,
        id=ids["id"],
        duration=ids["duration"],
        event=ids["event"],
        event_value=event_value,
        event_censored_values=censored,
        time_unit=_enum(cols, "time_unit", get_args(TimeUnit), "columns.", origin) or "days",
        features=features,
        categorical=_str_list(cols.get("categorical", []), "columns.categorical", origin),
        drop=drop,
    )

    pol = _mapping(top.get("policies", {}) or {}, "policies", origin)
    _check_keys(pol, _POLICY_KEYS, "policies.", origin)
    policies = Policies(
        extra_columns=_enum(  # type: ignore[arg-type]
            pol, "extra_columns", get_args(ExtraColumnsPolicy), "policies.", origin
        )
        or "ignore",
        missing_values=_enum(  # type: ignore[arg-type]
            pol, "missing_values", get_args(MissingValuesPolicy), "policies.", origin
        )
        or "error",
    )
    return DataSourceConfig(source=source, columns=mapping, policies=policies, origin=origin)


def mapping_from_cli(
    id_column: str,
    duration_column: str,
    event_column: str,
    event_value: str,
    time_unit: str = "days",
    drop_columns: Sequence[str] = (),
    event_censored_values: Sequence[str] | None = None,
) -> ColumnMapping:
    """Column mapping from command-line flags (``churn-platform backtest --id customerID ...``).

    ``event_value`` is given as text: an integer literal (``1``) or ``true``/``false`` is read
    as that number/boolean, anything else stays text (``Yes``). All other columns are features.
    """
    origin = "command line"
    if time_unit not in DAYS_PER_UNIT:
        raise DataSourceConfigError(
            f"{origin}: time unit {time_unit!r} is not one of {', '.join(DAYS_PER_UNIT)}"
        )
    value = _parse_cli_value(event_value)
    censored = (
        None
        if event_censored_values is None
        else tuple(_parse_cli_value(v) for v in event_censored_values)
    )
    if censored is None:
        _default_censored(value, origin=f"{origin}: event censored values")
    return _build_mapping(
        origin,
        id=id_column,
        duration=duration_column,
        event=event_column,
        event_value=value,
        event_censored_values=censored,
        time_unit=time_unit,
        features="all",
        categorical=(),
        drop=tuple(drop_columns),
    )


# --------------------------------------------------------------------------------------------
# Mapping a raw table onto the canonical frame
# --------------------------------------------------------------------------------------------


def apply_mapping(
    raw_df: pd.DataFrame,
    columns: ColumnMapping,
    policies: Policies | None = None,
    *,
    contract: FeatureContract | None = None,
) -> tuple[pd.DataFrame, FeatureContract]:
    """Map a company's customer table onto the canonical training frame and its contract.

    Renames the id/duration/event columns to ``customer_id``/``duration_days``/``event``,
    converts the duration to days, maps the churn flag to 1 (churned) / 0 (still a customer),
    drops the ``drop`` columns, and validates the result against ``contract`` — or, when none is
    given (first training on this data), a contract inferred from the data (categoricals with
    their observed levels, numerics unbounded).

    Raises :class:`EmptyPartitionError` for a table without rows and
    :class:`~churn_platform.domain.schema.ContractViolation` naming column, example values and
    row count for every problem (missing columns, unknown churn flag values, NaN, inf,
    non-positive durations, duplicate ids, ...).
    """
    policies = policies or Policies()
    if len(raw_df) == 0:
        raise EmptyPartitionError(
            "the customer table has no rows "
            f"(columns: {', '.join(map(str, raw_df.columns)) or 'none'})"
        )
    _require_columns(raw_df, columns)

    df = raw_df.drop(columns=list(columns.drop))
    role_of = {columns.id: CANONICAL_ID, columns.duration: CANONICAL_DURATION}
    role_of[columns.event] = CANONICAL_EVENT
    clashes = [
        c
        for c in (CANONICAL_ID, CANONICAL_DURATION, CANONICAL_EVENT)
        if c in df and c not in role_of
    ]
    if clashes:
        raise ContractViolation.from_records(
            [
                {
                    "column": c,
                    "check": "name_clash",
                    "failure_case": [c],
                    "n_rows": 0,
                    "example_rows": [],
                    "description": (
                        f"column {c!r}: this name is reserved for the mapped id/duration/event "
                        "column; drop or rename it"
                    ),
                }
                for c in clashes
            ]
        )
    df = df.rename(columns=role_of)
    if columns.features == "all":
        feature_cols = [c for c in df.columns if c not in role_of.values()]
    else:
        feature_cols = list(columns.features)
    used = [CANONICAL_ID, CANONICAL_DURATION, CANONICAL_EVENT, *feature_cols]
    if policies.extra_columns == "ignore":
        ignored = [str(c) for c in df.columns if c not in used]
        if ignored:
            logger.warning(
                "column(s) %s are not mapped to id/duration/event or a feature; ignored "
                "(policies.extra_columns: ignore; set it to error to refuse such data)",
                ignored,
            )

    if policies.missing_values == "drop_rows":
        df = _drop_rows_with_missing_values(df, used, columns)

    df[CANONICAL_EVENT] = _map_event(df[CANONICAL_EVENT], columns)

    duration = df[CANONICAL_DURATION]
    if pd.api.types.is_numeric_dtype(duration.dtype) and not pd.api.types.is_bool_dtype(
        duration.dtype
    ):
        df[CANONICAL_DURATION] = duration.astype("float64") * columns.days_per_unit

    explicit_cats = [c for c in columns.categorical if c in df.columns]
    for name in feature_cols:
        s = df[name]
        if name in explicit_cats or pd.api.types.is_bool_dtype(s.dtype):
            df[name] = _as_text(s)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            df[name] = _as_text(s.astype("object"))
        elif pd.api.types.is_object_dtype(s.dtype) and _mixed_scalars(s):
            df[name] = _as_text(s)  # e.g. a nullable boolean column read from PostgreSQL

    if contract is None:
        contract = infer_contract(
            df[used],
            id_column=CANONICAL_ID,
            duration_column=CANONICAL_DURATION,
            event_column=CANONICAL_EVENT,
            categorical=explicit_cats,
        )
    try:
        validated = contract.validate(df, with_target=True, extra_columns=policies.extra_columns)
    except ContractViolation as exc:
        raise ContractViolation(exc.failures, header=_mapping_header(columns)) from None
    return validated, contract


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, columns: ColumnMapping) -> None:
    wanted: list[tuple[str, str]] = [
        ("columns.id", columns.id),
        ("columns.duration", columns.duration),
        ("columns.event", columns.event),
    ]
    if columns.features != "all":
        wanted += [("columns.features", c) for c in columns.features]
    wanted += [("columns.categorical", c) for c in columns.categorical]
    wanted += [("columns.drop", c) for c in columns.drop]
    available = ", ".join(map(str, df.columns))
    records = [
        {
            "column": name,
            "check": "column_in_dataframe",
            "failure_case": [name],
            "n_rows": 0,
            "example_rows": [],
            "description": (
                f"column {name!r} (from {key}): missing from the data; available columns: "
                f"{available}"
            ),
        }
        for key, name in wanted
        if name not in df.columns
    ]
    if records:
        raise ContractViolation.from_records(
            records,
            header="the customer table does not have the columns the mapping refers to:",
        )


def _drop_rows_with_missing_values(
    df: pd.DataFrame, used: list[str], columns: ColumnMapping
) -> pd.DataFrame:
    present = [c for c in used if c in df.columns]
    missing = df[present].isna()
    bad = missing.any(axis=1)
    n_bad = int(bad.sum())
    if n_bad:
        per_column = missing.sum()
        detail = ", ".join(f"{c}: {int(n)}" for c, n in per_column.items() if n)
        logger.warning(
            "missing_values=drop_rows: dropped %d of %d customer rows with missing values (%s)",
            n_bad,
            len(df),
            detail,
        )
    kept = df.loc[~bad]
    if len(kept) == 0:
        raise EmptyPartitionError(
            f"missing_values=drop_rows dropped all {len(df)} rows: every customer has a missing "
            "value in a used column"
        )
    return kept


def _map_event(s: pd.Series, columns: ColumnMapping) -> pd.Series:
    """Churn flag → 1 (churned) / 0 (still a customer); any other value is an error."""
    censored = list(columns.censored_values)
    is_event = s.isin([columns.event_value])
    is_censored = s.isin(censored) & ~is_event
    unknown = ~(is_event | is_censored)
    if unknown.any():
        bad = s[unknown]
        examples = list(dict.fromkeys(repr(v) if not pd.isna(v) else "NaN" for v in bad))
        rows = bad.index.tolist()
        n = len(rows)
        hint = ""
        if isinstance(columns.event_value, bool) and any(isinstance(v, str) for v in bad):
            hint = (
                "; note: YAML reads unquoted Yes/No/true/false as booleans — quote the value, "
                'e.g. event_value: "Yes"'
            )
        allowed = ", ".join(repr(v) for v in censored)
        desc = (
            f"column {columns.event!r} (event): {n} row{'s' if n != 1 else ''} with values "
            f"outside the churn mapping: {', '.join(examples[:5])}"
            f"{', ...' if len(examples) > 5 else ''} "
            f"({'row' if n == 1 else 'rows'} {', '.join(map(str, rows[:5]))}"
            f"{', ...' if n > 5 else ''}); expected {columns.event_value!r} (churned) or "
            f"{allowed} (still a customer){hint}"
        )
        raise ContractViolation.from_records(
            [
                {
                    "column": columns.event,
                    "check": "event_mapping",
                    "failure_case": list(dict.fromkeys(bad.tolist()))[:5],
                    "n_rows": n,
                    "example_rows": rows[:5],
                    "description": desc,
                }
            ]
        )
    return is_event.astype("int64")


def _as_text(s: pd.Series) -> pd.Series:
    """Declared categorical values as text levels (True → "True", 1 → "1"); NaN stays NaN."""
    return s.map(str, na_action="ignore").astype("object")


def _mixed_scalars(s: pd.Series) -> bool:
    """Object column of booleans/numbers (not only text, and nothing like dates)."""
    kinds = {type(v) for v in s.dropna().unique()}
    scalar = (bool, int, float, np.bool_, np.integer, np.floating)
    return any(k is not str for k in kinds) and all(
        k is str or issubclass(k, scalar) for k in kinds
    )


def _mapping_header(columns: ColumnMapping) -> str:
    unit = "" if columns.time_unit == "days" else f", converted from {columns.time_unit} to days"
    return (
        "the customer table violates the feature contract (columns after mapping: "
        f"{columns.id!r} → '{CANONICAL_ID}', {columns.duration!r} → '{CANONICAL_DURATION}'{unit}, "
        f"{columns.event!r} → '{CANONICAL_EVENT}'):"
    )


def _default_censored(value: EventValue, *, origin: str) -> tuple[EventValue, ...]:
    try:
        found = _CENSORED_FOR.get(value)
    except TypeError:
        found = None
    if found is None:
        raise DataSourceConfigError(
            f"{origin}: cannot tell which churn flag values mean 'still a customer' when the "
            f"churned value is {value!r}; list them in event_censored_values"
        )
    if isinstance(value, bool):
        return (not value,)
    return found


def _check_mapping(m: ColumnMapping, *, origin: str) -> None:
    roles = {"id": m.id, "duration": m.duration, "event": m.event}
    if len(set(roles.values())) != 3:
        raise DataSourceConfigError(
            f"{origin}: id, duration and event must be three different columns, got {roles}"
        )
    if m.time_unit not in DAYS_PER_UNIT:
        raise DataSourceConfigError(
            f"{origin}: key 'columns.time_unit': {m.time_unit!r} is not one of "
            f"{', '.join(DAYS_PER_UNIT)}"
        )
    for key, name in roles.items():
        if name in m.drop:
            raise DataSourceConfigError(
                f"{origin}: key 'columns.drop' lists {name!r}, which is the {key} column"
            )
        if m.features != "all" and name in m.features:
            raise DataSourceConfigError(
                f"{origin}: key 'columns.features' lists {name!r}, which is the {key} column"
            )
    if m.features != "all":
        dropped = sorted(set(m.features) & set(m.drop))
        if dropped:
            raise DataSourceConfigError(
                f"{origin}: columns {dropped} are listed both in 'columns.features' and "
                "'columns.drop'"
            )
    if m.event_censored_values is not None and m.event_value in m.event_censored_values:
        raise DataSourceConfigError(
            f"{origin}: key 'columns.event_censored_values' contains the churned value "
            f"{m.event_value!r}"
        )


def _build_mapping(origin: str, **kwargs: Any) -> ColumnMapping:
    try:
        return ColumnMapping(**kwargs)
    except DataSourceConfigError as exc:
        raise DataSourceConfigError(str(exc).replace("column mapping", origin, 1)) from None


def _parse_cli_value(text: str) -> EventValue:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        return text


def _mapping(value: object, key: str, origin: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DataSourceConfigError(
            f"{origin}: key '{key}' must be a mapping of keys to values, got {type(value).__name__}"
        )
    return value


def _check_keys(section: Mapping[str, Any], allowed: set[str], prefix: str, origin: str) -> None:
    unknown = sorted(str(k) for k in section if k not in allowed)
    if unknown:
        raise DataSourceConfigError(
            f"{origin}: unknown key '{prefix}{unknown[0]}'"
            + (f" (and {', '.join(prefix + k for k in unknown[1:])})" if unknown[1:] else "")
            + f"; allowed keys: {', '.join(sorted(prefix + k for k in allowed))}"
        )


def _opt_str(section: Mapping[str, Any], key: str, prefix: str, origin: str) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DataSourceConfigError(
            f"{origin}: key '{prefix}{key}' must be a non-empty string, got {value!r}"
        )
    return value


def _req_str(section: Mapping[str, Any], key: str, prefix: str, origin: str) -> str:
    value = _opt_str(section, key, prefix, origin)
    if value is None:
        raise DataSourceConfigError(f"{origin}: missing required key '{prefix}{key}'")
    return value


def _enum(
    section: Mapping[str, Any],
    key: str,
    allowed: tuple[str, ...],
    prefix: str,
    origin: str,
    *,
    required: bool = False,
) -> str | None:
    value = section.get(key)
    if value is None:
        if required:
            raise DataSourceConfigError(
                f"{origin}: missing required key '{prefix}{key}' (one of {', '.join(allowed)})"
            )
        return None
    if value not in allowed:
        raise DataSourceConfigError(
            f"{origin}: key '{prefix}{key}': {value!r} is not one of {', '.join(allowed)}"
        )
    return str(value)


def _str_list(value: object, key: str, origin: str, *, allow_all: bool = False) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    expected = "'all' or a list of column names" if allow_all else "a list of column names"
    raise DataSourceConfigError(f"{origin}: key '{key}' must be {expected}, got {value!r}")
