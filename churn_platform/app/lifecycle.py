"""Train → log → register → gate → ``challenger``: the training workflow shared by the CLI,
the Dagster ``churn_model`` asset and the CI training pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from churn_platform.domain.schema import FeatureContract
from churn_platform.errors import ChurnPlatformError
from churn_platform.io.registry import CHALLENGER, PRODUCTION, ModelRegistry
from churn_platform.model.gate import GateConfig, GateResult, evaluate_predictor, gate_decision
from churn_platform.model.train import TrainConfig, TrainingResult, train_models

log = logging.getLogger(__name__)

REFERENCE_SAMPLE_ROWS = 50_000


@dataclass(frozen=True)
class TrainOutcome:
    result: TrainingResult
    run_id: str
    version: int
    gate: GateResult
    became_challenger: bool


def train_and_register(
    data: pd.DataFrame,
    contract: FeatureContract,
    registry: ModelRegistry,
    *,
    config: TrainConfig = TrainConfig(),  # noqa: B008
    gate_config: GateConfig = GateConfig(),  # noqa: B008
    changed_by: str = "training_job",
    tags: dict[str, str] | None = None,
    progress: Callable[[int, float], None] | None = None,
    reference_features: pd.DataFrame | None = None,
) -> TrainOutcome:
    """Train on contract-valid data, log + register the model, and gate it to ``challenger``.

    The current production model (if any) is scored on the very same holdout rows so the
    comparison is fair. ``reference_features`` is the population that weekly drift checks of
    this version compare against; by default a sample of its training rows. A retrain
    triggered by drift passes the current population instead: the new model is validated on
    it, and drift should be measured from where it was deployed. Every version is registered
    (for audit); only one that passes the gate gets the ``challenger`` alias.
    """
    result = train_models(data, contract, config, progress=progress)
    evals = result.evaluations
    champion_eval = None
    champion_note = ""
    try:
        champion = registry.load(PRODUCTION)
    except ChurnPlatformError:
        champion = None
    if champion is not None:
        try:
            champion_eval = evaluate_predictor(
                champion.predict, result.train_frame, result.test_frame, contract, config.horizons
            )
        except ChurnPlatformError as exc:
            champion_note = f"production v{champion.version} could not score the holdout: {exc}"
            log.warning(champion_note)
    gate = gate_decision(evals["xgboost_cox"], evals["km_null"], champion_eval, gate_config)
    if champion_note:
        gate = GateResult(gate.passed, (*gate.reasons, champion_note), gate.metrics)
    pool = result.train_frame if reference_features is None else reference_features
    reference = pool.sample(n=min(REFERENCE_SAMPLE_ROWS, len(pool)), random_state=config.seed)
    run_tags = {"churn.gate_passed": str(gate.passed), **(tags or {})}
    run_id = registry.log_training_run(result, reference_features=reference, tags=run_tags)
    registry.client.log_text(run_id, "\n".join(gate.reasons), "gate/reasons.txt")
    for key, value in gate.metrics.items():
        registry.log_metric(run_id, f"gate.{key}", value, step=0)
    version = registry.register(run_id)
    if gate.passed:
        registry.set_alias(
            CHALLENGER, version, changed_by=changed_by, reason="; ".join(gate.reasons)
        )
    else:
        log.warning("version %s failed the gate: %s", version, "; ".join(gate.reasons))
    return TrainOutcome(result, run_id, version, gate, became_challenger=gate.passed)


def approve_challenger(
    registry: ModelRegistry, version: int, *, approver: str, reason: str
) -> None:
    """Human approval: ``production`` → the challenger, and the approval written on its card.

    The alias move is the decision (recorded in alias_history); the model card update is
    documentation, so a version logged before model cards existed is promoted all the same.
    """
    from datetime import UTC, datetime

    from churn_platform.app.model_card import record_approval

    registry.promote(version, approver=approver, reason=reason)
    run_id = registry.client.get_model_version(registry.model_name, str(version)).run_id
    try:
        record_approval(registry, str(run_id), approver, reason, datetime.now(UTC))
    except Exception as exc:  # the card is optional documentation, never a reason to fail
        log.warning("approval not written on the model card of v%s: %s", version, exc)
