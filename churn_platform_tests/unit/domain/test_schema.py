"""Feature contract: canonical output on good data, one precise error per kind of bad data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from churn_platform.domain.schema import (
    DEFAULT_CONTRACT,
    CategoricalFeature,
    ContractViolation,
    FeatureContract,
    NumericFeature,
    infer_contract,
)
from churn_platform.errors import DataContractError, EmptyPartitionError

N = 30


def simulator_like(n: int = N, seed: int = 0) -> pd.DataFrame:
    """A frame shaped like the simulator's output: text categoricals, int64 and float64."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:03d}" for i in range(n)],
            "duration_days": rng.uniform(1, 900, n),
            "event": rng.integers(0, 2, n),
            "tenure_days": rng.uniform(0, 2000, n),
            "contract": rng.choice(["month-to-month", "one-year", "two-year"], n),
            "payment_method": rng.choice(["electronic_check", "credit_card"], n),
            "internet_service": rng.choice(["dsl", "fiber", "none"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "monthly_charges": rng.uniform(10, 200, n),
            "total_charges": rng.uniform(0, 10_000, n),
            "data_usage_gb": rng.uniform(0, 500, n),
            "usage_change_pct": rng.uniform(-100, 500, n),
            "support_calls_90d": rng.integers(0, 10, n),
            "late_payments_12m": rng.integers(0, 13, n),
            "num_products": rng.integers(1, 9, n),
            "is_senior": rng.integers(0, 2, n),
            "has_partner": rng.integers(0, 2, n),
        }
    )


def violation(df: pd.DataFrame, **kwargs: object) -> ContractViolation:
    with pytest.raises(ContractViolation) as info:
        DEFAULT_CONTRACT.validate(df, **kwargs)  # type: ignore[arg-type]
    return info.value


def line_for(exc: ContractViolation, column: str) -> str:
    lines = [ln for ln in str(exc).splitlines() if f"column {column!r}" in ln]
    assert lines, f"no line for {column!r} in:\n{exc}"
    return "\n".join(lines)


# -- happy paths -------------------------------------------------------------------------------


def test_default_contract_features_in_order() -> None:
    assert DEFAULT_CONTRACT.feature_names == (
        "tenure_days",
        "contract",
        "payment_method",
        "internet_service",
        "region",
        "monthly_charges",
        "total_charges",
        "data_usage_gb",
        "usage_change_pct",
        "support_calls_90d",
        "late_payments_12m",
        "num_products",
        "is_senior",
        "has_partner",
    )
    assert DEFAULT_CONTRACT.categorical_features == (
        "contract",
        "payment_method",
        "internet_service",
        "region",
    )
    assert "monthly_charges" in DEFAULT_CONTRACT.numeric_features


def test_validate_returns_canonical_frame() -> None:
    df = simulator_like()
    shuffled = df[list(reversed(df.columns))].assign(unrelated="x")
    out = DEFAULT_CONTRACT.validate(shuffled, with_target=True)
    assert list(out.columns) == [
        "customer_id",
        "duration_days",
        "event",
        *DEFAULT_CONTRACT.feature_names,
    ]
    assert out["event"].dtype == "int64"
    assert out["duration_days"].dtype == "float64"
    assert out["support_calls_90d"].dtype == "int64"
    assert out["monthly_charges"].dtype == "float64"
    assert isinstance(out["contract"].dtype, pd.CategoricalDtype)
    assert list(out["contract"].cat.categories) == ["month-to-month", "one-year", "two-year"]
    pd.testing.assert_series_equal(out["customer_id"], df["customer_id"])


def test_validate_without_target_drops_target_columns() -> None:
    out = DEFAULT_CONTRACT.validate(simulator_like().drop(columns=["duration_days", "event"]))
    assert list(out.columns) == ["customer_id", *DEFAULT_CONTRACT.feature_names]


def test_int_column_is_accepted_for_float_feature_and_widened() -> None:
    df = simulator_like()
    df["tenure_days"] = df["tenure_days"].round().astype("int32")
    out = DEFAULT_CONTRACT.validate(df)
    assert out["tenure_days"].dtype == "float64"


def test_category_and_string_dtypes_accepted_for_categoricals() -> None:
    df = simulator_like()
    df["contract"] = df["contract"].astype("category")
    df["region"] = df["region"].astype("string")
    out = DEFAULT_CONTRACT.validate(df)
    assert list(out["region"].cat.categories) == ["north", "south", "east", "west"]


def test_contract_round_trips_through_json() -> None:
    d = json.loads(json.dumps(DEFAULT_CONTRACT.to_dict()))
    assert FeatureContract.from_dict(d) == DEFAULT_CONTRACT


def test_from_dict_rejects_unknown_feature_kind() -> None:
    d = DEFAULT_CONTRACT.to_dict()
    d["features"][0]["kind"] = "text"
    with pytest.raises(DataContractError, match=r"features\[0\] has unknown kind 'text'"):
        FeatureContract.from_dict(d)


def test_pandera_schema_is_a_dataframe_schema() -> None:
    schema = DEFAULT_CONTRACT.pandera_schema(with_target=True)
    assert isinstance(schema, pa.DataFrameSchema)
    assert {"customer_id", "duration_days", "event", "region"} <= set(schema.columns)


# -- one test per kind of bad data -------------------------------------------------------------


def test_missing_column() -> None:
    exc = violation(simulator_like().drop(columns=["region"]))
    assert "column 'region': missing from the data" in str(exc)
    assert exc.failures.loc[0, "check"] == "column_in_dataframe"


def test_extra_column_ignored_by_default() -> None:
    out = DEFAULT_CONTRACT.validate(simulator_like().assign(shoe_size=42))
    assert "shoe_size" not in out.columns


def test_extra_column_is_an_error_with_policy_error() -> None:
    exc = violation(simulator_like().assign(shoe_size=42), extra_columns="error")
    assert "column 'shoe_size': not part of the feature contract" in str(exc)


def test_text_in_numeric_column_names_the_value() -> None:
    df = simulator_like()
    df["monthly_charges"] = df["monthly_charges"].astype(object)
    df.loc[[3, 7], "monthly_charges"] = ["12a", "n/a"]
    exc = violation(df)
    line = line_for(exc, "monthly_charges")
    assert "expected dtype float64, got object" in line
    assert "'12a'" in line and "'n/a'" in line
    assert "2 rows" in line and "rows 3, 7" in line and "C003" in line


def test_numbers_stored_as_text_are_not_silently_coerced() -> None:
    df = simulator_like()
    df["monthly_charges"] = df["monthly_charges"].astype(str)
    exc = violation(df)
    assert "column 'monthly_charges': expected dtype float64, got object" in str(exc)


def test_nan_names_column_count_and_rows() -> None:
    df = simulator_like()
    df.loc[[4, 17, 20], "monthly_charges"] = np.nan
    exc = violation(df)
    assert (
        "column 'monthly_charges': 3 rows with missing values (NaN) (rows 4, 17, 20; "
        "customer_id C004, C017, C020)"
    ) in str(exc)
    row = exc.failures.set_index("column").loc["monthly_charges"]
    assert row["check"] == "not_nullable"
    assert row["n_rows"] == 3


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_values(value: float) -> None:
    df = simulator_like()
    df.loc[5, "data_usage_gb"] = value
    line = line_for(violation(df), "data_usage_gb")
    assert f"1 row with infinite values {value:g} (row 5; customer_id C005)" in line
    assert "range" not in line  # inf is reported once, as inf


def test_out_of_range() -> None:
    df = simulator_like()
    df.loc[[2, 9], "monthly_charges"] = [5.0, 250.0]
    line = line_for(violation(df), "monthly_charges")
    assert "2 rows outside the allowed range [10, 200]: values 5, 250 (rows 2, 9" in line


def test_unknown_category() -> None:
    df = simulator_like()
    df.loc[[1, 8], "region"] = ["mars", "mars"]
    df.loc[11, "contract"] = "lifetime"
    exc = violation(df)
    region = line_for(exc, "region")
    assert "2 rows with unknown category levels 'mars' (rows 1, 8" in region
    assert "allowed: 'north', 'south', 'east', 'west'" in region
    assert "'lifetime'" in line_for(exc, "contract")


def test_numbers_in_categorical_column_are_a_dtype_error() -> None:
    df = simulator_like()
    df["region"] = 1
    line = line_for(violation(df), "region")
    assert "expected text values for a categorical, got dtype int64" in line


def test_fraction_in_integer_feature() -> None:
    df = simulator_like()
    df["num_products"] = df["num_products"].astype(float)
    df.loc[6, "num_products"] = 2.5
    line = line_for(violation(df), "num_products")
    assert "1 row with non-integer values 2.5 (row 6" in line


def test_duplicate_ids_show_the_id() -> None:
    df = simulator_like()
    df.loc[10, "customer_id"] = "C001"
    line = line_for(violation(df), "customer_id")
    assert "2 rows share a duplicated id, e.g. 'C001' (rows 1, 10" in line


def test_empty_frame() -> None:
    with pytest.raises(EmptyPartitionError, match="no rows"):
        DEFAULT_CONTRACT.validate(simulator_like().iloc[0:0])


@pytest.mark.parametrize("value", [-3.0, 0.0])
def test_non_positive_duration(value: float) -> None:
    df = simulator_like()
    df.loc[12, "duration_days"] = value
    line = line_for(violation(df, with_target=True), "duration_days")
    assert f"1 row with a duration <= 0 days: values {value:g} (row 12; customer_id C012)" in line


def test_event_outside_zero_one() -> None:
    df = simulator_like()
    df.loc[[13, 14], "event"] = [2, -1]
    line = line_for(violation(df, with_target=True), "event")
    assert "2 rows with event values outside {0, 1}" in line and "(rows 13, 14" in line


def test_all_failures_reported_at_once() -> None:
    df = simulator_like()
    df.loc[4, "monthly_charges"] = np.nan
    df.loc[5, "region"] = "mars"
    df.loc[6, "late_payments_12m"] = 99
    exc = violation(df.drop(columns=["has_partner"]))
    assert set(exc.failures["column"]) == {
        "monthly_charges",
        "region",
        "late_payments_12m",
        "has_partner",
    }
    assert {"column", "check", "failure_case", "n_rows"} <= set(exc.failures.columns)
    assert len(str(exc).splitlines()) == 1 + 4


# -- contract declaration ----------------------------------------------------------------------


def test_feature_names_must_be_unique() -> None:
    with pytest.raises(DataContractError, match="more than once"):
        FeatureContract(features=(NumericFeature("a"), CategoricalFeature("a", ("x",))))


def test_feature_cannot_reuse_target_name() -> None:
    with pytest.raises(DataContractError, match="event"):
        FeatureContract(features=(NumericFeature("event"),))


# -- infer_contract ----------------------------------------------------------------------------


def test_infer_contract_from_all_other_columns() -> None:
    df = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "t": [1.0, 2.0, 3.0],
            "e": [0, 1, 0],
            "plan": ["gold", "basic", "gold"],
            "paperless": [True, False, True],
            "charges": [1.5, 2.5, 3.5],
            "calls": [1, 2, 3],
            "senior": [0, 1, 0],
        }
    )
    c = infer_contract(
        df, id_column="id", duration_column="t", event_column="e", categorical=["senior"]
    )
    assert c.features == (
        CategoricalFeature("plan", ("basic", "gold")),
        CategoricalFeature("paperless", ("False", "True")),
        NumericFeature("charges"),
        NumericFeature("calls", integer=True),
        CategoricalFeature("senior", ("0", "1")),
    )
    assert (c.id_column, c.duration_column, c.event_column) == ("id", "t", "e")


def test_infer_contract_rejects_high_cardinality_text() -> None:
    df = pd.DataFrame({"id": range(60), "t": 1.0, "e": 0, "note": [f"n{i}" for i in range(60)]})
    with pytest.raises(DataContractError, match=r"column 'note': 60 distinct values"):
        infer_contract(df, id_column="id", duration_column="t", event_column="e")


def test_infer_contract_rejects_unsupported_dtype() -> None:
    df = pd.DataFrame({"id": [1], "t": [1.0], "e": [0], "signup": pd.to_datetime(["2024-01-01"])})
    with pytest.raises(DataContractError, match=r"column 'signup': dtype datetime64"):
        infer_contract(df, id_column="id", duration_column="t", event_column="e")


def test_infer_contract_takes_numbers_with_typos_as_numeric() -> None:
    df = pd.DataFrame({"id": [1, 2, 3], "t": 1.0, "e": 0, "TotalCharges": ["29.85", " ", "1889.5"]})
    c = infer_contract(df, id_column="id", duration_column="t", event_column="e")
    assert c.features == (NumericFeature("TotalCharges"),)
    with pytest.raises(ContractViolation, match=r"'TotalCharges'.*' ' \(row 1; id 2\)"):
        c.validate(df)
