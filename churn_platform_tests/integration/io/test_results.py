"""Evaluation, drift and alias-history stores round-trip through real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from churn_platform.errors import StorageError
from churn_platform.io.db import ensure_schema, make_engine
from churn_platform.io.results import AliasHistory, DriftStore, EvaluationStore

WEEK = date(2024, 3, 4)


@pytest.fixture()
def schema() -> str:
    return f"r_{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def evaluation(week: date, c_index: float, lag: int = 12) -> dict[str, object]:
    return {
        "scoring_week": week,
        "model_name": "churn_model",
        "model_version": np.int64(2),
        "label_lag_weeks": lag,
        "evaluated_week": date(2024, 5, 27),
        "n": np.int64(1000),
        "n_events": 87,
        "c_index": np.float64(c_index),
        "uno_c": 0.7,
        "ibs": float("nan"),
        "brier": {30: np.float64(0.05), 90: 0.11},
        "auc": {"30": 0.8, "90": 0.77},
        "mlflow_run_id": "abc",
    }


def test_evaluations_upsert_and_read(engine: sa.Engine, schema: str) -> None:
    store = EvaluationStore(engine, schema)
    assert store.upsert(pd.DataFrame([evaluation(WEEK, 0.71), evaluation(WEEK, 0.69, lag=4)])) == 2
    store.upsert(pd.DataFrame([evaluation(WEEK, 0.74)]))  # same key: updated, not duplicated
    back = store.read("churn_model")
    assert len(back) == 2
    row = back[back["label_lag_weeks"] == 12].iloc[0]
    assert row["c_index"] == pytest.approx(0.74)
    assert row["brier"] == {"30": 0.05, "90": 0.11}
    assert row["ibs"] is None or np.isnan(row["ibs"])
    assert row["evaluated_at"].tzinfo is not None
    assert store.read("unknown").empty


def test_evaluations_reject_unknown_columns_and_missing_keys(
    engine: sa.Engine, schema: str
) -> None:
    store = EvaluationStore(engine, schema)
    with pytest.raises(StorageError, match="c_index_typo"):
        store.upsert(pd.DataFrame([{**evaluation(WEEK, 0.7), "c_index_typo": 1.0}]))
    with pytest.raises(StorageError, match="label_lag_weeks"):
        store.upsert(pd.DataFrame([evaluation(WEEK, 0.7)]).drop(columns=["label_lag_weeks"]))


def drift_frame(columns: list[str], breached: bool) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "column_name": columns,
            "test": "ks",
            "statistic": np.linspace(0.01, 0.2, len(columns)),
            "p_value": 1e-6,
            "effect": 0.1,
            "psi": np.nan,
            "breached": breached,
            "new_levels": None,
            "n_reference": 20_000,
            "n_current": np.int64(1_000_000),
            "model_version": 2,
        }
    )


def test_drift_replace_week_round_trip(engine: sa.Engine, schema: str) -> None:
    store = DriftStore(engine, schema)
    store.replace_week(WEEK, "feature", "churn_model", drift_frame(["tenure", "charges"], False))
    store.replace_week(WEEK, "score", "churn_model", drift_frame(["risk_score"], True))
    store.replace_week(date(2024, 3, 11), "feature", "churn_model", drift_frame(["tenure"], True))
    # Replacing a week's feature drift drops columns that are no longer tested.
    store.replace_week(WEEK, "feature", "churn_model", drift_frame(["tenure"], True))
    week = store.read(week=WEEK)
    assert sorted(zip(week["kind"], week["column_name"], strict=True)) == [
        ("feature", "tenure"),
        ("score", "risk_score"),
    ]
    assert week["breached"].tolist() == [True, True]
    assert len(store.read(kind="feature")) == 2
    assert len(store.read()) == 3
    assert week["computed_at"].notna().all()


def test_drift_rejects_bad_input_atomically(engine: sa.Engine, schema: str) -> None:
    store = DriftStore(engine, schema)
    store.replace_week(WEEK, "feature", "m", drift_frame(["a", "b"], False))
    with pytest.raises(StorageError, match="kind"):
        store.replace_week(WEEK, "label", "m", drift_frame(["a"], False))
    with pytest.raises(StorageError, match="tested twice"):
        store.replace_week(WEEK, "feature", "m", drift_frame(["a", "a"], False))
    with pytest.raises(StorageError, match="week"):
        store.replace_week(
            WEEK, "feature", "m", drift_frame(["a"], False).assign(week=date(2020, 1, 6))
        )
    bad = drift_frame(["a", "b"], False).astype({"n_current": object})
    bad.loc[1, "n_current"] = 2**40  # integer overflow in the database: nothing changes
    with pytest.raises(StorageError, match="2024-03-04"):
        store.replace_week(WEEK, "feature", "m", bad)
    assert len(store.read(WEEK, "feature")) == 2


def test_alias_history_records_moves(engine: sa.Engine, schema: str) -> None:
    history = AliasHistory(engine, schema)
    history.record("churn_model", "challenger", 1, None, "training_job", "passed gate")
    history.record("churn_model", "production", np.int64(1), None, "alice", "approved")  # type: ignore[arg-type]
    history.record("churn_model", "production", 2, 1, "bob", "better C-index")
    history.record("other_model", "production", 7, None, "bob", "first")
    moves = history.read("churn_model")
    assert moves["alias"].tolist() == ["challenger", "production", "production"]
    assert moves["previous_version"].tolist()[-1] == 1
    assert moves["changed_by"].tolist() == ["training_job", "alice", "bob"]
    assert all(ts <= datetime.now(UTC) for ts in moves["changed_at"])
    assert history.read("nobody").empty


def test_stores_do_not_depend_on_prediction_horizons(pg_url: str, schema: str) -> None:
    engine = make_engine(pg_url)
    try:
        ensure_schema(engine, schema, (7, 14))
        AliasHistory(pg_url, schema).record("m", "production", 1, None, "x", "y")
        assert len(AliasHistory(pg_url, schema).read("m")) == 1
    finally:
        engine.dispose()
