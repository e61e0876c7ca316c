"""The feature contract: which customer attributes a weekly snapshot must carry, and their limits.

A :class:`FeatureContract` declares every model input (numeric with an allowed range, or
categorical with its allowed levels), the customer id column and — for training data — the
survival target (how long the customer has been observed, and whether they churned).

Validation is done by **pandera** with ``lazy=True``: every failing column and row is collected
and reported at once in a :class:`ContractViolation`, one human-readable line per problem, e.g.::

    column 'monthly_charges': 3 rows with missing values (NaN) (rows 4, 17, 20; customer_id C4, ...)

Nothing is silently coerced: a text value in a numeric column is an error that names the value.
The only conversions applied are lossless dtype widenings (``int32`` → ``int64``, ``int`` →
``float64`` for a float feature, a whole-number ``float`` column → ``int64`` for an integer
feature) so that a CSV column of whole numbers satisfies a float feature.

A numeric value must also be one the model and the tables can hold (:data:`FLOAT32_MAX`,
:data:`INT64_MIN`/:data:`INT64_MAX`): XGBoost reads every feature as ``float32`` (``1e39`` would
become ``inf`` inside the booster) and integer features are stored as ``int64`` (a ``uint64`` of
``2**63`` would wrap to a negative number). Such values, booleans in a numeric column and
fractions in an integer column are named errors, never converted.

Pure domain code: no I/O.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from churn_platform.errors import DataContractError, EmptyPartitionError

__all__ = [
    "DEFAULT_CONTRACT",
    "CategoricalFeature",
    "ContractViolation",
    "Feature",
    "FeatureContract",
    "NumericFeature",
    "infer_contract",
]

CONTRACT_FORMAT_VERSION = 1
DEFAULT_HORIZONS: tuple[int, ...] = (30, 90, 180)
"""Days ahead the churn probabilities are predicted for (``churn_prob_<h>d``): the one place
the defaults live (training, backtest, the predictions table, the Dagster resources, CLI)."""
_MAX_EXAMPLES = 5

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Largest magnitude a float feature may take: XGBoost converts its input to ``float32``."""
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
"""Bounds of an integer feature (stored and scored as ``int64``)."""

# Names of the checks we attach to pandera columns; ``ContractViolation`` turns them into prose.
_CHECK_FINITE = "finite_values"
_CHECK_RANGE = "allowed_range"
_CHECK_INTEGER = "integer_valued"
_CHECK_LEVELS = "known_category"
_CHECK_TEXT_DTYPE = "text_dtype"
_CHECK_NUMERIC_DTYPE = "numeric_dtype"
_CHECK_POSITIVE_DURATION = "positive_duration"
_CHECK_EVENT = "event_is_0_or_1"
_CHECK_FLOAT32 = "within_float32"
_CHECK_INT64 = "within_int64"
_CHECK_NOT_BOOL = "not_boolean"
# Checks whose line already explains why the column could not take the contract's dtype.
_EXPLAINS_DTYPE = frozenset({_CHECK_INT64, _CHECK_NOT_BOOL})


# --------------------------------------------------------------------------------------------
# Contract declaration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumericFeature:
    """A numeric customer attribute (charges, usage, counts) with an optional allowed range.

    ``min``/``max`` are inclusive bounds; ``integer=True`` means counts or flags (stored int64).
    """

    name: str
    min: float | None = None
    max: float | None = None
    integer: bool = False

    def __post_init__(self) -> None:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise DataContractError(
                f"feature '{self.name}': min {self.min} is greater than max {self.max}"
            )

    def describe_range(self) -> str:
        """The allowed range in interval notation, e.g. ``[10, 200]`` or ``>= 0``."""
        if self.min is not None and self.max is not None:
            return f"[{_fmt_number(self.min)}, {_fmt_number(self.max)}]"
        if self.min is not None:
            return f">= {_fmt_number(self.min)}"
        if self.max is not None:
            return f"<= {_fmt_number(self.max)}"
        return "any finite value"

    def storable_bounds(self) -> tuple[float | int, float | int]:
        """The inclusive range a value must lie in: the contract's range intersected with what
        the model reads (``float32``) or the table stores (``int64``) for this feature."""
        if self.integer:
            lo: float | int = INT64_MIN
            hi: float | int = INT64_MAX
            if self.min is not None:
                lo = max(lo, math.ceil(self.min))
            if self.max is not None:
                hi = min(hi, math.floor(self.max))
            return lo, hi
        lo, hi = -FLOAT32_MAX, FLOAT32_MAX
        if self.min is not None:
            lo = max(lo, self.min)
        if self.max is not None:
            hi = min(hi, self.max)
        return lo, hi


@dataclass(frozen=True)
class CategoricalFeature:
    """A customer attribute taking one of a fixed set of levels (contract type, region, ...)."""

    name: str
    categories: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.categories:
            raise DataContractError(f"feature '{self.name}': a categorical needs at least 1 level")
        if len(set(self.categories)) != len(self.categories):
            raise DataContractError(f"feature '{self.name}': duplicated category levels")


Feature = NumericFeature | CategoricalFeature


@dataclass(frozen=True)
class FeatureContract:
    """What a customer snapshot must look like for the churn model to train on or score it.

    ``features`` are the model inputs in model order. ``id_column`` identifies a customer (unique
    per snapshot). For training data, ``duration_column`` is how long the customer has been
    observed, in days, and ``event_column`` is 1 if they churned at that time, 0 if still active
    (censored).
    """

    features: tuple[Feature, ...]
    id_column: str = "customer_id"
    duration_column: str = "duration_days"
    event_column: str = "event"

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DataContractError(f"feature contract declares {dupes} more than once")
        reserved = {self.id_column, self.duration_column, self.event_column}
        if len(reserved) != 3:
            raise DataContractError(
                "id, duration and event columns must be three different columns, got "
                f"{self.id_column!r}, {self.duration_column!r}, {self.event_column!r}"
            )
        clash = sorted(reserved.intersection(names))
        if clash:
            raise DataContractError(
                f"feature(s) {clash} reuse the name of the id/duration/event column"
            )

    # -- views ---------------------------------------------------------------------------

    @property
    def feature_names(self) -> tuple[str, ...]:
        """All model inputs, in contract order."""
        return tuple(f.name for f in self.features)

    @property
    def numeric_features(self) -> tuple[str, ...]:
        """Names of the numeric model inputs, in contract order."""
        return tuple(f.name for f in self.features if isinstance(f, NumericFeature))

    @property
    def categorical_features(self) -> tuple[str, ...]:
        """Names of the categorical model inputs, in contract order."""
        return tuple(f.name for f in self.features if isinstance(f, CategoricalFeature))

    def output_columns(self, *, with_target: bool) -> list[str]:
        """Columns of a validated frame: id, (duration, event), then the features."""
        head = [self.id_column]
        if with_target:
            head += [self.duration_column, self.event_column]
        return head + list(self.feature_names)

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, logged with each model so scoring checks the same contract."""
        features: list[dict[str, Any]] = []
        for f in self.features:
            if isinstance(f, NumericFeature):
                features.append(
                    {
                        "name": f.name,
                        "kind": "numeric",
                        "min": f.min,
                        "max": f.max,
                        "integer": f.integer,
                    }
                )
            else:
                features.append(
                    {"name": f.name, "kind": "categorical", "categories": list(f.categories)}
                )
        return {
            "format_version": CONTRACT_FORMAT_VERSION,
            "id_column": self.id_column,
            "duration_column": self.duration_column,
            "event_column": self.event_column,
            "features": features,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureContract:
        """Rebuild a contract from :meth:`to_dict` output (e.g. read back from MLflow)."""
        try:
            version = d.get("format_version", CONTRACT_FORMAT_VERSION)
            if version != CONTRACT_FORMAT_VERSION:
                raise DataContractError(
                    f"feature contract format_version {version} is not supported "
                    f"(expected {CONTRACT_FORMAT_VERSION})"
                )
            features: list[Feature] = []
            for i, raw in enumerate(d["features"]):
                kind = raw.get("kind")
                if kind == "numeric":
                    features.append(
                        NumericFeature(
                            name=str(raw["name"]),
                            min=None if raw.get("min") is None else float(raw["min"]),
                            max=None if raw.get("max") is None else float(raw["max"]),
                            integer=bool(raw.get("integer", False)),
                        )
                    )
                elif kind == "categorical":
                    features.append(
                        CategoricalFeature(
                            name=str(raw["name"]),
                            categories=tuple(str(c) for c in raw["categories"]),
                        )
                    )
                else:
                    raise DataContractError(
                        f"feature contract: features[{i}] has unknown kind {kind!r} "
                        "(expected 'numeric' or 'categorical')"
                    )
            return cls(
                features=tuple(features),
                id_column=str(d.get("id_column", "customer_id")),
                duration_column=str(d.get("duration_column", "duration_days")),
                event_column=str(d.get("event_column", "event")),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise DataContractError(f"feature contract is malformed: {exc!r}") from exc

    # -- validation ----------------------------------------------------------------------

    def pandera_schema(self, *, with_target: bool) -> pa.DataFrameSchema:
        """The pandera schema for this contract (also shown in the Dagster UI).

        Extra columns are allowed here; :meth:`validate` applies the extra-columns policy.
        """
        return self._schema(with_target=with_target, strict=False)

    def validate(
        self,
        df: pd.DataFrame,
        *,
        with_target: bool = False,
        extra_columns: Literal["ignore", "error"] = "ignore",
    ) -> pd.DataFrame:
        """Check a snapshot against the contract and return it in canonical form.

        Returns the id column (then duration and event when ``with_target``) and the features in
        contract order; categoricals as pandas ``Categorical`` with the declared levels, numeric
        features as float64 (int64 for integer features), duration float64, event int64.

        Raises :class:`EmptyPartitionError` for a frame without rows and
        :class:`ContractViolation` listing every failure otherwise.
        """
        if extra_columns not in ("ignore", "error"):
            raise ValueError(f"extra_columns must be 'ignore' or 'error', got {extra_columns!r}")
        if len(df) == 0:
            raise EmptyPartitionError(
                f"the customer snapshot has no rows (columns: {', '.join(map(str, df.columns))})"
            )
        prepared = self._widen_dtypes(df, with_target=with_target)
        schema = self._schema(with_target=with_target, strict=extra_columns == "error")
        try:
            with warnings.catch_warnings():
                # pandera concatenates per-check failure cases, some all-NA (e.g. the missing
                # value itself); pandas >= 2.1 warns that such concatenation will change. The
                # result is only used for the error report, so the warning carries no meaning.
                warnings.filterwarnings(
                    "ignore",
                    message="The behavior of DataFrame concatenation with empty or all-NA",
                    category=FutureWarning,
                )
                schema.validate(prepared, lazy=True)
        except SchemaErrors as exc:
            raise ContractViolation.from_pandera(exc.failure_cases, prepared, self) from None
        return self._canonical(prepared, with_target=with_target)

    # -- internals -----------------------------------------------------------------------

    def _schema(self, *, with_target: bool, strict: bool) -> pa.DataFrameSchema:
        columns: dict[str, pa.Column] = {
            self.id_column: pa.Column(
                None, nullable=False, unique=True, description="customer identifier"
            )
        }
        if with_target:
            columns[self.duration_column] = pa.Column(
                None,
                checks=[
                    _numeric_dtype_check(),
                    _finite_check(),
                    _float32_check(),
                    pa.Check(
                        lambda s: _as_float(s).gt(0) | ~np.isfinite(_as_float(s)),
                        name=_CHECK_POSITIVE_DURATION,
                    ),
                ],
                nullable=False,
                description="days observed: until churn (event=1) or until the snapshot (0)",
            )
            columns[self.event_column] = pa.Column(
                None,
                checks=[
                    pa.Check(
                        lambda s: s.isin([0, 1]),
                        name=_CHECK_EVENT,
                    )
                ],
                nullable=False,
                description="1 = churned at duration, 0 = still a customer (censored)",
            )
        for f in self.features:
            if isinstance(f, NumericFeature):
                checks = [_not_bool_check(), _finite_check()]
                if f.integer:
                    checks += [_integer_check(), _int64_check()]
                else:
                    checks.append(_float32_check())
                if f.min is not None or f.max is not None:
                    checks.append(_range_check(f))
                columns[f.name] = pa.Column(
                    "int64" if f.integer else "float64",
                    checks=checks,
                    nullable=False,
                    description=f"numeric, {f.describe_range()}",
                )
            else:
                levels = list(f.categories)
                columns[f.name] = pa.Column(
                    None,
                    checks=[
                        pa.Check(
                            lambda s: bool(
                                pd.api.types.is_object_dtype(s.dtype)
                                or pd.api.types.is_string_dtype(s.dtype)
                                or isinstance(s.dtype, pd.CategoricalDtype)
                            ),
                            name=_CHECK_TEXT_DTYPE,
                        ),
                        pa.Check(
                            lambda s, levels=levels: s.isin(levels),
                            name=_CHECK_LEVELS,
                        ),
                    ],
                    nullable=False,
                    description=f"categorical, levels {levels}",
                )
        return pa.DataFrameSchema(
            columns,
            strict=strict,
            ordered=False,
            name="customer_features" + ("_with_target" if with_target else ""),
        )

    def _widen_dtypes(self, df: pd.DataFrame, *, with_target: bool) -> pd.DataFrame:
        """Lossless dtype widening only; anything else is left for pandera to report."""
        out = df.copy()
        specs: list[tuple[str, bool]] = [
            (f.name, f.integer) for f in self.features if isinstance(f, NumericFeature)
        ]
        if with_target:
            specs += [(self.duration_column, False), (self.event_column, True)]
        for name, integer in specs:
            if name in out.columns:
                out[name] = _widen(out[name], integer=integer)
        return out

    def _canonical(self, df: pd.DataFrame, *, with_target: bool) -> pd.DataFrame:
        out = df.loc[:, self.output_columns(with_target=with_target)].copy()
        if with_target:
            out[self.duration_column] = out[self.duration_column].astype("float64")
            out[self.event_column] = out[self.event_column].astype("int64")
        for f in self.features:
            if isinstance(f, NumericFeature):
                out[f.name] = out[f.name].astype("int64" if f.integer else "float64")
            else:
                out[f.name] = pd.Categorical(
                    out[f.name].astype("object"), categories=list(f.categories)
                )
        return out


# --------------------------------------------------------------------------------------------
# Violations
# --------------------------------------------------------------------------------------------


class ContractViolation(DataContractError):
    """A snapshot breaks the feature contract; the message has one line per failure.

    ``failures`` has one row per (column, check) with columns ``column``, ``check``,
    ``failure_case`` (a few example offending values), ``n_rows`` (rows affected; 0 for
    column-level problems), ``example_rows`` (index labels) and ``description`` (the line shown).
    """

    def __init__(self, failures: pd.DataFrame, header: str = "") -> None:
        self.failures = failures.reset_index(drop=True)
        lines = [str(d) for d in self.failures["description"]]
        head = header or (
            f"the customer snapshot violates the feature contract ({len(lines)} problem"
            f"{'s' if len(lines) != 1 else ''}):"
        )
        super().__init__("\n".join([head, *("  - " + line for line in lines)]))

    @classmethod
    def from_records(
        cls, records: Sequence[Mapping[str, Any]], header: str = ""
    ) -> ContractViolation:
        """Build a violation from explicit failure records (used by the column mapping)."""
        frame = pd.DataFrame(
            list(records),
            columns=["column", "check", "failure_case", "n_rows", "example_rows", "description"],
        )
        return cls(frame, header)

    @classmethod
    def from_pandera(
        cls, cases: pd.DataFrame, df: pd.DataFrame, contract: FeatureContract
    ) -> ContractViolation:
        """Summarise pandera's per-row failure cases into one line per column and check."""
        cases = cases.copy()
        schema_level = cases["schema_context"].astype(str).eq("DataFrameSchema")
        cases.loc[schema_level, "column"] = cases.loc[schema_level, "failure_case"]
        cases["column"] = cases["column"].astype(str)
        cases["check"] = cases["check"].astype(str)
        feature_by_name = {f.name: f for f in contract.features}
        order = {c: i for i, c in enumerate(contract.output_columns(with_target=True))}
        text_dtype_failed = set(cases.loc[cases["check"] == _CHECK_TEXT_DTYPE, "column"])
        # An integer column read as float because of NaN/inf/fractions: the value-level line
        # says why, the "expected int64, got float64" line would only repeat it.
        explained_float = set(
            cases.loc[
                cases["check"].isin([_CHECK_INTEGER, "not_nullable", _CHECK_FINITE]), "column"
            ]
        )
        # A bool, uint64 or oversized value kept the column off int64/float64: its own line
        # names the values, the dtype line would only repeat it.
        explained_dtype = set(cases.loc[cases["check"].isin(_EXPLAINS_DTYPE), "column"])
        records: list[dict[str, Any]] = []
        for (column, check), group in cases.groupby(["column", "check"], sort=False):
            rows = [i for i in group["index"].tolist() if i is not None and not _is_missing(i)]
            rows = _sorted_by_position(list(dict.fromkeys(rows)), df.index)
            if check == _CHECK_LEVELS and column in text_dtype_failed:
                continue  # the wrong dtype already explains why no value is a known level
            if str(check).startswith("dtype(") and column in explained_dtype:
                continue
            if (
                check == "dtype('int64')"
                and column in explained_float
                and column in df.columns
                and pd.api.types.is_float_dtype(df[column].dtype)
            ):
                continue
            values = _distinct_examples(group["failure_case"].tolist())
            n_rows = len(rows)
            desc = _describe(
                str(column),
                str(check),
                values,
                rows,
                df,
                contract,
                feature_by_name.get(str(column)),
            )
            records.append(
                {
                    "column": column,
                    "check": check,
                    "failure_case": values[:_MAX_EXAMPLES],
                    "n_rows": n_rows,
                    "example_rows": rows[:_MAX_EXAMPLES],
                    "description": desc,
                    "_order": order.get(str(column), len(order)),
                }
            )
        records.sort(key=lambda r: r["_order"])
        for r in records:
            del r["_order"]
        return cls.from_records(records)


def _describe(
    column: str,
    check: str,
    values: list[Any],
    rows: list[Any],
    df: pd.DataFrame,
    contract: FeatureContract,
    feature: Feature | None,
) -> str:
    """One human-readable line for a (column, check) failure."""
    where = _where(rows, df, contract)
    n = len(rows)
    shown = _fmt_values(values)
    col = f"column {column!r}"
    if check == "column_in_dataframe":
        return f"{col}: missing from the data (required by the feature contract)"
    if check == "column_in_schema":
        return (
            f"{col}: not part of the feature contract (extra_columns='error'); "
            "drop it or set extra_columns to 'ignore'"
        )
    actual = str(df[column].dtype) if column in df.columns else "?"
    if check.startswith("dtype("):
        expected = check[len("dtype(") : -1].strip("'\"")
        if values and not (len(values) == 1 and str(values[0]) == actual):
            return (
                f"{col}: expected dtype {expected}, got {actual}; {n} row{_s(n)} with values "
                f"that are not valid {expected}: {shown}{where}"
            )
        hint = ""
        if column in df.columns and pd.api.types.is_object_dtype(df[column].dtype):
            hint = " (numbers stored as text? convert the column explicitly)"
        return f"{col}: expected dtype {expected}, got {actual}{hint}"
    if check == _CHECK_NUMERIC_DTYPE:
        bad = _non_numeric_examples(df[column]) if column in df.columns else []
        extra = f"; non-numeric values: {_fmt_values(bad)}" if bad else ""
        return f"{col}: expected numeric values, got dtype {actual}{extra}"
    if check == _CHECK_TEXT_DTYPE:
        return (
            f"{col}: expected text values for a categorical, got dtype {actual}; "
            "declare the column as categorical in the mapping or fix the data"
        )
    if check == "not_nullable":
        return f"{col}: {n} row{_s(n)} with missing values (NaN){where}"
    if check == _CHECK_FINITE:
        return f"{col}: {n} row{_s(n)} with infinite values {shown}{where}"
    if check == _CHECK_RANGE and isinstance(feature, NumericFeature):
        return (
            f"{col}: {n} row{_s(n)} outside the allowed range {feature.describe_range()}: "
            f"values {shown}{where}"
        )
    if check == _CHECK_INTEGER:
        return f"{col}: {n} row{_s(n)} with non-integer values {shown}{where}"
    if check == _CHECK_FLOAT32:
        return (
            f"{col}: {n} row{_s(n)} beyond the float32 range the model reads "
            f"(|x| <= {FLOAT32_MAX:.7g}): values {shown}{where}"
        )
    if check == _CHECK_INT64:
        return (
            f"{col}: {n} row{_s(n)} beyond the int64 range of an integer feature "
            f"[{INT64_MIN}, {INT64_MAX}]: values {shown}{where}"
        )
    if check == _CHECK_NOT_BOOL:
        return (
            f"{col}: {n} row{_s(n)} with boolean values {shown}{where} in a numeric feature; "
            "convert them to 0/1 explicitly or declare the column categorical"
        )
    if check == _CHECK_LEVELS and isinstance(feature, CategoricalFeature):
        return (
            f"{col}: {n} row{_s(n)} with unknown category levels {shown}{where}; "
            f"allowed: {_fmt_values(list(feature.categories), limit=20)}"
        )
    if check == "field_uniqueness":
        return f"{col}: {n} rows share a duplicated id, e.g. {shown}{where}"
    if check == _CHECK_POSITIVE_DURATION:
        return (
            f"{col}: {n} row{_s(n)} with a duration <= 0 days: values {shown}{where}; "
            "every customer must have been observed for a positive time"
        )
    if check == _CHECK_EVENT:
        return (
            f"{col}: {n} row{_s(n)} with event values outside {{0, 1}}: {shown}{where} "
            "(1 = churned, 0 = still a customer)"
        )
    return f"{col}: check {check} failed for {n} row{_s(n)}: values {shown}{where}"


def _where(rows: list[Any], df: pd.DataFrame, contract: FeatureContract) -> str:
    if not rows:
        return ""
    shown = rows[:_MAX_EXAMPLES]
    more = ", ..." if len(rows) > _MAX_EXAMPLES else ""
    text = f" ({'row' if len(rows) == 1 else 'rows'} {', '.join(map(str, shown))}{more}"
    id_col = contract.id_column
    if id_col in df.columns and df.index.is_unique:
        present = [r for r in shown if r in df.index]
        ids = df.loc[present, id_col].tolist()
        if ids:
            text += f"; {id_col} {', '.join(map(str, ids))}{more}"
    return text + ")"


# --------------------------------------------------------------------------------------------
# Bring-your-own data: infer a contract
# --------------------------------------------------------------------------------------------


def infer_contract(
    df: pd.DataFrame,
    *,
    id_column: str,
    duration_column: str,
    event_column: str,
    categorical: list[str] | None = None,
    max_levels: int = 50,
) -> FeatureContract:
    """Derive a contract from a customer table when the user says "all other columns".

    Every column other than id/duration/event becomes a feature: text, category and boolean
    columns (and those listed in ``categorical``) become categorical with their observed levels
    (as text, sorted); numeric columns become unbounded numeric features (integer if stored as
    integers). A text column whose values are mostly numbers is taken as numeric, so a typo such
    as ``"12a"`` is reported rather than turning the column into a category; list such a column
    in ``categorical`` if it really holds codes. A categorical with more than ``max_levels``
    levels is rejected — it is usually an identifier or free text, not a customer attribute.
    """
    explicit = list(categorical or [])
    missing = [c for c in explicit if c not in df.columns]
    if missing:
        raise DataContractError(
            f"categorical column(s) {missing} are not in the data "
            f"(available: {', '.join(map(str, df.columns))})"
        )
    reserved = {id_column, duration_column, event_column}
    features: list[Feature] = []
    problems: list[str] = []
    for name in df.columns:
        if name in reserved:
            continue
        s = df[name]
        dtype = s.dtype
        is_text = (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(dtype)
        )
        if name not in explicit and is_text and _mostly_numbers(s):
            # A number column with a few typos ("12a", " "): declare it numeric so validation
            # names the bad values instead of silently turning the column into a category.
            features.append(NumericFeature(str(name)))
            continue
        if name not in explicit and pd.api.types.is_object_dtype(dtype):
            odd = _non_scalar_example(s)
            if odd is not None:
                problems.append(
                    f"column {name!r}: holds {type(odd).__name__} values (e.g. {odd}), neither "
                    "numeric nor categorical; drop it or convert it"
                )
                continue
        if name in explicit or is_text:
            levels = sorted({str(v) for v in s.dropna().unique()})
            if not levels:
                problems.append(f"column {name!r}: no non-missing values to learn levels from")
            elif len(levels) > max_levels:
                problems.append(
                    f"column {name!r}: {len(levels)} distinct values (more than {max_levels}); "
                    "drop it (an id or free text?) or raise max_levels"
                )
            else:
                features.append(CategoricalFeature(str(name), tuple(levels)))
        elif pd.api.types.is_numeric_dtype(dtype):
            integer = pd.api.types.is_integer_dtype(dtype)
            features.append(NumericFeature(str(name), integer=integer))
        else:
            problems.append(
                f"column {name!r}: dtype {dtype} is neither numeric nor categorical; "
                "drop it or convert it"
            )
    if problems:
        raise DataContractError(
            "cannot derive a feature contract from the data:\n"
            + "\n".join("  - " + p for p in problems)
        )
    return FeatureContract(
        features=tuple(features),
        id_column=id_column,
        duration_column=duration_column,
        event_column=event_column,
    )


# --------------------------------------------------------------------------------------------
# Built-in simulator contract
# --------------------------------------------------------------------------------------------

DEFAULT_CONTRACT = FeatureContract(
    features=(
        NumericFeature("tenure_days", min=0.0),
        CategoricalFeature("contract", ("month-to-month", "one-year", "two-year")),
        CategoricalFeature(
            "payment_method",
            ("electronic_check", "mailed_check", "bank_transfer", "credit_card"),
        ),
        CategoricalFeature("internet_service", ("dsl", "fiber", "none")),
        CategoricalFeature("region", ("north", "south", "east", "west")),
        NumericFeature("monthly_charges", min=10.0, max=200.0),
        NumericFeature("total_charges", min=0.0),
        NumericFeature("data_usage_gb", min=0.0),
        NumericFeature("usage_change_pct", min=-100.0, max=500.0),
        NumericFeature("support_calls_90d", min=0.0, integer=True),
        NumericFeature("late_payments_12m", min=0.0, max=12.0, integer=True),
        NumericFeature("num_products", min=1.0, max=8.0, integer=True),
        NumericFeature("is_senior", min=0.0, max=1.0, integer=True),
        NumericFeature("has_partner", min=0.0, max=1.0, integer=True),
    )
)
"""Contract of the built-in customer simulator (``domain/simulator.py``)."""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _as_float(s: pd.Series) -> pd.Series:
    """Values as float for range checks; text that is not a number becomes NaN (reported by the
    dtype check, not here)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64")
    try:
        return pd.to_numeric(s, errors="coerce").astype("float64")
    except (OverflowError, TypeError, ValueError):
        # An object column holding an int beyond float64 (10**400): such a value becomes NaN
        # here and is named by the dtype check; the rest are range-checked as usual.
        return pd.Series([_to_float_or_nan(v) for v in s], index=s.index, dtype="float64")


def _to_float_or_nan(v: Any) -> float:
    try:
        return float(v)
    except (OverflowError, TypeError, ValueError):
        return math.nan


def _finite_check() -> pa.Check:
    return pa.Check(
        lambda s: ~np.isinf(_as_float(s)),
        name=_CHECK_FINITE,
    )


def _float32_check() -> pa.Check:
    """|x| <= FLOAT32_MAX: XGBoost reads features (and the label) as float32, so a larger finite
    value would turn into inf inside the booster."""
    return pa.Check(
        lambda s: ~np.isfinite(_as_float(s)) | (np.abs(_as_float(s)) <= FLOAT32_MAX),
        name=_CHECK_FLOAT32,
    )


def _int64_check() -> pa.Check:
    """Whole values that do not fit int64 (uint64 >= 2**63, huge Python ints, floats >= 2**63)."""

    def fits(s: pd.Series) -> pd.Series:
        dtype = s.dtype
        if pd.api.types.is_bool_dtype(dtype):
            return pd.Series(True, index=s.index)
        if pd.api.types.is_unsigned_integer_dtype(dtype):
            return pd.Series(s.to_numpy() <= np.uint64(INT64_MAX), index=s.index)
        if pd.api.types.is_integer_dtype(dtype):
            return pd.Series(True, index=s.index)
        if pd.api.types.is_object_dtype(dtype):
            return s.map(_fits_int64).astype(bool)
        x = _as_float(s)
        # float(2**63) is the first float above INT64_MAX; NaN/inf have their own checks
        return ~np.isfinite(x) | ((x >= float(INT64_MIN)) & (x < 2.0**63))

    return pa.Check(fits, name=_CHECK_INT64)


def _fits_int64(v: Any) -> bool:
    if isinstance(v, bool | np.bool_):
        return True  # reported by the boolean check
    if isinstance(v, int | np.integer):
        return INT64_MIN <= int(v) <= INT64_MAX
    if isinstance(v, float | np.floating) and math.isfinite(float(v)):
        return float(INT64_MIN) <= float(v) < 2.0**63
    return True


def _not_bool_check() -> pa.Check:
    """A boolean in a numeric feature is a type change (a flag column re-typed upstream), not a
    number: refused with the value rather than read as 0/1."""

    def not_bool(s: pd.Series) -> pd.Series:
        if pd.api.types.is_bool_dtype(s.dtype):
            return pd.Series(False, index=s.index) | s.isna()
        if pd.api.types.is_object_dtype(s.dtype):
            return ~s.map(lambda v: isinstance(v, bool | np.bool_)).astype(bool)
        return pd.Series(True, index=s.index)

    return pa.Check(not_bool, name=_CHECK_NOT_BOOL)


def _numeric_dtype_check() -> pa.Check:
    return pa.Check(
        lambda s: bool(
            pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
        ),
        name=_CHECK_NUMERIC_DTYPE,
    )


def _integer_check() -> pa.Check:
    def whole_numbers(s: pd.Series) -> pd.Series:
        x = _as_float(s)
        return ~np.isfinite(x) | (x == np.round(x))

    return pa.Check(whole_numbers, name=_CHECK_INTEGER)


def _range_check(f: NumericFeature) -> pa.Check:
    lo = -math.inf if f.min is None else f.min
    hi = math.inf if f.max is None else f.max

    def within_bounds(s: pd.Series) -> pd.Series:
        x = _as_float(s)
        # NaN and inf are reported by their own checks; only finite values are range-checked.
        return ~np.isfinite(x) | ((x >= lo) & (x <= hi))

    return pa.Check(within_bounds, name=_CHECK_RANGE)


def _widen(s: pd.Series, *, integer: bool) -> pd.Series:
    """Widen numeric dtypes losslessly to float64/int64; leave anything else untouched."""
    dtype = s.dtype
    if pd.api.types.is_object_dtype(dtype):
        return _widen_plain_numbers(s, integer=integer)
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return s  # booleans and text are reported by the checks, never reinterpreted
    if pd.api.types.is_integer_dtype(dtype):
        if s.isna().any():  # nullable Int64 with <NA>: NaN is reported, keep values visible
            return pd.Series(s.to_numpy("float64", na_value=np.nan), index=s.index, name=s.name)
        if (
            integer
            and pd.api.types.is_unsigned_integer_dtype(dtype)
            and bool((s.to_numpy() > np.uint64(INT64_MAX)).any())
        ):
            return s  # uint64 >= 2**63 would wrap to a negative int64: reported, not cast
        return s.astype("int64" if integer else "float64")
    # float (numpy or nullable Float64)
    as_float = pd.Series(s.to_numpy("float64", na_value=np.nan), index=s.index, name=s.name)
    if integer:
        finite = np.isfinite(as_float)
        fits = (as_float >= float(INT64_MIN)) & (as_float < 2.0**63)
        if finite.all() and fits.all() and (as_float == np.round(as_float)).all():
            return as_float.astype("int64")
    return as_float


def _widen_plain_numbers(s: pd.Series, *, integer: bool) -> pd.Series:
    """An object column of Python/numpy numbers (a JSON or driver round trip) as float64/int64,
    the same widening a numeric column gets; anything else (text, booleans, missing values,
    ints beyond int64/float64) is left for the checks to name."""
    values = s.tolist()
    if not values or not all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
        for v in values
    ):
        return s
    if integer:
        if all(isinstance(v, int | np.integer) and _fits_int64(v) for v in values):
            return pd.Series(
                np.array([int(v) for v in values], dtype=np.int64), index=s.index, name=s.name
            )
        if all(isinstance(v, int | np.integer) for v in values):
            return s  # an int beyond int64: the int64 check quotes it exactly
        try:
            as_float = pd.Series(np.array(values, dtype=np.float64), index=s.index, name=s.name)
        except OverflowError:
            return s
        return _widen(as_float, integer=True)
    try:
        return pd.Series(
            np.array([float(v) for v in values], dtype=np.float64), index=s.index, name=s.name
        )
    except OverflowError:
        return s


def _is_missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _mostly_numbers(s: pd.Series) -> bool:
    """True when at least half of the distinct non-missing text values parse as numbers."""
    if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s.dtype):
        return False
    distinct = pd.Series(s.dropna().unique())
    if distinct.empty or not distinct.map(lambda v: isinstance(v, str)).all():
        return False
    parsed = pd.to_numeric(distinct, errors="coerce")
    return bool(parsed.notna().mean() >= 0.5)


_SCALAR_TYPES = (str, bool, int, float, np.bool_, np.integer, np.floating)


def _non_scalar_example(s: pd.Series) -> Any:
    """First value that is neither text, boolean nor a number (a date, a list...), if any."""
    for v in s.dropna().unique():
        if not isinstance(v, _SCALAR_TYPES):
            return v
    return None


def _sorted_by_position(rows: list[Any], index: pd.Index) -> list[Any]:
    """Order failing row labels as they appear in the data (pandera groups them by value)."""
    if not index.is_unique:
        return rows
    try:
        positions = index.get_indexer(pd.Index(rows))
    except (TypeError, ValueError):
        return rows
    return [r for _, r in sorted(zip(positions, rows, strict=True), key=lambda t: t[0])]


def _distinct_examples(values: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for v in values:
        key = repr(v)
        if key not in seen:
            seen[key] = v
    return list(seen.values())


def _non_numeric_examples(s: pd.Series) -> list[Any]:
    coerced = pd.to_numeric(s, errors="coerce")
    bad = s[coerced.isna() & s.notna()]
    return _distinct_examples(bad.tolist())[:_MAX_EXAMPLES]


def _fmt_number(x: float) -> str:
    return f"{x:g}"


_MAX_VALUE_CHARS = 40
"""Longest example value quoted in a message; longer ones are cut (a 2 MB cell is not copied)."""


def _fmt_value(v: Any) -> str:
    if isinstance(v, str):
        text = repr(v)
    elif isinstance(v, float | np.floating):
        text = f"{float(v):g}"
    else:
        try:
            text = str(v)
        except ValueError:  # int beyond Python's str() digit limit
            text = f"<{type(v).__name__} too long to print>"
    if len(text) > _MAX_VALUE_CHARS:
        text = f"{text[: _MAX_VALUE_CHARS - 1]}… ({len(text)} chars)"
    return text


def _fmt_values(values: Sequence[Any], limit: int = _MAX_EXAMPLES) -> str:
    shown = ", ".join(_fmt_value(v) for v in list(values)[:limit])
    return shown + (", ..." if len(values) > limit else "")


def _s(n: int) -> str:
    return "" if n == 1 else "s"
