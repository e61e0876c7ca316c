"""Property tests (hypothesis) for the pure domain, the issue's set.

Already covered elsewhere, referenced rather than repeated:
- C-index unchanged by ``exp`` / positive affine transforms of the risk score (fast Harrell and
  Uno C): ``domain/test_metrics.py::test_monotone_transform_leaves_c_unchanged``;
- KS equal to scipy and symmetric in its two samples (``ks_2samp_fast``):
  ``domain/test_drift.py::test_ks_equals_scipy_and_is_symmetric``;
- replaying the sensor never emits the same run key twice, and a decision is idempotent once
  requested: ``domain/test_policy.py::test_replaying_decisions_never_emits_the_same_run_key_twice``
  and ``::test_decision_is_idempotent_once_requested``.

Added here: invariance under *any* strictly increasing transform (including ones that are not
smooth) for both C-index implementations, invariance under monotone transforms of the time axis,
row-order invariance and the reversal identity; KS symmetry of the full drift verdict (statistic,
p-value, breach) and KS invariance under a shared monotone transform; and "one request per
breach": across a replay, a breach is requested again only after every earlier attempt for it
failed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from churn_platform.domain.drift import DriftThresholds, feature_drift, ks_2samp_fast
from churn_platform.domain.metrics import fast_harrell_c, harrell_c
from churn_platform.domain.policy import (
    SIGNALS,
    Observation,
    PolicyConfig,
    RetrainRecord,
    RetrainStatus,
    decide,
    parse_run_key,
)

W0 = date(2025, 3, 3)
Data = list[tuple[int, bool, int]]
Fn = Callable[[np.ndarray], np.ndarray]
N_WEEKS = 16

survival_data = st.lists(
    st.tuples(st.integers(1, 30), st.booleans(), st.integers(-40, 40)), min_size=3, max_size=60
)

# strictly increasing maps of the integers -40..40, smooth or not
monotone = st.sampled_from(
    [
        lambda r: np.exp(r / 7.0),
        lambda r: r**3,
        lambda r: np.floor(r) * 1000.0 + np.sqrt(r + 41.0),
        lambda r: np.arctan(r / 5.0),
        lambda r: np.where(r < 0, r / 100.0, 5.0 + r),
    ]
)


def _arrays(data: list[tuple[int, bool, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.array([d[0] for d in data], dtype=float)
    e = np.array([d[1] for d in data], dtype=int)
    r = np.array([d[2] for d in data], dtype=float)
    e[0] = 1
    t[-1] = t.max() + 1  # a comparable pair exists
    return t, e, r


@settings(max_examples=150, deadline=None)
@given(data=survival_data, f=monotone)
def test_c_index_invariant_under_any_strictly_increasing_transform(data: Data, f: Fn) -> None:
    t, e, r = _arrays(data)
    assert fast_harrell_c(t, e, f(r)) == fast_harrell_c(t, e, r)
    assert harrell_c(t, e, f(r)) == harrell_c(t, e, r)


@settings(max_examples=100, deadline=None)
@given(data=survival_data, f=monotone, seed=st.integers(0, 2**16))
def test_c_index_depends_only_on_time_order_and_not_on_row_order(
    data: Data, f: Fn, seed: int
) -> None:
    t, e, r = _arrays(data)
    base = fast_harrell_c(t, e, r)
    shifted = f(t - 20.0)  # same order of durations, other units and spacing
    assume(np.all(shifted > 0))
    assert fast_harrell_c(shifted, e, r) == base
    perm = np.random.default_rng(seed).permutation(len(t))
    assert fast_harrell_c(t[perm], e[perm], r[perm]) == base


@settings(max_examples=100, deadline=None)
@given(data=survival_data)
def test_reversing_the_ranking_gives_one_minus_c(data: Data) -> None:
    t, e, r = _arrays(data)
    assert abs(fast_harrell_c(t, e, -r) - (1.0 - fast_harrell_c(t, e, r))) < 1e-12


samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=5, max_size=120)


@settings(max_examples=30, deadline=None)
@given(a=samples, b=samples, f=monotone)
def test_ks_is_invariant_under_a_shared_monotone_transform(
    a: list[float], b: list[float], f: Fn
) -> None:
    x, y = np.round(np.array(a) / 25.0), np.round(np.array(b) / 25.0)  # ties included
    assert ks_2samp_fast(f(x), f(y)) == ks_2samp_fast(x, y)


@settings(max_examples=100, deadline=None)
@given(a=samples, b=samples)
def test_drift_verdict_is_symmetric_in_reference_and_current(
    a: list[float], b: list[float]
) -> None:
    ref, cur = pd.DataFrame({"x": a}), pd.DataFrame({"x": b})
    thresholds = DriftThresholds(alpha=0.05, min_ks=0.1, min_psi=0.2)
    ab = feature_drift(ref, cur, ["x"], [], thresholds)[0]
    ba = feature_drift(cur, ref, ["x"], [], thresholds)[0]
    assert (ab.statistic, ab.p_value, ab.breached) == (ba.statistic, ba.p_value, ba.breached)
    assert 0.0 <= ab.statistic <= 1.0


observations = st.lists(
    st.builds(
        Observation,
        week=st.integers(0, N_WEEKS - 1).map(lambda i: W0 + timedelta(weeks=i)),
        signal=st.sampled_from(SIGNALS),
        value=st.floats(0.5, 1.0),
        breached=st.booleans(),
    ),
    max_size=50,
)


@settings(max_examples=200, deadline=None)
@given(
    obs=observations,
    outcomes=st.lists(st.sampled_from(["success", "failure"]), min_size=N_WEEKS, max_size=N_WEEKS),
    cooldown=st.integers(0, 3),
    evaluations_per_week=st.integers(1, 3),
)
def test_policy_never_fires_twice_for_the_same_breach(
    obs: list[Observation], outcomes: list[RetrainStatus], cooldown: int, evaluations_per_week: int
) -> None:
    """Sensor ticks several times a week; each request resolves the following week. A breach
    gets a second request only if every earlier request for it failed."""
    cfg = PolicyConfig(cooldown_weeks=cooldown)
    history: list[RetrainRecord] = []
    for t in range(N_WEEKS):
        today = W0 + timedelta(weeks=t)
        history = [  # requests made before this week have resolved by now
            RetrainRecord(r.run_key, r.requested_week, outcomes[(r.requested_week - W0).days // 7])
            if r.requested_week < today
            else r
            for r in history
        ]
        for _ in range(evaluations_per_week):
            d = decide(obs, history, today, cfg)
            if not d.should_retrain:
                continue
            assert d.run_key is not None
            breach = parse_run_key(d.run_key)
            assert breach is not None
            earlier = [
                r
                for r in history
                if (p := parse_run_key(r.run_key)) and p.breach_id == breach.breach_id
            ]
            assert all(r.status == "failure" for r in earlier), (d.run_key, earlier)
            assert breach.attempt == len(earlier) + 1
            history.append(RetrainRecord(d.run_key, today, "requested"))
