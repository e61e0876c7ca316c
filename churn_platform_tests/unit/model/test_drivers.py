"""Pattern-deduplicated TreeSHAP is bit-identical to XGBoost's own ``pred_contribs``.

The reference is the old path: ``booster.predict(DMatrix(frame), pred_contribs=True)`` on the
whole model. Random models (regression and Cox, several depths, one-hot and partition-based
categorical splits) on random data with missing values in numeric and categorical columns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from churn_platform.model import drivers
from churn_platform.model.drivers import PatternTreeShap
from churn_platform.model.xgb_cox import top_drivers_json

LEVELS = list("pqrstuvwxyz")
REGIONS = ["north", "south"]


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "plan": pd.Categorical(rng.choice(LEVELS, n), categories=LEVELS),
            "d": rng.integers(0, 5, n).astype("float64"),
            "region": pd.Categorical(
                rng.choice(["north", "south"], n), categories=["north", "south"]
            ),
        }
    )
    x.loc[rng.random(n) < 0.1, "a"] = np.nan
    x.loc[rng.random(n) < 0.1, "plan"] = np.nan
    x.loc[rng.random(n) < 0.05, "d"] = np.nan
    x.loc[rng.random(n) < 0.05, "region"] = np.nan
    return x


def _model(seed: int, objective: str, depth: int, onehot: int, rounds: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = _frame(rng, 4000)
    signal = x["b"].to_numpy() + (x["plan"].cat.codes.to_numpy() % 3) - np.nan_to_num(x["a"])
    if objective == "survival:cox":
        time = rng.integers(1, 100, len(x)) * np.exp(-0.5 * signal) + 1
        label = np.where(rng.random(len(x)) < 0.6, time, -time)
    else:
        label = signal + rng.normal(size=len(x))
    dm = xgb.DMatrix(x, label, enable_categorical=True)
    params = {
        "objective": objective,
        "max_depth": depth,
        "eta": 0.2,
        "max_cat_to_onehot": onehot,
        "seed": seed,
        "nthread": 1,
    }
    return xgb.train(params, dm, rounds)


def _reference(booster: xgb.Booster, x: pd.DataFrame, n_trees: int) -> np.ndarray:
    dm = xgb.DMatrix(x, enable_categorical=True)
    return np.asarray(
        booster.predict(dm, pred_contribs=True, iteration_range=(0, n_trees)), dtype=np.float32
    )


@pytest.mark.parametrize(
    ("seed", "objective", "depth", "onehot"),
    [
        (0, "survival:cox", 4, 1),
        (1, "survival:cox", 6, 4),
        (2, "reg:squarederror", 3, 1),
        (3, "reg:squarederror", 7, 16),
    ],
)
@pytest.mark.parametrize("kernel", [True, False], ids=["compiled", "numpy"])
def test_bit_identical_to_pred_contribs(
    seed: int,
    objective: str,
    depth: int,
    onehot: int,
    kernel: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both pattern paths: the compiled kernel (trees up to 20 split nodes) and numpy (any
    size; depth 7 needs several 63-bit words per key)."""
    if not kernel:
        monkeypatch.setattr(drivers, "_KERNEL_MAX_NODES", 0)
    booster = _model(seed, objective, depth, onehot, rounds=30)
    x = _frame(np.random.default_rng(100 + seed), 6000)
    n_trees = 25  # an iteration range shorter than the model, as best_iteration gives
    shap = PatternTreeShap(booster, n_trees, list(x.columns))
    assert shap.supported
    got = shap.contributions(x)
    want = _reference(booster, x, n_trees)
    assert got.dtype == np.float32 and got.shape == want.shape
    # bit for bit: compare the raw 32-bit patterns, so -0.0 vs 0.0 would fail too
    assert np.array_equal(got.view(np.int32), want.view(np.int32))
    assert shap.fallbacks == 0
    # therefore the same top drivers, ties broken the same way
    names = list(x.columns)
    ours = top_drivers_json(pd.DataFrame(got[:, :-1], columns=names), 3)
    ref = top_drivers_json(pd.DataFrame(want[:, :-1], columns=names), 3)
    assert ours.tolist() == ref.tolist()


def test_leaf_index_alone_is_not_the_pattern() -> None:
    """Why every split node's direction is in the key: the leaf (the path) is not enough.

    TreeSHAP's recursion also visits the branches a row does not take and uses the row's
    direction there; keying on the leaf index alone gives different values.
    """
    booster = _model(5, "reg:squarederror", 5, 1, rounds=10)
    x = _frame(np.random.default_rng(7), 5000)
    dm = xgb.DMatrix(x, enable_categorical=True)
    leaves = booster.predict(dm, pred_leaf=True, iteration_range=(0, 1)).astype(int).reshape(-1)
    per_tree = booster[0:1].predict(dm, pred_contribs=True)
    _, first = np.unique(leaves, return_index=True)
    by_leaf = per_tree[first[np.searchsorted(np.unique(leaves), leaves)]]
    assert not np.array_equal(by_leaf, per_tree)


def test_small_frames_take_the_full_path_with_the_same_numbers() -> None:
    booster = _model(4, "survival:cox", 4, 1, rounds=12)
    x = _frame(np.random.default_rng(8), 50)
    got = PatternTreeShap(booster, 12, list(x.columns)).contributions(x)
    assert np.array_equal(got.view(np.int32), _reference(booster, x, 12).view(np.int32))


def test_a_mismatch_on_the_check_rows_falls_back_to_the_full_computation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guard is real: corrupt the pattern keys and the answer is still XGBoost's."""
    booster = _model(6, "survival:cox", 4, 1, rounds=12)
    x = _frame(np.random.default_rng(9), drivers.MIN_PATTERN_ROWS + 100)
    monkeypatch.setattr(
        drivers,
        "_patterns",
        lambda tree, xs, missing, table: (np.zeros(len(xs), np.int64), np.zeros(1, np.int64)),
    )
    shap = PatternTreeShap(booster, 12, list(x.columns))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = shap.contributions(x)
    assert shap.fallbacks == 1
    assert any("pattern TreeSHAP differed" in str(w.message) for w in caught)
    assert np.array_equal(got.view(np.int32), _reference(booster, x, 12).view(np.int32))


def test_product_model_contributions_equal_the_reference(small_frame: pd.DataFrame) -> None:
    """The product's ``XGBCoxModel.contributions`` (the pattern path at this size) against the
    old path, ``pred_contribs`` on the whole model, on simulator data with the real contract."""
    from churn_platform.domain.schema import DEFAULT_CONTRACT
    from churn_platform.model.train import TrainConfig, train_models
    from churn_platform.model.xgb_cox import model_matrix

    model = train_models(small_frame, DEFAULT_CONTRACT, TrainConfig(min_events=20)).model
    assert len(small_frame) >= drivers.MIN_PATTERN_ROWS
    got = model.contributions(small_frame)
    dm = xgb.DMatrix(model_matrix(small_frame, DEFAULT_CONTRACT), enable_categorical=True)
    want = model.booster.predict(
        dm, pred_contribs=True, iteration_range=(0, model.best_iteration + 1)
    )[:, :-1]
    assert np.array_equal(got.to_numpy().view(np.int32), want.view(np.int32))
    assert list(got.columns) == list(DEFAULT_CONTRACT.feature_names)
    # the margin is recovered from contributions + bias as XGBoost defines it
    ref_top = top_drivers_json(pd.DataFrame(want, columns=got.columns, index=got.index), 3)
    assert model.top_drivers(small_frame, 3).tolist() == ref_top.tolist()
