"""Survival metrics: hand-computed cases, lifelines/scikit-survival references, invariances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index

from churn_platform.domain.metrics import (
    SurvivalEvaluation,
    UndefinedMetricError,
    brier_score,
    cumulative_dynamic_auc,
    evaluate_survival,
    fast_harrell_c,
    harrell_c,
    integrated_brier_score,
    km_survival_at,
    uno_c,
)

# Training data shared by the IPCW hand calculations. Reverse Kaplan-Meier of censoring
# (churns leave the risk set before censorings on the same day):
#   t=1: 4 at risk, 1 churn  -> censoring risk set 3, 0 censored -> G(1) = 1
#   t=2: 3 at risk, 1 censor                                      -> G(2) = 2/3
#   t=3: 2 at risk, 1 churn  -> censoring risk set 1, 0 censored -> G(3) = 2/3
#   t=4: 1 at risk, 1 censor                                      -> G(4) = 0
# Left limits (what weighs a churn by default): G(1-) = G(2-) = 1, G(3-) = G(4-) = 2/3, G(5-) = 0
TRAIN_T = np.array([1.0, 2.0, 3.0, 4.0])
TRAIN_E = np.array([1, 0, 1, 0])


# --- Harrell ------------------------------------------------------------------------------


# scikit-survival's published unit cases (tests/test_metrics.py, concordance_index_censored);
# its risk orientation is ours (higher = event sooner) and its pair rules match lifelines'.
SKSURV_CASES = [
    (
        [False, True, True, False, False, True, False, False],
        [1, 5, 6, 11, 34, 45, 46, 50],
        [5, 8, 11, 34, 12, 3, 9, 12],
        0.2307692,
    ),
    (
        [False, True, True, False, True, False, True, False, False],
        [1, 5, 6, 11, 11, 34, 45, 45, 50],
        [5, 8, 11, 19, 34, 12, 3, 9, 12],
        0.4,
    ),
    (
        [False, True, True, False, False, False, True, False, False],
        [1, 5, 6, 11, 11, 34, 45, 45, 50],
        [5, 8, 11, 19, 34, 12, 3, 9, 12],
        0.2,
    ),
    (
        [False, True, False, True, True, False, True, False, False][::-1],
        [1, 5, 6, 11, 11, 34, 45, 45, 50][::-1],
        [5, 8, 11, 19, 34, 12, 3, 9, 12][::-1],
        0.5294118,
    ),
    (
        [True, False, False, False, True, False, True, True, False, False, False, True],
        [34, 11, 11, 5, 1, 89, 13, 45, 7, 13, 9, 13],
        [1, 19, 13, 13, 15, 14, 19, 23, 11, 10, 11, 1],
        0.5681818,
    ),
]


@pytest.mark.parametrize(("event", "time", "risk", "expected"), SKSURV_CASES)
def test_harrell_matches_scikit_survival_reference(
    event: list[bool], time: list[int], risk: list[int], expected: float
) -> None:
    assert harrell_c(time, np.array(event, dtype=int), risk) == pytest.approx(expected, abs=1e-7)
    assert fast_harrell_c(time, np.array(event, dtype=int), risk) == pytest.approx(
        expected, abs=1e-7
    )


def test_harrell_hand_computed_with_ties() -> None:
    # t=[1,2,2,3], e=[1,1,0,0], risk=[5,3,3,1]
    # pairs anchored at churn t=1: vs t=2,2,3 -> 5>3, 5>3, 5>1: 3 concordant
    # churn t=2 (risk 3): vs censored t=2 (same day, censored counts as later; risk tie 3=3 -> 0.5)
    #                     vs t=3 (3>1: concordant)
    # -> (3 + 1 + 0.5) / 5 = 0.9
    t, e, r = [1, 2, 2, 3], [1, 1, 0, 0], [5.0, 3.0, 3.0, 1.0]
    assert fast_harrell_c(t, e, r) == pytest.approx(0.9)
    assert harrell_c(t, e, r) == pytest.approx(0.9)


def test_perfect_reversed_and_random_ranking() -> None:
    rng = np.random.default_rng(0)
    t = rng.permutation(np.arange(1, 2001)).astype(float)
    e = rng.integers(0, 2, t.size)
    assert fast_harrell_c(t, e, -t) == 1.0  # shorter life -> higher risk
    assert fast_harrell_c(t, e, t) == 0.0
    assert fast_harrell_c(t, e, rng.normal(size=t.size)) == pytest.approx(0.5, abs=0.03)
    assert fast_harrell_c(t, e, np.ones(t.size)) == 0.5  # all risks tied


def test_censored_customer_never_counts_as_churn() -> None:
    # Customer 0 leaves first but is censored: it anchors no pair. Only churn at t=2 anchors
    # pairs (vs t=3): its risk 1 < 2 -> discordant -> C = 0, whatever customer 0's risk is.
    t, e = [1, 2, 3], [0, 1, 0]
    for r0 in (-10.0, 0.0, 10.0):
        assert fast_harrell_c(t, e, [r0, 1.0, 2.0]) == 0.0
        assert harrell_c(t, e, [r0, 1.0, 2.0]) == 0.0


def test_fast_harrell_matches_lifelines_on_large_tied_data() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    t = rng.integers(1, 60, n).astype(float)
    e = rng.integers(0, 2, n)
    r = rng.integers(0, 30, n).astype(float)
    assert fast_harrell_c(t, e, r) == concordance_index(t, -r, e)


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.integers(1, 8),  # duration in days: many ties
            st.integers(0, 1),
            st.integers(-3, 3),  # risk: many ties
        ),
        min_size=2,
        max_size=60,
    )
)
def test_fast_harrell_equals_lifelines_property(data: list[tuple[int, int, int]]) -> None:
    t = np.array([d[0] for d in data], dtype=float)
    e = np.array([d[1] for d in data])
    r = np.array([d[2] for d in data], dtype=float)
    try:
        expected = concordance_index(t, -r, e)
    except ZeroDivisionError:
        with pytest.raises(ValueError, match="no comparable pair"):
            fast_harrell_c(t, e, r)
        return
    assert abs(fast_harrell_c(t, e, r) - expected) <= 1e-9


@settings(max_examples=100, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(1, 20), st.integers(0, 1), st.integers(-50, 50)),
        min_size=3,
        max_size=80,
    ),
    scale=st.floats(0.1, 10.0),
)
def test_monotone_transform_leaves_c_unchanged(
    data: list[tuple[int, int, int]], scale: float
) -> None:
    t = np.array([d[0] for d in data], dtype=float)
    e = np.array([d[1] for d in data])
    r = np.array([d[2] for d in data], dtype=float)
    e[0] = 1
    t[-1] = t.max() + 1  # churn 0 leaves before customer -1: a comparable pair exists
    base = fast_harrell_c(t, e, r)
    assert fast_harrell_c(t, e, np.exp(r / 10.0)) == base  # hazard ratio vs log hazard
    assert fast_harrell_c(t, e, scale * r + 3.0) == base
    train_t, train_e = t + 1.0, np.zeros_like(e)  # no censoring drop -> weights 1
    assert uno_c(train_t, train_e, t, e, np.exp(r / 10.0)) == pytest.approx(
        uno_c(train_t, train_e, t, e, r), abs=1e-12
    )


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "e", "r", "message"),
    [
        ([1, 2], [1, 0, 1], [1, 2], "equal lengths"),
        ([1, 2, 3], [1, 0, 1], [1, 2], "one value per customer"),
        ([1, np.nan, 3], [1, 0, 1], [1, 2, 3], "non-finite"),
        ([1, 2, 3], [1, 0, 1], [1, np.inf, 3], "non-finite"),
        ([1, 0, 3], [1, 0, 1], [1, 2, 3], "duration must be > 0"),
        ([1, -2, 3], [1, 0, 1], [1, 2, 3], "duration must be > 0"),
        ([1, 2, 3], [1, 2, 1], [1, 2, 3], "event must be 0"),
        ([1, 2, 3], [0, 0, 0], [1, 2, 3], "no comparable pair"),
        ([1, 1, 1], [1, 1, 1], [1, 2, 3], "no comparable pair"),
    ],
)
def test_invalid_inputs_raise_precise_errors(
    t: list[float], e: list[int], r: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fast_harrell_c(t, e, r)
    with pytest.raises(ValueError, match=message):
        harrell_c(t, e, r)


# --- Kaplan-Meier ---------------------------------------------------------------------------


def test_km_matches_lifelines_with_ties() -> None:
    rng = np.random.default_rng(3)
    t = rng.integers(1, 30, 500).astype(float)
    e = rng.integers(0, 2, 500)
    grid = np.array([0.5, 1, 2.5, 10, 29, 40])
    kmf = KaplanMeierFitter().fit(t, e)
    expected = kmf.survival_function_at_times(grid).to_numpy()
    np.testing.assert_allclose(km_survival_at(t, e, grid), expected, rtol=1e-10)


def test_censoring_km_equals_lifelines_on_tie_free_data() -> None:
    # Without ties the reverse KM used for IPCW is lifelines' KM on 1 - event. A Brier score with
    # everyone a control at t weighs (1 - s)^2 / G(t), which exposes G(t).
    rng = np.random.default_rng(4)
    t = rng.permutation(np.arange(1, 301)).astype(float) + rng.uniform(0, 0.5, 300)
    e = rng.integers(0, 2, 300)
    g = KaplanMeierFitter().fit(t, 1 - e).survival_function_at_times([100.0]).iloc[0]
    test_t, test_e = np.array([150.0, 200.0]), np.array([0, 0])
    bs = brier_score(t, e, test_t, test_e, np.array([0.0, 0.0]), 100.0)
    assert bs == pytest.approx(1.0 / g, rel=1e-10)


# --- IPCW metrics, hand-computed ------------------------------------------------------------


def test_uno_c_hand_computed() -> None:
    # test t=[1,2,3,3.5], e=[1,1,0,1], risk=[4,1,3,2]
    # churn t=1 (w=1/G(1-)^2=1): vs 3 later, risk 4 beats 1,3,2 -> num 3, den 3
    # churn t=2 (w=1/G(2-)^2=1): vs t=3,3.5, risk 1 beats neither -> num 0, den 2
    # churn t=3.5: nobody later -> no pairs
    # Uno C = 3 / 5 = 0.6 (= Harrell: no training censoring before day 2)
    # scikit-survival's G(T_i) weights the churn at t=2 by 1/G(2)^2 = 2.25: 3 / 7.5 = 0.4
    t, e, r = [1.0, 2.0, 3.0, 3.5], [1, 1, 0, 1], [4.0, 1.0, 3.0, 2.0]
    assert uno_c(TRAIN_T, TRAIN_E, t, e, r) == pytest.approx(0.6)
    assert uno_c(TRAIN_T, TRAIN_E, t, e, r, censoring_weights="at_time") == pytest.approx(0.4)
    assert fast_harrell_c(t, e, r) == pytest.approx(0.6)
    # tau=1.5: only the churn at t=1 anchors pairs -> 1.0
    assert uno_c(TRAIN_T, TRAIN_E, t, e, r, tau=1.5) == pytest.approx(1.0)


def test_uno_c_equals_harrell_without_training_censoring() -> None:
    rng = np.random.default_rng(5)
    t = rng.integers(1, 50, 300).astype(float)
    e = rng.integers(0, 2, 300)
    r = rng.normal(size=300)
    train_t = rng.integers(1, 60, 400).astype(float)
    train_e = np.ones(400)  # G == 1 everywhere
    assert uno_c(train_t, train_e, t, e, r) == pytest.approx(fast_harrell_c(t, e, r), abs=1e-12)


def test_uno_c_zero_censoring_survival_names_the_time() -> None:
    # G(4) = 0: with G(T_i) weights a churn at t=4 would get an infinite weight
    with pytest.raises(UndefinedMetricError, match=r"G\(t\) .* zero at t=4 days"):
        uno_c(
            TRAIN_T,
            TRAIN_E,
            [1.0, 4.0, 5.0],
            [1, 1, 0],
            [1.0, 2.0, 3.0],
            censoring_weights="at_time",
        )
    # G(4-) = 2/3: the churn on the last censoring day keeps a finite weight
    assert uno_c(TRAIN_T, TRAIN_E, [1.0, 4.0, 5.0], [1, 1, 0], [3.0, 2.0, 1.0]) == 1.0
    # G(5-) = 0: a churn after every training customer was censored is undefined either way
    with pytest.raises(UndefinedMetricError, match=r"G\(t-\) .* zero at t=5 days"):
        uno_c(TRAIN_T, TRAIN_E, [1.0, 5.0, 6.0], [1, 1, 0], [1.0, 2.0, 3.0])
    assert uno_c(TRAIN_T, TRAIN_E, [1.0, 4.0, 5.0], [1, 1, 0], [3.0, 2.0, 1.0], tau=3.5) == 1.0


def test_brier_hand_computed() -> None:
    # t=2.5; test t=[1,2,3,3.5], e=[1,0,1,0], S(2.5)=[0.2,0.5,0.6,0.9]
    # churned by 2.5: customer 0 -> 0.2^2 / G(1)=1            = 0.04
    # censored before 2.5: customer 1                          = 0
    # active after 2.5: 0.4^2/(2/3) = 0.24 and 0.1^2/(2/3)     = 0.015
    # mean over 4 customers = 0.295 / 4 = 0.07375
    s = np.array([0.2, 0.5, 0.6, 0.9])
    assert brier_score(TRAIN_T, TRAIN_E, [1, 2, 3, 3.5], [1, 0, 1, 0], s, 2.5) == pytest.approx(
        0.07375
    )


def test_integrated_brier_is_trapezoid_of_brier() -> None:
    t, e = np.array([1, 2, 3, 3.5]), np.array([1, 0, 1, 0])
    times = np.array([1.5, 2.5, 3.2])
    sp = np.array([[0.3, 0.2, 0.1], [0.9, 0.5, 0.4], [0.95, 0.6, 0.5], [1.0, 0.9, 0.8]])
    bs = [brier_score(TRAIN_T, TRAIN_E, t, e, sp[:, k], times[k]) for k in range(3)]
    expected = (0.5 * (bs[0] + bs[1]) * 1.0 + 0.5 * (bs[1] + bs[2]) * 0.7) / 1.7
    assert integrated_brier_score(TRAIN_T, TRAIN_E, t, e, sp, times) == pytest.approx(expected)


def test_cumulative_dynamic_auc_hand_computed() -> None:
    # t=2.5; test t=[1,2,3,4,5], e=[1,1,0,1,0]: cases (churn <= 2.5): 0 (w=1/G(1-)=1) and
    # 1 (w=1/G(2-)=1); controls (t > 2.5): 2,3,4 with risks [1, 2, 0.4]
    # case 0 risk 0.5 beats 0.4 -> 1; case 1 risk 3 beats all -> 3
    # AUC = (1*1 + 1*3) / ((1 + 1) * 3) = 4 / 6
    # with scikit-survival's G(T_i): case 1 weighs 1/G(2) = 1.5 -> (1 + 4.5) / 7.5
    t, e = [1, 2, 3, 4, 5], [1, 1, 0, 1, 0]
    auc = cumulative_dynamic_auc(TRAIN_T, TRAIN_E, t, e, [0.5, 3, 1, 2, 0.4], 2.5)
    assert auc == pytest.approx(4 / 6)
    auc = cumulative_dynamic_auc(
        TRAIN_T, TRAIN_E, t, e, [0.5, 3, 1, 2, 0.4], 2.5, censoring_weights="at_time"
    )
    assert auc == pytest.approx(5.5 / 7.5)
    # case 0 risk 1 ties the control with risk 1 -> 1 + 0.5: AUC = (1.5 + 3) / 6 = 0.75
    auc = cumulative_dynamic_auc(TRAIN_T, TRAIN_E, t, e, [1, 3, 1, 2, 0.4], 2.5)
    assert auc == pytest.approx(0.75)


def test_auc_needs_cases_and_controls() -> None:
    with pytest.raises(ValueError, match="at least one churn on or before t"):
        cumulative_dynamic_auc(TRAIN_T, TRAIN_E, [3, 4], [1, 1], [1, 2], 2.0)


# --- one-call evaluation -------------------------------------------------------------------


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    true_t = rng.exponential(200 * np.exp(-x))
    cens = rng.uniform(30, 400, n)
    t = np.ceil(np.minimum(true_t, cens))
    return t, (true_t <= cens).astype(int), x


def test_evaluate_survival_consistent_with_single_metrics() -> None:
    tr_t, tr_e, _ = _synthetic(3000, 1)
    te_t, te_e, risk = _synthetic(2000, 2)
    horizons = [30, 90, 180]
    surv = {h: km_survival_at(tr_t, tr_e, [h])[0] ** np.exp(risk) for h in horizons}
    ev = evaluate_survival(tr_t, tr_e, te_t, te_e, np.exp(risk), surv, horizons)
    assert isinstance(ev, SurvivalEvaluation)
    assert (ev.n, ev.n_events) == (2000, int(te_e.sum()))
    assert ev.c_index == harrell_c(te_t, te_e, np.exp(risk))
    assert ev.c_index > 0.65
    assert ev.uno_c == pytest.approx(uno_c(tr_t, tr_e, te_t, te_e, risk, tau=180))
    for h in horizons:
        assert ev.brier[h] == pytest.approx(brier_score(tr_t, tr_e, te_t, te_e, surv[h], h))
        assert ev.auc[h] == pytest.approx(cumulative_dynamic_auc(tr_t, tr_e, te_t, te_e, risk, h))
    sp = np.column_stack([surv[h] for h in horizons])
    assert ev.ibs == pytest.approx(integrated_brier_score(tr_t, tr_e, te_t, te_e, sp, horizons))
    # the model beats the KM null model (same prediction for everyone) on Brier
    null = {h: np.full(2000, km_survival_at(tr_t, tr_e, [h])[0]) for h in horizons}
    null_ev = evaluate_survival(tr_t, tr_e, te_t, te_e, np.exp(risk), null, horizons)
    assert ev.ibs < null_ev.ibs
    assert null_ev.c_index == ev.c_index  # ranking metrics do not look at probabilities


def test_evaluate_survival_undefined_metrics_are_nan() -> None:
    # Labels observed for 60 days only: nobody was followed to day 90, so nothing at 90 days is
    # known. A Brier score there would only count the churners (predicted 0.5 -> 0.25 each) and
    # reward a model predicting "everyone churns" with a perfect 0.
    tr_t, tr_e, _ = _synthetic(500, 3)
    te_t, te_e, risk = _synthetic(300, 4)
    te_t = np.minimum(te_t, 60.0)
    surv = {30: np.full(300, 0.8), 90: np.full(300, 0.5)}
    ev = evaluate_survival(tr_t, tr_e, te_t, te_e, risk, surv, [30, 90])
    assert np.isnan(ev.brier[90]) and np.isnan(ev.auc[90]) and np.isnan(ev.ibs)
    assert np.isfinite(ev.brier[30]) and np.isfinite(ev.auc[30])
    assert ev.reported_horizons == [30]
    assert ev.followed_up_days == 60.0
    assert set(ev.undefined) == {"brier_90d", "auc_90d", "ibs"}
    assert "no customer was followed up to the horizon" in ev.undefined["brier_90d"]
    assert "Brier undefined at horizon(s) [90]" in ev.undefined["ibs"]
    everyone_churns = {30: np.zeros(300), 90: np.zeros(300)}
    ev0 = evaluate_survival(tr_t, tr_e, te_t, te_e, risk, everyone_churns, [30, 90])
    assert np.isnan(ev0.brier[90])
    # a single horizon has no integral
    single = evaluate_survival(tr_t, tr_e, te_t, te_e, risk, surv, [30])
    assert np.isnan(single.ibs) and "two horizons" in single.undefined["ibs"]


def test_brier_refuses_horizon_beyond_follow_up() -> None:
    # scikit-survival refuses this too ("all times must be within follow-up time of test data")
    with pytest.raises(UndefinedMetricError, match="no customer was followed up to the horizon"):
        brier_score([1, 2], [1, 0], [1, 2], [1, 0], [0.5, 0.5], 5.0)
    with pytest.raises(UndefinedMetricError, match="no customer was followed up"):
        integrated_brier_score([1, 2], [1, 0], [1, 2], [1, 0], np.full((2, 2), 0.5), [1.0, 5.0])
    with pytest.raises(UndefinedMetricError, match="no customer was followed up"):
        cumulative_dynamic_auc([1, 2], [1, 0], [1, 2], [1, 0], [0.5, 0.1], 5.0)


def test_brier_undefined_where_censoring_survival_is_zero() -> None:
    # Everyone still followed at day 4 is censored on day 4 in training: G(4) = 0, nobody
    # can stand for the customers active after day 4.
    with pytest.raises(UndefinedMetricError, match=r"G\(t\) .* zero at t=4"):
        brier_score(TRAIN_T, TRAIN_E, [1, 4, 5], [1, 0, 0], [0.2, 0.5, 0.9], 4.0)
    ev = evaluate_survival(
        TRAIN_T, TRAIN_E, [1, 3, 4, 5], [1, 1, 0, 0], [3, 2, 1, 0.5], {4: np.full(4, 0.5)}, [4]
    )
    assert np.isnan(ev.brier[4]) and "zero at t=4" in ev.undefined["brier_4d"]


def test_unknown_censoring_convention_is_named() -> None:
    with pytest.raises(ValueError, match="censoring_weights must be one of"):
        brier_score(TRAIN_T, TRAIN_E, [1, 2], [1, 0], [0.5, 0.5], 1.5, censoring_weights="G(T)")  # type: ignore[arg-type]


def test_evaluate_survival_rejects_missing_horizon() -> None:
    tr_t, tr_e, _ = _synthetic(200, 5)
    with pytest.raises(ValueError, match=r"no predictions for horizon\(s\) \[90\]"):
        evaluate_survival(tr_t, tr_e, tr_t, tr_e, tr_t, {30: np.ones(200)}, [30, 90])
