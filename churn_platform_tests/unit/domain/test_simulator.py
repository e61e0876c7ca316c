"""Behaviour of the synthetic subscription base: the data every other test and the demo rely on.

Small bases keep these fast. No assertion depends on wall time.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index

from churn_platform.domain.simulator import (
    CATEGORIES,
    FEATURE_COLUMNS,
    MIN_CENSORED_DURATION_DAYS,
    CustomerSimulator,
    SimulatorConfig,
    log_tenure_effect,
    make_training_frame,
)

START = SimulatorConfig().start_week
FLOAT_FEATURES = (
    "tenure_days",
    "monthly_charges",
    "total_charges",
    "data_usage_gb",
    "usage_change_pct",
)
INT_FEATURES = (
    "support_calls_90d",
    "late_payments_12m",
    "num_products",
    "is_senior",
    "has_partner",
)


def week(k: int) -> date:
    return START + timedelta(weeks=k)


def oracle_c_index(frame: pd.DataFrame, log_hazard: pd.Series | None = None) -> float:
    """C-index of ranking by a log-hazard (higher = churns sooner, hence the minus sign)."""
    risk = frame["true_log_hazard"] if log_hazard is None else log_hazard
    return float(concordance_index(frame["duration_days"], -np.asarray(risk), frame["event"]))


@pytest.fixture(scope="module")
def sim() -> CustomerSimulator:
    return CustomerSimulator(SimulatorConfig(n_customers=3_000, seed=7))


# --------------------------------------------------------------------------- contract


def test_feature_columns_are_the_declared_ones_in_order() -> None:
    assert FEATURE_COLUMNS == (
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
    assert set(CATEGORIES) == {"contract", "payment_method", "internet_service", "region"}
    assert set(FEATURE_COLUMNS) == set(CATEGORIES) | set(FLOAT_FEATURES) | set(INT_FEATURES)


@pytest.mark.parametrize("k", [0, 9, 40])
def test_snapshot_dtypes_categories_and_ranges(sim: CustomerSimulator, k: int) -> None:
    frame = sim.features_for_week(week(k))
    assert list(frame.columns) == ["customer_id", *FEATURE_COLUMNS, "true_log_hazard"]
    assert frame["customer_id"].dtype == np.int64
    assert frame["customer_id"].is_unique
    assert frame["true_log_hazard"].dtype == np.float64
    for column in FLOAT_FEATURES:
        assert frame[column].dtype == np.float64, column
    for column in INT_FEATURES:
        assert frame[column].dtype == np.int64, column
    for column, levels in CATEGORIES.items():
        assert frame[column].dtype == object, column
        assert all(type(value) is str for value in frame[column]), column
        assert set(frame[column]) <= set(levels), column
    numeric = frame.drop(columns=list(CATEGORIES)).to_numpy(dtype=np.float64)
    assert np.isfinite(numeric).all()
    assert (frame["tenure_days"] >= 0).all()
    assert frame["monthly_charges"].between(10, 200).all()
    assert (frame["total_charges"] >= 0).all()
    assert (frame["data_usage_gb"] >= 0).all()
    assert frame["usage_change_pct"].between(-100, 500).all()
    assert (frame["support_calls_90d"] >= 0).all()
    assert frame["late_payments_12m"].between(0, 12).all()
    assert frame["num_products"].between(1, 8).all()
    assert set(frame["is_senior"]) <= {0, 1}
    assert set(frame["has_partner"]) <= {0, 1}


def test_every_category_level_occurs(sim: CustomerSimulator) -> None:
    frame = sim.features_for_week(START)
    for column, levels in CATEGORIES.items():
        assert set(frame[column]) == set(levels), column


def test_features_are_realistically_correlated(sim: CustomerSimulator) -> None:
    frame = sim.features_for_week(START)
    charges = frame.groupby("internet_service")["monthly_charges"].mean()
    assert charges["fiber"] > charges["dsl"] > charges["none"]
    echeck = (frame["payment_method"] == "electronic_check").groupby(frame["contract"]).mean()
    assert echeck["month-to-month"] > echeck["one-year"] > echeck["two-year"]
    tenure = frame.groupby("contract")["tenure_days"].mean()
    assert tenure["two-year"] > tenure["one-year"] > tenure["month-to-month"]
    months = frame["tenure_days"] / 30.4375
    ratio = frame["total_charges"] / (frame["monthly_charges"] * months)
    assert ratio[months > 1].between(0.7, 1.4).all()


@pytest.mark.parametrize(
    "bad",
    [
        {"n_customers": 0},
        {"label_delay_weeks": -1},
        {"baseline_hazard_per_year": 0.0},
        {"concept_drift_strength": -1.0},
        {"start_week": date(2025, 1, 7)},
        {"feature_drift_week": date(2025, 3, 5)},
    ],
)
def test_invalid_config_is_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**bad)  # type: ignore[arg-type]


def test_weeks_must_be_mondays_on_or_after_start(sim: CustomerSimulator) -> None:
    with pytest.raises(ValueError, match="Monday"):
        sim.features_for_week(START + timedelta(days=2))
    with pytest.raises(ValueError, match="before the simulation start_week"):
        sim.features_for_week(START - timedelta(weeks=1))


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_frames_whatever_the_call_order() -> None:
    config = SimulatorConfig(n_customers=1_500, seed=3)
    first = CustomerSimulator(config)
    later_first = first.features_for_week(week(12))
    early = first.features_for_week(week(3))
    second = CustomerSimulator(config)
    pd.testing.assert_frame_equal(second.features_for_week(week(3)), early)
    pd.testing.assert_frame_equal(second.features_for_week(week(12)), later_first)
    pd.testing.assert_frame_equal(
        first.training_frame(week(3), week(20)), second.training_frame(week(3), week(20))
    )
    pd.testing.assert_frame_equal(
        make_training_frame(800, seed=5), make_training_frame(800, seed=5)
    )


def test_different_seeds_give_different_bases() -> None:
    a = CustomerSimulator(SimulatorConfig(n_customers=500, seed=1)).features_for_week(START)
    b = CustomerSimulator(SimulatorConfig(n_customers=500, seed=2)).features_for_week(START)
    assert not np.allclose(a["monthly_charges"], b["monthly_charges"])


# --------------------------------------------------------------------------- dynamics


def test_active_base_loses_churners_and_gains_sign_ups(sim: CustomerSimulator) -> None:
    this, following = sim.features_for_week(week(5)), sim.features_for_week(week(6))
    before, after = set(this["customer_id"]), set(following["customer_id"])
    left, joined = before - after, after - before
    assert left and joined
    # Everyone who left churned during that week, as the labels tell once known.
    labels = sim.labels_for_cohort(week(5), week(60)).set_index("customer_id")
    gone = labels.loc[sorted(left)]
    assert (gone["event"] == 1).all()
    assert (gone["duration_days"] <= 7).all()
    stayed = labels.loc[sorted(before & after)]
    assert (stayed["duration_days"] > 7).all()
    # Newcomers are new ids and signed up within the last week.
    newcomers = following.set_index("customer_id").loc[sorted(joined)]
    assert min(joined) > max(before)
    assert newcomers["tenure_days"].between(0, 7).all()
    # Tenure of stayers grows by exactly one week.
    tenure_then = this.set_index("customer_id")["tenure_days"]
    tenure_now = following.set_index("customer_id")["tenure_days"]
    common = sorted(before & after)
    np.testing.assert_allclose(tenure_now[common] - tenure_then[common], 7.0)


def test_base_size_stays_roughly_stable(sim: CustomerSimulator) -> None:
    sizes = [len(sim.features_for_week(week(k))) for k in (0, 26, 52, 104)]
    assert all(0.85 * sizes[0] < size < 1.15 * sizes[0] for size in sizes)


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize("delay_weeks", [0, 4])
def test_labels_never_reveal_churn_after_as_of_minus_delay(delay_weeks: int) -> None:
    sim = CustomerSimulator(SimulatorConfig(n_customers=2_000, label_delay_weeks=delay_weeks))
    cohort, as_of = week(2), week(30)
    labels = sim.labels_for_cohort(cohort, as_of)
    window = float((as_of - timedelta(weeks=delay_weeks) - cohort).days)
    events, censored = labels[labels["event"] == 1], labels[labels["event"] == 0]
    assert len(events) > 0 and len(censored) > 0
    assert (events["duration_days"] < window).all()
    assert (censored["duration_days"] == window).all()
    assert labels["event"].dtype == np.int64
    assert labels["duration_days"].dtype == np.float64
    assert set(labels["event"]) <= {0, 1}
    # Waiting longer only adds events; it never removes one or changes its date.
    later = sim.labels_for_cohort(cohort, week(60)).set_index("customer_id")
    seen = events.set_index("customer_id")
    assert (later.loc[seen.index, "event"] == 1).all()
    np.testing.assert_allclose(later.loc[seen.index, "duration_days"], seen["duration_days"])


def test_labels_before_anything_is_known_are_censored_at_half_a_day(
    sim: CustomerSimulator,
) -> None:
    # as_of within the label delay of the cohort week: no churn can be known yet.
    labels = sim.labels_for_cohort(week(10), week(11))
    assert (labels["event"] == 0).all()
    assert (labels["duration_days"] == MIN_CENSORED_DURATION_DAYS).all()


def test_training_frame_joins_features_and_labels(sim: CustomerSimulator) -> None:
    frame = sim.training_frame(week(4), week(40))
    features = sim.features_for_week(week(4))
    labels = sim.labels_for_cohort(week(4), week(40))
    assert list(frame.columns) == [
        "customer_id",
        *FEATURE_COLUMNS,
        "true_log_hazard",
        "duration_days",
        "event",
    ]
    pd.testing.assert_frame_equal(frame[features.columns], features)
    pd.testing.assert_frame_equal(frame[labels.columns], labels)
    assert (frame["duration_days"] > 0).all()


def test_make_training_frame_has_administrative_and_random_censoring() -> None:
    frame = make_training_frame(4_000, seed=1, horizon_days=200.0)
    assert list(frame.columns) == [
        "customer_id",
        *FEATURE_COLUMNS,
        "true_log_hazard",
        "duration_days",
        "event",
    ]
    assert len(frame) == 4_000
    assert (frame["duration_days"] > 0).all()
    assert (frame["duration_days"] <= 200.0).all()
    censored = frame[frame["event"] == 0]
    at_horizon = censored["duration_days"] == 200.0
    assert at_horizon.mean() > 0.7  # mostly administrative
    assert (~at_horizon).sum() > 100  # but some lost to follow-up early
    assert 0.03 < frame["event"].mean() < 0.4
    assert np.isfinite(frame.drop(columns=list(CATEGORIES)).to_numpy(dtype=float)).all()


# --------------------------------------------------------------------------- ground truth


@pytest.mark.parametrize("nonlinear", [False, True])
def test_oracle_ranks_churners_well(nonlinear: bool) -> None:
    frame = make_training_frame(5_000, seed=11, nonlinear=nonlinear)
    oracle = oracle_c_index(frame)
    random_ranking = oracle_c_index(
        frame, pd.Series(np.random.default_rng(0).normal(size=len(frame)))
    )
    assert oracle > 0.72
    assert abs(random_ranking - 0.5) < 0.05
    assert oracle > random_ranking + 0.2


def test_true_log_hazard_matches_how_churn_was_drawn() -> None:
    """Expected churns over four weeks from the true hazards equal the observed churns."""
    sim = CustomerSimulator(SimulatorConfig(n_customers=20_000, seed=2))
    frame = sim.training_frame(START, week(8))  # label delay 4 weeks: first 28 days known
    steps = np.linspace(0.0, 28.0, 57)
    tenure = frame["tenure_days"].to_numpy()
    customer_part = frame["true_log_hazard"].to_numpy() - log_tenure_effect(tenure, True)
    hazard = np.exp(customer_part[:, None] + log_tenure_effect(tenure[:, None] + steps, True))
    cumulative = np.trapezoid(hazard, steps, axis=1)
    expected = float(np.sum(1.0 - np.exp(-cumulative)))
    observed = int(frame["event"].sum())
    assert abs(observed - expected) < 4.0 * np.sqrt(expected)


def test_riskier_profiles_churn_more() -> None:
    frame = make_training_frame(6_000, seed=4, nonlinear=False)
    churn = frame.groupby("contract")["event"].mean()
    assert churn["month-to-month"] > churn["one-year"] > churn["two-year"]
    many_calls = frame["support_calls_90d"] >= 4
    assert frame.loc[many_calls, "event"].mean() > frame.loc[~many_calls, "event"].mean()
    falling = frame["usage_change_pct"] < -20
    assert frame.loc[falling, "event"].mean() > frame.loc[~falling, "event"].mean()


def test_nonlinear_mode_adds_effects_a_linear_model_misses() -> None:
    """Fiber customers with high charges are riskier than a linear blend of both would say."""
    sim_nl = CustomerSimulator(SimulatorConfig(n_customers=4_000, seed=9, nonlinear=True))
    sim_lin = CustomerSimulator(SimulatorConfig(n_customers=4_000, seed=9, nonlinear=False))
    nl, lin = sim_nl.features_for_week(START), sim_lin.features_for_week(START)
    # Same customers, same features; only the hazard differs.
    pd.testing.assert_frame_equal(nl[list(FEATURE_COLUMNS)], lin[list(FEATURE_COLUMNS)])
    gap = nl["true_log_hazard"] - lin["true_log_hazard"]
    fiber_high = (nl["internet_service"] == "fiber") & (nl["monthly_charges"] > 95)
    assert gap[fiber_high].mean() > gap[~fiber_high].mean() + 0.3


# --------------------------------------------------------------------------- drift


def test_feature_drift_moves_charges_after_the_drift_week_only() -> None:
    drift_week = week(10)
    config = SimulatorConfig(n_customers=3_000, seed=5)
    plain = CustomerSimulator(config)
    drifted = CustomerSimulator(
        SimulatorConfig(n_customers=3_000, seed=5, feature_drift_week=drift_week)
    )
    for k in (0, 9):
        pd.testing.assert_frame_equal(
            drifted.features_for_week(week(k)), plain.features_for_week(week(k))
        )
    after_plain = plain.features_for_week(week(12))
    after_drift = drifted.features_for_week(week(12))
    assert after_drift["monthly_charges"].mean() > after_plain["monthly_charges"].mean() + 5
    assert after_drift["data_usage_gb"].median() < after_plain["data_usage_gb"].median()
    fiber_share = (after_drift["internet_service"] == "fiber").mean()
    assert fiber_share > (after_plain["internet_service"] == "fiber").mean() + 0.05


def test_concept_drift_degrades_the_old_ground_truth() -> None:
    drift_week = week(20)
    n, seed = 6_000, 13
    plain = CustomerSimulator(SimulatorConfig(n_customers=n, seed=seed))
    drifted = CustomerSimulator(
        SimulatorConfig(n_customers=n, seed=seed, concept_drift_week=drift_week)
    )
    # Before the switch nothing differs, churn times included.
    pd.testing.assert_frame_equal(
        drifted.training_frame(week(0), week(20)), plain.training_frame(week(0), week(20))
    )
    as_of = drift_week + timedelta(weeks=56)
    old_world = plain.training_frame(drift_week, as_of)
    new_world = drifted.training_frame(drift_week, as_of)
    pre_drift_truth = drifted.counterfactual_log_hazard(drift_week, concept_drift_active=False)
    np.testing.assert_array_equal(pre_drift_truth.index, new_world["customer_id"])

    c_old_truth_old_world = oracle_c_index(old_world)
    c_old_truth_new_world = oracle_c_index(new_world, pre_drift_truth)
    c_new_truth_new_world = oracle_c_index(new_world)
    assert c_old_truth_new_world < c_old_truth_old_world - 0.03
    assert c_old_truth_new_world < c_new_truth_new_world - 0.03
    # The hidden column follows the new coefficients after the switch.
    post = drifted.counterfactual_log_hazard(drift_week, concept_drift_active=True)
    np.testing.assert_allclose(post.to_numpy(), new_world["true_log_hazard"].to_numpy())
