"""Training use case: train → gate → log + register → ``challenger`` → model card → notify.

One function, :func:`train_and_register`, shared by the Dagster ``churn_model`` asset, the
``churn-platform train`` CLI (what the CI training pipeline runs) and the demo, so every path
produces the same MLflow run, the same model card and the same challenger notification.

This module is where a :class:`~churn_platform.model.train.TrainingResult` meets storage: it
decides what a training run logs (params, holdout metrics, contract, reference sample, pyfunc
files) and hands plain artifacts to :class:`~churn_platform.io.registry.ModelRegistry`, which
knows MLflow but no model class.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from churn_platform.app.model_card import CardContext, Champion, publish_model_card
from churn_platform.app.promotion import nominate, notify_safely
from churn_platform.domain.bootstrap import (
    Interval,
    PairedComparison,
    c_index_interval,
    paired_c_index,
)
from churn_platform.domain.calibration import CalibrationResult, calibration_at
from churn_platform.domain.datasource import SNAPSHOT_WEEK  # set by the one cohort stacking
from churn_platform.domain.schema import FeatureContract
from churn_platform.errors import ChurnPlatformError
from churn_platform.io.notify import Notification, Notifier
from churn_platform.io.registry import (
    CHALLENGER,
    CONTRACT_ARTIFACT,
    PRODUCTION,
    REFERENCE_FEATURES,
    REFERENCE_SCORES,
    ModelRegistry,
    PyfuncModelFiles,
)
from churn_platform.io.results import AliasHistory
from churn_platform.model.gate import GateConfig, GateResult, evaluate_predictor, gate_decision
from churn_platform.model.pyfunc import MODEL_CODE, MODEL_DIR_ARTIFACT
from churn_platform.model.train import TrainConfig, TrainingResult, train_models
from churn_platform.model.xgb_cox import plain_features

log = logging.getLogger(__name__)

REFERENCE_SAMPLE_ROWS = 50_000


@dataclass(frozen=True)
class TrainOutcome:
    """What one training run left behind: the fit, its MLflow run and registered version, the
    gate's verdict, the production model it was compared with, and the model card's URI."""

    result: TrainingResult
    run_id: str
    version: int
    gate: GateResult
    became_challenger: bool
    champion: Champion | None = None
    model_card_uri: str | None = None
    notification_problem: str | None = None  # None: sent, or nothing to send


def flatten_evaluations(result: TrainingResult) -> dict[str, float]:
    """Holdout metrics as flat MLflow keys, e.g. ``holdout.xgboost_cox.c_index``."""
    out: dict[str, float] = {}
    for model_name, ev in result.evaluations.items():
        prefix = f"holdout.{model_name}"
        out[f"{prefix}.c_index"] = ev.c_index
        out[f"{prefix}.uno_c"] = ev.uno_c
        out[f"{prefix}.ibs"] = ev.ibs
        for h, b in ev.brier.items():
            out[f"{prefix}.brier_{h}d"] = b
        for h, a in ev.auc.items():
            out[f"{prefix}.auc_{h}d"] = a
    return out


def metrics_json(result: TrainingResult) -> str:
    return json.dumps(flatten_evaluations(result), indent=2, sort_keys=True)


def _pip_requirements() -> list[str]:
    import lifelines
    import numpy
    import xgboost

    return [
        f"xgboost=={xgboost.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={numpy.__version__}",
        f"lifelines=={lifelines.__version__}",
    ]


def log_training_run(
    registry: ModelRegistry,
    result: TrainingResult,
    *,
    reference_features: pd.DataFrame,
    tags: Mapping[str, str] | None = None,
    run_name: str | None = None,
) -> str:
    """Log params, holdout metrics, the pyfunc model, contract and drift reference.

    The reference sample (features + the model's own scores on it) is what weekly drift
    checks compare against; it lives with the run of the model that made those scores.
    Returns the MLflow run id.
    """
    model = result.model
    contract = model.contract
    features = plain_features(reference_features, contract)
    example = features.head(5)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = model.save(Path(tmp) / "model_dir")
        return registry.log_run(
            PyfuncModelFiles(
                code_path=MODEL_CODE,
                artifacts={MODEL_DIR_ARTIFACT: model_dir},
                input_example=example,
                output_example=model.predict_frame(example, top_drivers=1),
                params_example={"top_drivers": 0},
                pip_requirements=_pip_requirements(),
            ),
            params={
                **result.params,
                "n_train": result.n_train,
                "n_validation": result.n_validation,
                "n_test": result.n_test,
                "n_events_train": result.n_events_train,
            },
            metrics=flatten_evaluations(result),
            dicts={
                CONTRACT_ARTIFACT: contract.to_dict(),
                "model/feature_importance.json": model.feature_importance(),
            },
            texts={"baselines/coxph_summary.csv": result.coxph.fitter.summary.to_csv()},
            frames={
                REFERENCE_FEATURES: features,
                REFERENCE_SCORES: model.predict_frame(features),
            },
            tags=tags,
            run_name=run_name,
        )


def challenger_notification(
    model_name: str, outcome: TrainOutcome, model_card: str | None = None
) -> Notification:
    """Slack message asking a human to review (model card) and approve the new challenger."""
    ev = outcome.result.evaluations["xgboost_cox"]
    fields = {
        "holdout C-index": f"{ev.c_index:.4f}",
        "holdout Brier@90d": f"{ev.brier.get(90, float('nan')):.4f}",
        "MLflow run": outcome.run_id,
    }
    champion = outcome.gate.metrics.get("champion_c_index")
    if champion is not None:
        fields["production C-index (same holdout)"] = f"{champion:.4f}"
    card = model_card if model_card is not None else outcome.model_card_uri
    if card is not None:
        fields["model card"] = card
    return Notification(
        title=f"{model_name} v{outcome.version} is the new challenger",
        text="Passed the validation gate:\n"
        + "\n".join(f"- {r}" for r in outcome.gate.reasons)
        + f"\nApprove with `churn-platform promote --version {outcome.version} --approver NAME`"
        " or the Dagster promote_model_job.",
        severity="info",
        fields=fields,
    )


def holdout_calibration(
    test: pd.DataFrame, contract: FeatureContract, pred: pd.DataFrame | None, horizon: int
) -> CalibrationResult | None:
    """Calibration at ``horizon`` of a model's holdout predictions (None without them or when
    the model does not predict that horizon)."""
    col = f"churn_prob_{int(horizon)}d"
    if pred is None or col not in pred.columns:
        return None
    return calibration_at(
        np.asarray(pred[col], dtype=float),
        test[contract.duration_column].to_numpy(float),
        test[contract.event_column].to_numpy(int),
        int(horizon),
    )


def _champion(
    registry: ModelRegistry, result: TrainingResult, contract: FeatureContract, config: TrainConfig
) -> tuple[Champion | None, str, pd.DataFrame | None]:
    """The production model scored once on the challenger's holdout (None if there is none or
    it cannot score it; then the second value says why, for the gate's reasons). The third
    value is its prediction per holdout row (risk score, churn probabilities), for the paired
    comparison and the calibration check."""
    try:
        champion = registry.load(PRODUCTION)
    except ChurnPlatformError:
        return None, "", None
    try:
        pred = champion.predict(result.test_frame[list(contract.feature_names)])
        ev = evaluate_predictor(
            lambda _: pred, result.train_frame, result.test_frame, contract, config.horizons
        )
    except ChurnPlatformError as exc:
        note = f"production v{champion.version} could not score the holdout: {exc}"
        log.warning(note)
        return None, note, None
    return Champion(champion.version, ev), "", pred


def like_for_like(
    test: pd.DataFrame,
    contract: FeatureContract,
    champion_risk: np.ndarray | None,
    challenger_risk: np.ndarray,
    *,
    seed: int = 0,
) -> tuple[Interval | None, PairedComparison | None, PairedComparison | None, str]:
    """Holdout C-index interval of the challenger, and production vs challenger on the same
    held-out customers (paired bootstrap), overall and on the most recent cohort (rows of the
    latest ``snapshot_week`` when the training set stacks cohorts). The last value is a note
    for the gate's reasons when a comparison could not be made."""
    dur = test[contract.duration_column].to_numpy(float)
    ev = test[contract.event_column].to_numpy(int)
    try:
        own = c_index_interval(dur, ev, challenger_risk, seed=seed)
    except ValueError:
        own = None
    if champion_risk is None:
        return own, None, None, ""
    try:
        overall = paired_c_index(dur, ev, champion_risk, challenger_risk, seed=seed)
    except ValueError as exc:
        return own, None, None, f"no like-for-like comparison: {exc}"
    recent = None
    note = ""
    if SNAPSHOT_WEEK in test.columns and test[SNAPSHOT_WEEK].nunique() > 1:
        mask = (test[SNAPSHOT_WEEK] == test[SNAPSHOT_WEEK].max()).to_numpy()
        try:
            recent = paired_c_index(
                dur[mask], ev[mask], champion_risk[mask], challenger_risk[mask], seed=seed
            )
        except ValueError as exc:
            note = f"most recent cohort not compared: {exc}"
    return own, overall, recent, note


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
    notifier: Notifier | None = None,
    training_window: Mapping[str, str] | None = None,
    drift: pd.DataFrame | None = None,
    model_card: bool = True,
) -> TrainOutcome:
    """Train on contract-valid data, log + register the model, gate it to ``challenger``,
    publish its model card and ask a human (``notifier``) to review a new challenger.

    The current production model (if any) is scored once, on the very same holdout rows, so
    the gate's comparison is fair and the card shows the same numbers. ``reference_features``
    is the population that weekly drift checks of this version compare against; by default a
    sample of its training rows. A retrain triggered by drift passes the current population
    instead: the new model is validated on it, and drift should be measured from where it was
    deployed. Every version is registered (for audit); only one that passes the gate gets the
    ``challenger`` alias. ``training_window`` (cohort/as-of weeks) and ``drift`` (the latest
    feature-drift rows) are shown on the card.
    """
    result = train_models(data, contract, config, progress=progress)
    evals = result.evaluations
    champion, champion_note, champion_pred = _champion(registry, result, contract, config)
    challenger_pred = result.model.predict_frame(result.test_frame)
    own, overall, recent, compare_note = like_for_like(
        result.test_frame,
        contract,
        None if champion_pred is None else np.asarray(champion_pred["risk_score"], dtype=float),
        challenger_pred["risk_score"].to_numpy(float),
        seed=config.seed,
    )
    h_cal = gate_config.calibration_horizon
    champion_cal = holdout_calibration(result.test_frame, contract, champion_pred, h_cal)
    gate = gate_decision(
        evals["xgboost_cox"],
        evals["km_null"],
        champion.evaluation if champion is not None else None,
        gate_config,
        comparison=overall,
        recent=recent,
        calibration=(
            None
            if champion_cal is None
            else holdout_calibration(result.test_frame, contract, challenger_pred, h_cal)
        ),
        champion_calibration=champion_cal,
    )
    notes = tuple(n for n in (champion_note, compare_note) if n)
    extra = {}
    if own is not None:
        extra = {"challenger_c_index_low": own.low, "challenger_c_index_high": own.high}
    gate = GateResult(gate.passed, (*gate.reasons, *notes), {**gate.metrics, **extra})
    pool = result.train_frame if reference_features is None else reference_features
    reference = pool.sample(n=min(REFERENCE_SAMPLE_ROWS, len(pool)), random_state=config.seed)
    run_tags = {"churn.gate_passed": str(gate.passed), **(tags or {})}
    # MLflow run named after what it is (train-<as-of week>), not a random adjective-animal
    as_of = (training_window or {}).get("as_of_week")
    run_id = log_training_run(
        registry,
        result,
        reference_features=reference,
        tags=run_tags,
        run_name=f"train-{as_of}" if as_of else None,
    )
    registry.log_text(run_id, "\n".join(gate.reasons), "gate/reasons.txt")
    for key, value in gate.metrics.items():
        registry.log_metric(run_id, f"gate.{key}", value, step=0)
    version = registry.register(run_id)
    if gate.passed:
        _nominate(registry, version, changed_by, "; ".join(gate.reasons))
    else:
        log.warning("version %s failed the gate: %s", version, "; ".join(gate.reasons))
    card_uri = None
    if model_card:
        card = CardContext(
            registry.model_name, version, run_id, gate, champion, training_window, drift
        )
        card_uri = publish_model_card(registry, result, card)
    outcome = TrainOutcome(
        result, run_id, version, gate, gate.passed, champion=champion, model_card_uri=card_uri
    )
    if gate.passed and notifier is not None:  # after the commit: an outage fails nothing
        problem = notify_safely(notifier, challenger_notification(registry.model_name, outcome))
        outcome = replace(outcome, notification_problem=problem)
    return outcome


def _nominate(registry: ModelRegistry, version: int, actor: str, reason: str) -> None:
    """The gate passed: ``challenger`` alias, version tags and ledger row together."""
    if isinstance(registry.alias_history, AliasHistory):
        nominate(registry, version, actor=actor, reason=reason)
    else:  # no database: MLflow aliases only (no ledger to keep in step)
        registry.set_alias(CHALLENGER, version, changed_by=actor, reason=reason)
