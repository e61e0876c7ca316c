"""Registry against a real MLflow store (PostgreSQL backend) and real alias_history table."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pandas as pd
import pytest

from churn_platform.app.model_card import APPROVAL_MARKER, MODEL_CARD_ARTIFACT
from churn_platform.app.training import train_and_register
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.errors import ModelNotFoundError
from churn_platform.io.db import ensure_schema, make_engine
from churn_platform.io.notify import RecordingNotifier
from churn_platform.io.registry import CHALLENGER, PRODUCTION, LoadedModel, ModelRegistry
from churn_platform.io.results import AliasHistory
from churn_platform.model.train import TrainConfig
from churn_platform.model.xgb_cox import plain_features
from churn_platform_tests.support.data import simulated


@pytest.fixture
def registry(pg_url: str, mlflow_tracking_uri: str) -> ModelRegistry:
    ensure_schema(make_engine(pg_url))
    import os

    return ModelRegistry(
        f"churn_{uuid.uuid4().hex[:6]}",
        tracking_uri=mlflow_tracking_uri,
        artifact_location=os.environ["CHURN_MLFLOW_ARTIFACT_ROOT"],
        alias_history=AliasHistory(pg_url),
    )


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulated(6_000, seed=21).drop(columns=["true_log_hazard"])


def test_missing_production_alias_explains_how_to_promote(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError, match=r"@production.*churn-platform promote"):
        registry.load(PRODUCTION)


def test_train_register_challenger_promote_and_history(
    registry: ModelRegistry, frame: pd.DataFrame, pg_url: str
) -> None:
    outcome = train_and_register(
        frame, DEFAULT_CONTRACT, registry, config=TrainConfig(min_events=20), changed_by="test"
    )
    assert outcome.gate.passed, outcome.gate.reasons
    challenger = registry.version_for_alias(CHALLENGER)
    assert challenger is not None and int(challenger.version) == outcome.version
    assert challenger.run_id == outcome.run_id
    metrics = registry.run_metrics(outcome.run_id)
    assert metrics["holdout.xgboost_cox.c_index"] == pytest.approx(
        outcome.result.evaluations["xgboost_cox"].c_index
    )
    with pytest.raises(ValueError, match="approver"):
        registry.promote(outcome.version, approver=" ", reason="x")
    registry.promote(outcome.version, approver="alice", reason="looks good")
    loaded = registry.load(PRODUCTION)
    assert (loaded.version, loaded.run_id, loaded.alias) == (
        outcome.version,
        outcome.run_id,
        PRODUCTION,
    )
    history = AliasHistory(pg_url).read(registry.model_name)
    assert list(history["alias"]) == [CHALLENGER, PRODUCTION]
    assert history.iloc[1]["changed_by"] == "alice"
    assert history.iloc[1]["version"] == outcome.version
    # reference artifacts for drift are logged with the run
    ref_features, ref_scores = registry.load_reference(outcome.run_id)
    assert list(ref_features.columns) == list(DEFAULT_CONTRACT.feature_names)
    assert len(ref_scores) == len(ref_features)
    # a second model is gated on calibration too: its ICI against production's, same holdout
    second = train_and_register(
        frame, DEFAULT_CONTRACT, registry, config=TrainConfig(min_events=20), changed_by="test"
    )
    assert any(r.startswith("ICI@90d") for r in second.gate.reasons), second.gate.reasons
    gate_metrics = registry.run_metrics(second.run_id)
    assert gate_metrics["gate.challenger_ici_90d"] < 0.05
    assert gate_metrics["gate.champion_ici_90d"] == pytest.approx(
        gate_metrics["gate.challenger_ici_90d"]
    )


def test_only_the_challenger_can_be_promoted(registry: ModelRegistry, frame: pd.DataFrame) -> None:
    outcome = train_and_register(
        frame, DEFAULT_CONTRACT, registry, config=TrainConfig(min_events=20)
    )
    with pytest.raises(ModelNotFoundError, match="is not the challenger"):
        registry.promote(outcome.version + 1, approver="bob", reason="typo")


def test_gate_refuses_a_model_that_cannot_rank(
    registry: ModelRegistry, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = RecordingNotifier()
    first = train_and_register(
        frame, DEFAULT_CONTRACT, registry, config=TrainConfig(min_events=20), notifier=notifier
    )
    # a new challenger: its card is logged and a human is asked to review it, with the link
    assert first.champion is None and first.model_card_uri is not None
    assert [m.fields["model card"] for m in notifier.sent] == [first.model_card_uri]
    assert APPROVAL_MARKER in registry.read_artifact_text(first.run_id, MODEL_CARD_ARTIFACT)
    registry.promote(first.version, approver="alice", reason="baseline")
    # A model trained on shuffled labels cannot rank: it must lose to production.
    shuffled = frame.copy()
    perm = shuffled.sample(frac=1.0, random_state=0).index
    shuffled[["duration_days", "event"]] = frame.loc[perm, ["duration_days", "event"]].to_numpy()
    predict_calls: list[int] = []
    original_predict = LoadedModel.predict

    def counting_predict(self: LoadedModel, *args: Any, **kwargs: Any) -> pd.DataFrame:
        predict_calls.append(self.version)
        return original_predict(self, *args, **kwargs)

    monkeypatch.setattr(LoadedModel, "predict", counting_predict)
    second = train_and_register(
        shuffled, DEFAULT_CONTRACT, registry, config=TrainConfig(min_events=20), notifier=notifier
    )
    assert not second.became_challenger
    assert len(notifier.sent) == 1  # a refused version asks nobody for approval
    # production was scored once, on the holdout, and the gate and the card share that result
    assert predict_calls == [first.version]
    assert second.champion is not None and second.champion.version == first.version
    assert second.gate.metrics["champion_c_index"] == second.champion.evaluation.c_index
    card = registry.read_artifact_text(second.run_id, MODEL_CARD_ARTIFACT)
    assert f"production v{first.version}" in card
    assert any("does not beat KM null" in r for r in second.gate.reasons)
    assert int(registry.version_for_alias(PRODUCTION).version) == first.version  # type: ignore[union-attr]
    challenger = registry.version_for_alias(CHALLENGER)
    assert challenger is not None and int(challenger.version) == first.version


def test_model_loads_by_alias_in_a_fresh_process_with_identical_predictions(
    registry: ModelRegistry,
    frame: pd.DataFrame,
    tmp_path,
    mlflow_tracking_uri: str,  # type: ignore[no-untyped-def]
) -> None:
    outcome = train_and_register(
        frame, DEFAULT_CONTRACT, registry, config=TrainConfig(min_events=20)
    )
    registry.promote(outcome.version, approver="alice", reason="fresh process test")
    sample = plain_features(frame.head(200), DEFAULT_CONTRACT)  # what any MLflow client sends
    sample.to_parquet(tmp_path / "x.parquet")
    here = registry.load(PRODUCTION).predict(sample, top_drivers=2)
    script = f"""
import json, mlflow, pandas as pd
m = mlflow.pyfunc.load_model("models:/{registry.model_name}@production")
x = pd.read_parquet({str(tmp_path / "x.parquet")!r})
m.predict(x, params={{"top_drivers": 2}}).to_parquet({str(tmp_path / "y.parquet")!r})
print(json.dumps(m.metadata.run_id))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "MLFLOW_TRACKING_URI": mlflow_tracking_uri},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    there = pd.read_parquet(tmp_path / "y.parquet")
    pd.testing.assert_frame_equal(here.reset_index(drop=True), there.reset_index(drop=True))
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == outcome.run_id
