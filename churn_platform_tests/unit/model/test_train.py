"""Training on simulated customers whose true hazard is known.

These are behavioural tests: the model must recover the ranking the simulator used to draw
churn times, beat a linear Cox model when the truth is non-linear, and be calibrated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_platform.domain.metrics import harrell_c
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.errors import TrainingError
from churn_platform.model.train import TrainConfig, train_models
from churn_platform_tests.support.data import simulated


@pytest.fixture(scope="module")
def nonlinear_result():  # type: ignore[no-untyped-def]
    frame = simulated(50_000, seed=11, nonlinear=True)
    return train_models(frame, DEFAULT_CONTRACT, TrainConfig(seed=0), test_size=0.3)


def test_xgboost_recovers_true_hazard_ordering(nonlinear_result) -> None:  # type: ignore[no-untyped-def]
    test = nonlinear_result.test_frame
    oracle = harrell_c(test["duration_days"], test["event"], test["true_log_hazard"])
    xgb_c = nonlinear_result.evaluations["xgboost_cox"].c_index
    print(f"oracle C={oracle:.4f} xgboost C={xgb_c:.4f}")
    assert oracle - xgb_c <= 0.02
    assert xgb_c > 0.7


def test_xgboost_beats_linear_cox_when_hazard_is_nonlinear(nonlinear_result) -> None:  # type: ignore[no-untyped-def]
    ev = nonlinear_result.evaluations
    assert ev["xgboost_cox"].c_index >= ev["coxph"].c_index
    assert ev["km_null"].c_index == pytest.approx(0.5)


def test_probabilities_are_calibrated_vs_km_null(nonlinear_result) -> None:  # type: ignore[no-untyped-def]
    ev = nonlinear_result.evaluations
    assert ev["xgboost_cox"].brier[90] <= ev["km_null"].brier[90]
    assert ev["xgboost_cox"].ibs <= ev["km_null"].ibs
    # mean predicted P(churn within 90d) close to the observed KM rate on the test rows
    test = nonlinear_result.test_frame
    pred = nonlinear_result.model.predict_frame(test)
    from churn_platform.domain.metrics import km_survival_at

    km_90 = 1.0 - float(km_survival_at(test["duration_days"], test["event"], [90])[0])
    assert abs(pred["churn_prob_90d"].mean() - km_90) < 0.02


def test_top_drivers_are_positive_contributions(small_frame: pd.DataFrame) -> None:
    result = train_models(small_frame, DEFAULT_CONTRACT, TrainConfig(min_events=20))
    pred = result.model.predict_frame(small_frame.head(50), top_drivers=3)
    contrib = result.model.contributions(small_frame.head(50))
    import json

    for (_, row), (_, c) in zip(pred.iterrows(), contrib.iterrows(), strict=True):
        drivers = json.loads(row["top_drivers"])
        assert len(drivers) <= 3
        for d in drivers:
            assert d["contribution"] > 0
            assert c[d["feature"]] == pytest.approx(d["contribution"], abs=1e-3)
    # contributions + bias reproduce the margin
    lph = result.model.log_partial_hazard(small_frame.head(50))
    assert np.all(np.isfinite(lph))


def test_same_seed_same_model(small_frame: pd.DataFrame) -> None:
    a = train_models(small_frame, DEFAULT_CONTRACT, TrainConfig(min_events=20, seed=3))
    b = train_models(small_frame, DEFAULT_CONTRACT, TrainConfig(min_events=20, seed=3))
    assert a.evaluations["xgboost_cox"] == b.evaluations["xgboost_cox"]


def test_too_few_events_is_refused(small_frame: pd.DataFrame) -> None:
    frame = small_frame.copy()
    frame["event"] = 0
    frame.loc[frame.index[:5], "event"] = 1
    with pytest.raises(TrainingError, match=r"only \d+ churn events .* at least 50"):
        train_models(frame, DEFAULT_CONTRACT, TrainConfig())


def test_constant_feature_is_refused(small_frame: pd.DataFrame) -> None:
    frame = small_frame.copy()
    frame["num_products"] = 2
    with pytest.raises(TrainingError, match="feature 'num_products' is constant"):
        train_models(frame, DEFAULT_CONTRACT, TrainConfig(min_events=20))


def _reference_top_drivers(contrib: pd.DataFrame, k: int) -> list[str]:
    """The straightforward construction: one ``json.dumps`` per customer."""
    import json

    values = contrib.to_numpy()
    names = np.asarray(contrib.columns)
    k = min(k, values.shape[1])
    top = np.argsort(-values, axis=1)[:, :k]
    rows = np.take_along_axis(values, top, axis=1)
    return [
        json.dumps(
            [
                {"feature": str(n), "contribution": round(float(v), 4)}
                for n, v in zip(names[idx], vals, strict=True)
                if v > 0
            ]
        )
        for idx, vals in zip(top, rows, strict=True)
    ]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 20])
def test_top_drivers_json_equals_reference_construction(seed: int, k: int) -> None:
    from churn_platform.model.xgb_cox import top_drivers_json

    rng = np.random.default_rng(seed)
    n, m = 300, 6
    scale = rng.choice([1e-5, 5e-5, 1e-3, 0.3, 40.0], size=(n, m))
    values = (rng.standard_normal((n, m)) * scale).astype(np.float32)
    values[:10] = 0.0  # no positive contribution: "[]"
    values[10:20] = -1.0
    values[20:30, :4] = 0.25  # ties
    values[30:40] = rng.integers(0, 3, size=(10, m)) / 20_000  # exactly half-way when rounded
    names = ["tenure_days", "contract", 'odd "name"', "région", "x\\y", "f5"]
    contrib = pd.DataFrame(values, columns=names, index=np.arange(100, 100 + n))
    got = top_drivers_json(contrib, k)
    assert got.index.equals(contrib.index)
    assert got.tolist() == _reference_top_drivers(contrib, k)


def test_stacked_cohorts_with_repeated_customers_train_weighted(
    small_frame: pd.DataFrame,
) -> None:
    """A customer present in two cohorts contributes two rows weighted 1/2 each, and never
    straddles the train/test split (the holdout is a hash of the id)."""
    later = small_frame.sample(frac=0.6, random_state=1).copy()
    later["duration_days"] = (later["duration_days"] * 0.5).clip(lower=0.5)
    stacked = pd.concat([small_frame, later], ignore_index=True)
    result = train_models(stacked, DEFAULT_CONTRACT, TrainConfig(min_events=20, max_rounds=50))
    train_ids = set(result.train_frame["customer_id"])
    assert train_ids.isdisjoint(set(result.test_frame["customer_id"]))
    assert result.evaluations["xgboost_cox"].c_index > 0.6
