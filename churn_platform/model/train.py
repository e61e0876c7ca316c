"""Training: XGBoost Cox (+ Breslow baseline), the lifelines CoxPH baseline and the KM null.

Everything here is pure computation on DataFrames (no MLflow, no database): the registry adapter
logs what this returns, and the CLI/Dagster assets call it. Rows must already satisfy the
feature contract with targets (``FeatureContract.validate(df, with_target=True)``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from lifelines import CoxPHFitter

from churn_platform.domain.metrics import SurvivalEvaluation, evaluate_survival, km_survival_at
from churn_platform.domain.schema import DEFAULT_HORIZONS, CategoricalFeature, FeatureContract
from churn_platform.domain.survival import (
    BreslowBaseline,
    breslow_baseline,
    snapshot_weights,
    xgboost_cox_label,
)
from churn_platform.errors import TrainingError
from churn_platform.model.xgb_cox import XGBCoxModel, horizons_tuple, model_matrix

log = logging.getLogger(__name__)

MODEL_NAMES = ("xgboost_cox", "coxph", "km_null")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and data rules for one training run."""

    horizons: tuple[int, ...] = DEFAULT_HORIZONS
    validation_fraction: float = 0.2  # of the training part, for early stopping
    seed: int = 0
    learning_rate: float = 0.05
    max_depth: int = 4
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    min_events: int = 50
    coxph_penalizer: float = 0.01
    coxph_max_rows: int = 200_000  # lifelines is O(n p^2) per Newton step; subsample above this
    nthread: int = 0  # 0 = all cores


@dataclass
class CoxPHBaseline:
    """lifelines CoxPHFitter on one-hot encoded features (reference levels dropped)."""

    fitter: CoxPHFitter
    contract: FeatureContract
    columns: list[str]

    def design(self, df: pd.DataFrame) -> pd.DataFrame:
        return coxph_design(df, self.contract)[self.columns]

    def log_partial_hazard(self, df: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.fitter.predict_log_partial_hazard(self.design(df)), dtype=float)

    @property
    def baseline(self) -> BreslowBaseline:
        """lifelines' Breslow cumulative baseline hazard (at the centred design) as the same
        right-continuous step function xgboost_cox uses."""
        h0 = self.fitter.baseline_cumulative_hazard_.iloc[:, 0]
        return BreslowBaseline(
            times=h0.index.to_numpy(dtype=np.float64),
            cumulative_hazard=h0.to_numpy(dtype=np.float64),
        )

    def churn_probabilities(
        self, df: pd.DataFrame, horizons: Sequence[int]
    ) -> dict[int, np.ndarray]:
        """``1 - S(h | x)`` with ``H0`` evaluated at the last event time <= h (a step, as for
        xgboost_cox and km_null). lifelines' ``predict_survival_function(times=...)``
        interpolates ``H0`` linearly between event times, which gave coxph survival up to
        0.30 away from the step curve and a Brier score the other models could not get."""
        lph = self.log_partial_hazard(df)
        probs = self.baseline.churn_probabilities(lph, [float(h) for h in horizons])
        return {int(h): probs[float(h)] for h in horizons}


@dataclass
class TrainingResult:
    """What a training run produced, plus holdout metrics for the three models."""

    model: XGBCoxModel
    coxph: CoxPHBaseline
    evaluations: dict[str, SurvivalEvaluation]
    n_train: int
    n_validation: int
    n_test: int
    n_events_train: int
    train_frame: pd.DataFrame
    test_frame: pd.DataFrame
    params: dict[str, float | int | str] = field(default_factory=dict)


def coxph_design(df: pd.DataFrame, contract: FeatureContract) -> pd.DataFrame:
    """One-hot design matrix for lifelines; first level of each categorical is the reference."""
    parts: list[pd.DataFrame] = []
    for f in contract.features:
        if isinstance(f, CategoricalFeature):
            cat = pd.Categorical(df[f.name].astype("object"), categories=f.categories)
            dummies = pd.get_dummies(cat, prefix=f.name, dtype=float).iloc[:, 1:]
            dummies.index = df.index
            parts.append(dummies)
        else:
            parts.append(df[[f.name]].astype(float))
    return pd.concat(parts, axis=1)


def check_trainable(df: pd.DataFrame, contract: FeatureContract, min_events: int) -> None:
    """Refuse data a survival model cannot learn from, naming the reason."""
    n_events = int(df[contract.event_column].sum())
    if n_events < min_events:
        raise TrainingError(
            f"only {n_events} churn events in {len(df)} rows; at least {min_events} are needed "
            f"to train (column {contract.event_column!r}). Use a longer label window or more "
            f"customers."
        )
    for name in contract.feature_names:
        if df[name].nunique(dropna=False) <= 1:
            value = df[name].iloc[0] if len(df) else None
            raise TrainingError(
                f"feature {name!r} is constant ({value!r}) in all {len(df)} training rows; it "
                f"carries no signal. Drop it in the data source config (columns.drop)."
            )


def split_indices(
    n: int, fraction: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Random split (stratified on the event flag when given) → (keep, held_out) indices."""
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        cut = round(n * (1 - fraction))
        return np.sort(perm[:cut]), np.sort(perm[cut:])
    keep: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for value in np.unique(stratify):
        idx = np.flatnonzero(stratify == value)
        idx = rng.permutation(idx)
        cut = round(len(idx) * (1 - fraction))
        keep.append(idx[:cut])
        held.append(idx[cut:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def holdout_mask(ids: pd.Series, fraction: float, seed: int) -> np.ndarray:
    """Customers held out for evaluation, chosen by a stable hash of their id.

    The same customer is held out in every training run with the same seed, so a challenger
    and the production model are compared on customers *neither* was trained on (customers
    stay in the base for months, so random splits of successive cohorts would leak).
    """
    keyed = ids.astype(str) + f":{seed}"
    hashed = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
    return np.asarray((hashed % np.uint64(10_000)) < np.uint64(round(fraction * 10_000)))


def _weights(df: pd.DataFrame, contract: FeatureContract) -> np.ndarray | None:
    """1/snapshots per customer when stacked cohorts repeat customers, else None (all 1)."""
    ids = df[contract.id_column]
    if not ids.duplicated().any():
        return None
    return snapshot_weights(ids)


def fit_xgb_cox(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    contract: FeatureContract,
    config: TrainConfig,
    progress: Callable[[int, float], None] | None = None,
) -> XGBCoxModel:
    """Fit XGBoost ``survival:cox`` with early stopping on ``validation``, then Breslow."""
    dur, ev = contract.duration_column, contract.event_column
    dtrain = xgb.DMatrix(
        model_matrix(train, contract),
        label=xgboost_cox_label(train[dur], train[ev]),
        weight=_weights(train, contract),
        enable_categorical=True,
    )
    dval = xgb.DMatrix(
        model_matrix(validation, contract),
        label=xgboost_cox_label(validation[dur], validation[ev]),
        weight=_weights(validation, contract),
        enable_categorical=True,
    )
    params = {
        "objective": "survival:cox",
        "eval_metric": "cox-nloglik",
        "tree_method": "hist",
        "eta": config.learning_rate,
        "max_depth": config.max_depth,
        "min_child_weight": config.min_child_weight,
        "subsample": config.subsample,
        "colsample_bytree": config.colsample_bytree,
        "lambda": config.reg_lambda,
        "seed": config.seed,
        "nthread": config.nthread,
        "max_cat_to_onehot": 8,
    }
    callbacks: list[xgb.callback.TrainingCallback] = []
    if progress is not None:
        callbacks.append(_ProgressCallback(progress))
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=config.max_rounds,
        evals=[(dval, "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
        callbacks=callbacks,
    )
    best = int(booster.best_iteration)
    margin = booster.predict(dtrain, output_margin=True, iteration_range=(0, best + 1))
    offset = float(
        np.average(margin, weights=dtrain.get_weight() if dtrain.get_weight().size else None)
    )
    baseline = breslow_baseline(train[dur], train[ev], margin - offset)
    return XGBCoxModel(
        booster=booster,
        baseline=baseline,
        contract=contract,
        horizons=horizons_tuple(config.horizons),
        best_iteration=best,
        offset=offset,
    )


class _ProgressCallback(xgb.callback.TrainingCallback):
    def __init__(self, report: Callable[[int, float], None]) -> None:
        self._report = report

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict[str, Any]) -> bool:
        history = evals_log.get("validation", {}).get("cox-nloglik", [])
        self._report(epoch, float(history[-1]) if history else float("nan"))
        return False


def fit_coxph(train: pd.DataFrame, contract: FeatureContract, config: TrainConfig) -> CoxPHBaseline:
    """Fit the lifelines Cox baseline (linear log hazard) on the same training rows."""
    if len(train) > config.coxph_max_rows:
        train = train.sample(n=config.coxph_max_rows, random_state=config.seed)
    design = coxph_design(train, contract)
    # Drop dummy columns that never occur in this sample (lifelines would not converge).
    columns = [c for c in design.columns if design[c].std() > 0]
    frame = design[columns].assign(
        _duration=train[contract.duration_column].to_numpy(dtype=float),
        _event=train[contract.event_column].to_numpy(dtype=int),
    )
    fitter = CoxPHFitter(penalizer=config.coxph_penalizer)
    weights = _weights(train, contract)
    if weights is None:
        fitter.fit(frame, duration_col="_duration", event_col="_event")
    else:
        with warnings.catch_warnings():  # non-integer weights are intended (1/snapshots)
            warnings.simplefilter("ignore")
            fitter.fit(
                frame.assign(_weight=weights),
                duration_col="_duration",
                event_col="_event",
                weights_col="_weight",
            )
    return CoxPHBaseline(fitter=fitter, contract=contract, columns=columns)


def evaluate_models(
    train: pd.DataFrame,
    test: pd.DataFrame,
    contract: FeatureContract,
    model: XGBCoxModel,
    coxph: CoxPHBaseline,
    horizons: Sequence[int],
) -> dict[str, SurvivalEvaluation]:
    """Holdout metrics for xgboost_cox, coxph and the Kaplan–Meier null on the same rows."""
    dur, ev = contract.duration_column, contract.event_column
    d_tr, e_tr = train[dur].to_numpy(float), train[ev].to_numpy(int)
    d_te, e_te = test[dur].to_numpy(float), test[ev].to_numpy(int)
    hs = [int(h) for h in horizons]

    xgb_pred = model.predict_frame(test)
    xgb_surv = {h: 1.0 - xgb_pred[f"churn_prob_{h}d"].to_numpy() for h in hs}
    cox_probs = coxph.churn_probabilities(test, hs)
    km = km_survival_at(d_tr, e_tr, hs)
    km_surv = {h: np.full(len(test), float(s)) for h, s in zip(hs, km, strict=True)}

    scores = {
        "xgboost_cox": (xgb_pred["risk_score"].to_numpy(), xgb_surv),
        "coxph": (coxph.log_partial_hazard(test), {h: 1.0 - p for h, p in cox_probs.items()}),
        # The null model ranks everyone the same: every pair is a tie (C = 0.5).
        "km_null": (np.zeros(len(test)), km_surv),
    }
    return {
        name: evaluate_survival(d_tr, e_tr, d_te, e_te, risk, surv, hs)
        for name, (risk, surv) in scores.items()
    }


def train_models(
    df: pd.DataFrame,
    contract: FeatureContract,
    config: TrainConfig = TrainConfig(),
    *,
    test: pd.DataFrame | None = None,
    test_size: float = 0.25,
    progress: Callable[[int, float], None] | None = None,
) -> TrainingResult:
    """Train all models on ``df`` and evaluate them on ``test`` (or a stratified split of df).

    ``df`` must already be contract-valid with targets. The validation split for early stopping
    is carved out of the training part, never out of the test rows.
    """
    ev = contract.event_column
    if test is None:
        held_mask = holdout_mask(df[contract.id_column], test_size, config.seed)
        train_all, test = df[~held_mask], df[held_mask]
    else:
        train_all = df
    check_trainable(train_all, contract, config.min_events)
    fit_idx, val_idx = split_indices(
        len(train_all), config.validation_fraction, config.seed + 1, train_all[ev].to_numpy()
    )
    fit_part, val_part = train_all.iloc[fit_idx], train_all.iloc[val_idx]
    log.info(
        "training xgboost_cox on %d rows (%d events), early stopping on %d rows",
        len(fit_part),
        int(fit_part[ev].sum()),
        len(val_part),
    )
    model = fit_xgb_cox(fit_part, val_part, contract, config, progress)
    log.info("xgboost_cox stopped at iteration %d; fitting lifelines CoxPH", model.best_iteration)
    coxph = fit_coxph(train_all, contract, config)
    evaluations = evaluate_models(train_all, test, contract, model, coxph, config.horizons)
    params: dict[str, float | int | str] = {
        k: v for k, v in config.__dict__.items() if isinstance(v, int | float | str)
    }
    params["horizons"] = ",".join(str(h) for h in config.horizons)
    params["best_iteration"] = model.best_iteration
    return TrainingResult(
        model=model,
        coxph=coxph,
        evaluations=evaluations,
        n_train=len(fit_part),
        n_validation=len(val_part),
        n_test=len(test),
        n_events_train=int(train_all[ev].sum()),
        train_frame=train_all,
        test_frame=test,
        params=params,
    )
