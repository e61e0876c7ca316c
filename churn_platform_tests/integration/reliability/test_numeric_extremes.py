"""Numeric extremes through every way a number enters a score: the ``customer_features`` contract,
``churn_scores`` (scored and written to PostgreSQL) and ``POST /v1/score`` over real HTTP.

The property (hypothesis, one value injected into one numeric feature of one customer): every case
ends in a **named error** (a ``ContractViolation`` line naming the column and the row; a 422 whose
``loc`` names the field) or a **correct score** (the value reaches the model unchanged, the score
is finite, the row written to the table and the endpoint's answer equal the model's own
prediction). Never a 500, never a value silently changed on the way.

Values swept: every float64 (subnormals, ±0, ±inf, NaN, up to 1.8e308) with extra weight on the
edges of float32 (what XGBoost reads); integers to ±2**70 with weight on the int64 edges; uint64
columns at and beyond 2**63; booleans and fractions in integer features; numbers in an ``object``
column (how a JSON or driver round trip delivers them).

The named Dagster cases below run the same defects through the real assets and check that a bad
value is a non-retried ``DataContractError`` and that no table changed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from dagster import DagsterEventType
from dagster._serdes import serialize_value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn_platform.app.scoring import Lineage, now_utc, score_and_write, snapshot_id
from churn_platform.defs.resources import DataSourceResource
from churn_platform.domain.schema import (
    DEFAULT_CONTRACT,
    FLOAT32_MAX,
    INT64_MAX,
    INT64_MIN,
    ContractViolation,
    NumericFeature,
)
from churn_platform.errors import DataContractError
from churn_platform.io.registry import PRODUCTION, LoadedModel
from churn_platform.model.xgb_cox import plain_features
from churn_platform.serving import create_app
from churn_platform_tests.support.reliability import Env, run_assets, table_state
from churn_platform_tests.support.serving import LiveServer, live_server

NUMERIC = [f for f in DEFAULT_CONTRACT.features if isinstance(f, NumericFeature)]
ROW = 2  # the customer (row position) that gets the extreme value
EXTREME_WEEK = date(2025, 6, 2)  # a week of its own, so the scored WEEK stays untouched
F32 = FLOAT32_MAX
F32_UP = float(np.nextafter(np.float64(F32), np.inf))
API_KEY = "numeric-extremes-key"


@dataclass
class Tally:
    """What the sweep saw, printed at the end (and checked: both outcomes must occur)."""

    examples: int = 0
    batch_rejected: int = 0
    batch_accepted: int = 0
    api_422: int = 0
    api_200: int = 0
    written: int = 0
    by_check: dict[str, int] = field(default_factory=dict)


@dataclass
class Stack:
    env: Env
    model: LoadedModel
    server: LiveServer
    base: pd.DataFrame
    tally: Tally


@pytest.fixture(scope="module")
def stack(env: Env) -> Iterator[Stack]:
    registry = env.resources["mlflow_resource"].registry(env.resources["warehouse"])
    source: DataSourceResource = env.resources["data_source"]
    base = DEFAULT_CONTRACT.validate(source.features_for_week(env.week)).head(5)
    base = base.reset_index(drop=True)
    model = registry.load(PRODUCTION)
    with live_server(create_app(registry, api_key=API_KEY)) as server:
        stack = Stack(env, model, server, base, Tally())
        yield stack
    t = stack.tally
    print(
        f"\nnumeric extremes: {t.examples} examples; batch {t.batch_rejected} named errors / "
        f"{t.batch_accepted} scored ({t.written} written to PostgreSQL); endpoint "
        f"{t.api_422} x 422 / {t.api_200} x 200; checks fired {t.by_check}"
    )


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

EDGE_FLOATS = [F32, -F32, F32_UP, -F32_UP, 1e39, -1e39, 1e308, -1e308, 5e-324, -0.0, 0.0]
EDGE_INTS = [
    INT64_MAX,
    INT64_MIN,
    INT64_MAX + 1,
    INT64_MIN - 1,
    2**64 - 1,
    2**64,
    2**53 + 1,
    -(2**53) - 1,
]

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(EDGE_FLOATS),
    st.floats(min_value=F32 / 2, max_value=F32 * 2),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(EDGE_INTS),
    st.integers(min_value=-3, max_value=600),
    st.booleans(),
    st.floats(min_value=-5, max_value=600).map(lambda x: round(x, 1)),
)
# How the column arrives: pandas' own inference over the column's values, an object column (a
# JSON/driver round trip) or, for a non-negative integer below 2**64, a uint64 column.
containers = st.sampled_from(["infer", "object", "uint64"])


def inject(base: pd.DataFrame, name: str, value: Any, container: str) -> pd.DataFrame:
    frame = base.copy()
    values = frame[name].tolist()
    values[ROW] = value
    if container == "uint64" and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64 for v in values
    ):
        frame[name] = pd.Series(np.array(values, dtype=np.uint64))
    elif container == "object":
        frame[name] = pd.Series(values, dtype=object)
    else:
        frame[name] = pd.Series(values)
    return frame


def native(feature: NumericFeature, value: Any) -> bool:
    """A value of the type a client would send for this feature (the endpoint is strict: an
    integer feature takes JSON integers only; a float feature takes any JSON number)."""
    if isinstance(value, bool):
        return False
    if feature.integer:
        return isinstance(value, int)
    return isinstance(value, int | float)


def holdable(feature: NumericFeature, value: Any) -> bool:
    """Inside the contract's range and what the model/table can hold."""
    if isinstance(value, bool):
        return False
    lo, hi = feature.storable_bounds()
    if feature.integer:
        whole = isinstance(value, int) or (math.isfinite(value) and float(value).is_integer())
        return whole and lo <= value <= hi
    return math.isfinite(float(value)) and lo <= float(value) <= hi


def json_number(value: Any) -> str:
    """The JSON text a client would send (Python's encoder: inf/NaN as Infinity/NaN)."""
    return json.dumps(value)


# --------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_extreme_is_a_named_error_or_a_correct_score(stack: Stack) -> None:
    """300 hypothesis examples, then a guard against a vacuous sweep: both named errors and
    scores happened, on both paths, and each new check (float32, int64, boolean) fired."""

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(feature=st.sampled_from(NUMERIC), value=values, container=containers)
    def sweep(feature: NumericFeature, value: Any, container: str) -> None:
        check_one(stack, feature, value, container)

    sweep()
    t = stack.tally
    assert t.examples >= 100
    assert t.batch_rejected > 0 and t.batch_accepted > 0
    assert t.api_422 > 0 and t.api_200 > 0
    for check in ("within_float32", "within_int64", "not_boolean"):
        assert t.by_check.get(check, 0) > 0, t.by_check


def check_one(stack: Stack, feature: NumericFeature, value: Any, container: str) -> None:
    """One value in one feature of customer ``ROW``: a named error or a correct score, in the
    batch contract, in the table and at the endpoint."""
    tally = stack.tally
    tally.examples += 1
    name = feature.name
    frame = inject(stack.base, name, value, container)

    # ---- customer_features: the contract --------------------------------------------------
    batch_scores: pd.DataFrame | None = None
    try:
        validated = DEFAULT_CONTRACT.validate(frame)
    except ContractViolation as exc:
        tally.batch_rejected += 1
        lines = exc.failures[exc.failures["column"] == name]
        assert not lines.empty, f"{value!r} in {name}: error does not name the column:\n{exc}"
        assert f"'{name}'" in str(exc), str(exc)
        dtype_line = lines["check"].str.startswith("dtype(")
        # a whole column delivered as Python objects is itself a defect: a column-level line
        # naming the column and the dtype it needs (no row is more at fault than another)
        assert not dtype_line.any() or container == "object" or "got uint64" in str(exc), str(exc)
        value_lines = lines[~dtype_line]
        column_level = value_lines.empty
        assert all(ROW in rows for rows in value_lines["example_rows"]), str(exc)
        assert column_level or f"row {ROW}" in str(exc), str(exc)
        for check in lines["check"]:
            tally.by_check[check] = tally.by_check.get(check, 0) + 1
        assert column_level or not holdable(feature, value), (
            f"{value!r} ({container}) is holdable in {name} but was refused:\n{exc}"
        )
    else:
        tally.batch_accepted += 1
        got = validated[name].iloc[ROW]
        sent = frame[name].iloc[ROW]  # what customer_features received (after the source's dtype)
        assert holdable(feature, value), f"{value!r} accepted in {name} as {got!r}"
        # not silently changed: exactly the value received, in the contract's dtype
        assert got == sent and not isinstance(sent, bool | np.bool_), (value, sent, got)
        assert validated[name].dtype == np.dtype("int64" if feature.integer else "float64")
        # ---- churn_scores: scored and written --------------------------------------------
        batch_scores = stack.model.predict(plain_features(validated, DEFAULT_CONTRACT), 0)
        assert np.isfinite(batch_scores["risk_score"]).all()
        written = write_and_read(stack, validated)
        np.testing.assert_array_equal(
            written.sort_values("customer_id")["risk_score"].to_numpy(),
            batch_scores["risk_score"].to_numpy(),
        )
        tally.written += 1

    # ---- /v1/score: the same customer over HTTP ---------------------------------------------
    record = json.loads(
        plain_features(stack.base.iloc[[ROW]], DEFAULT_CONTRACT).to_json(orient="records")
    )[0]
    record["customer_id"] = int(stack.base["customer_id"].iloc[ROW])
    body = json.dumps({"customers": [record], "top_drivers": 0}).replace(
        f'"{name}": {json.dumps(record[name])}', f'"{name}": {json_number(value)}'
    )
    assert json_number(value) in body
    resp = requests.post(
        f"{stack.server.url}/v1/score",
        data=body,
        headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
        timeout=30,
    )
    assert resp.status_code in (200, 422), (
        f"{value!r} in {name}: HTTP {resp.status_code} {resp.text}"
    )
    if resp.status_code == 422:
        tally.api_422 += 1
        locs = [d["loc"] for d in resp.json()["detail"]]
        assert any(name in loc for loc in locs), (
            f"{value!r} in {name}: 422 without the field {locs}"
        )
        assert not (native(feature, value) and holdable(feature, value)), (
            f"{value!r} is a valid {name} but the endpoint refused it: {resp.text}"
        )
    else:
        tally.api_200 += 1
        assert native(feature, value) and holdable(feature, value), (value, resp.text)
        assert batch_scores is not None, f"{value!r}: endpoint scored what the batch refused"
        (pred,) = resp.json()["predictions"]
        assert pred["risk_score"] == pytest.approx(
            float(batch_scores["risk_score"].iloc[ROW]), rel=1e-12
        )


def write_and_read(stack: Stack, validated: pd.DataFrame) -> pd.DataFrame:
    """Score ``validated`` as ``churn_scores`` does (chunked, spooled, one transaction) into a
    week of its own, then read the rows back from PostgreSQL."""
    model = stack.model
    repo = stack.env.repo()
    lineage = Lineage(
        model_name=model.name,
        model_version=model.version,
        model_run_id=model.run_id,
        model_alias=PRODUCTION,
        feature_snapshot_id=snapshot_id(validated),
        dagster_run_id="numeric-extremes",
        code_version="test",
        scored_at=now_utc(),
    )
    result = score_and_write(
        [validated],
        model.predict,
        repo,
        id_column=DEFAULT_CONTRACT.id_column,
        feature_columns=DEFAULT_CONTRACT.feature_names,
        scoring_week=EXTREME_WEEK,
        lineage=lineage,
        top_drivers=0,
    )
    assert result.rows_written == len(validated)
    return repo.read_week(EXTREME_WEEK, model.name)


# --------------------------------------------------------------------------------------------
# The same defects through the real Dagster assets
# --------------------------------------------------------------------------------------------

DAGSTER_CASES: dict[str, tuple[str, Any, str, str]] = {
    # case: (column, value, container, text the error must contain)
    "float_beyond_float32": ("data_usage_gb", 1e39, "infer", "1e+39"),
    "float_1e308": ("total_charges", 1e308, "infer", "1e+308"),
    "uint64_2_63": ("support_calls_90d", 2**63, "uint64", "9223372036854775808"),
    "int_beyond_int64_object": ("support_calls_90d", 2**70, "object", "1180591620717411303424"),
    "bool_in_integer": ("is_senior", True, "object", "True"),
    "fraction_in_integer": ("num_products", 2.5, "infer", "2.5"),
}


class ExtremeSource(DataSourceResource):
    """The simulator with one extreme value in row 2 of the week's snapshot."""

    case: str = ""

    def features_for_week(self, week: date) -> pd.DataFrame:
        frame = super().features_for_week(week).reset_index(drop=True)
        column, value, container, _ = DAGSTER_CASES[self.case]
        return inject(frame, column, value, container)


@pytest.mark.parametrize("case", sorted(DAGSTER_CASES))
def test_extreme_value_fails_customer_features_named_and_not_retried(env: Env, case: str) -> None:
    column, _, _, text = DAGSTER_CASES[case]
    base: DataSourceResource = env.resources["data_source"]
    source = ExtremeSource(sim_customers=base.sim_customers, sim_seed=base.sim_seed, case=case)
    before = table_state(env)
    runs_before = {r.run_id for r in env.instance.get_runs()}
    with pytest.raises(DataContractError) as info:
        run_assets(env, ["customer_features", "churn_scores"], data_source=source)
    message = str(info.value)
    assert f"'{column}'" in message and text in message and f"row {ROW}" in message, message
    assert table_state(env) == before
    (run,) = [r for r in env.instance.get_runs() if r.run_id not in runs_before]
    retries = env.instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY
    ).records
    assert retries == [], "bad input must not be retried"


class BigValueSource(DataSourceResource):
    """The simulator with a 2 MB text value in a categorical column of row 2."""

    def features_for_week(self, week: date) -> pd.DataFrame:
        frame = super().features_for_week(week).reset_index(drop=True)
        frame["region"] = frame["region"].astype(object)
        frame.loc[ROW, "region"] = "r" * 2_000_000
        return frame


def test_a_2mb_value_is_not_copied_into_the_error_or_the_event_log(env: Env) -> None:
    base: DataSourceResource = env.resources["data_source"]
    source = BigValueSource(sim_customers=base.sim_customers, sim_seed=base.sim_seed)
    runs_before = {r.run_id for r in env.instance.get_runs()}
    with pytest.raises(DataContractError) as info:
        run_assets(env, ["customer_features"], data_source=source)
    message = str(info.value)
    assert "'region'" in message and f"row {ROW}" in message and len(message) < 5_000
    (run,) = [r for r in env.instance.get_runs() if r.run_id not in runs_before]
    log = "\n".join(serialize_value(e) for e in env.instance.all_logs(run.run_id))
    assert "r" * 1_000 not in log and len(log) < 500_000
