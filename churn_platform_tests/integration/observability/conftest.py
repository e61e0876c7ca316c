"""Fixtures of the observability tests: a small simulated monitoring history in real tables."""

import uuid

import pytest

from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.results import AliasHistory, DriftStore, EvaluationStore
from churn_platform_tests.support import history

HORIZONS = (30, 90, 180)
N_CUSTOMERS = 400


@pytest.fixture(scope="module")
def tables(pg_url: str) -> dict[str, str]:
    """Six simulated weeks written through the platform's own repositories."""
    tag = uuid.uuid4().hex[:6]
    schema, name = f"obs_{tag}", f"obs_model_{tag}"
    preds = PredictionsRepository(pg_url, schema, HORIZONS)
    for week in history.WEEKS[-2:]:
        preds.replace_week(week, name, history.predictions(week, name, N_CUSTOMERS, HORIZONS))
    preds.engine.dispose()
    evaluations = EvaluationStore(pg_url, schema)
    evaluations.upsert(history.evaluations(name))
    evaluations.upsert_calibration(history.calibration(name))
    drift = DriftStore(pg_url, schema)
    for week in history.WEEKS:
        drift.replace_week(week, "feature", name, history.feature_drift(week))
        drift.replace_week(week, "score", name, history.score_drift(week))
    aliases = AliasHistory(pg_url, schema)
    aliases.record(name, "production", 1, None, "alice", "first model")
    aliases.record(name, "challenger", 2, None, "validation gate", "passed the gate")
    aliases.record(name, "production", 2, 1, "bob", "drift retrain approved")
    for store in (evaluations, drift, aliases):
        store.dispose()
    return {"schema": schema, "model": name}
