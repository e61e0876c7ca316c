"""Drift statistics: scipy equivalence, effect-size gate at 1M rows, categorical new levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from churn_platform.domain.drift import (
    DriftThresholds,
    FeatureDrift,
    chi2_categorical,
    drift_frame,
    feature_drift,
    ks_2samp_fast,
    ks_many,
    psi,
    psi_categorical,
    score_drift,
)


def _assert_same_as_scipy(a: np.ndarray, b: np.ndarray) -> None:
    d, p = ks_2samp_fast(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = stats.ks_2samp(a, b, method="asymp")
    assert abs(d - ref.statistic) <= 1e-12
    assert d == ref.statistic  # in fact bit-identical
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300, nan_ok=True)


@pytest.mark.parametrize("seed", range(12))
def test_ks_matches_scipy_on_continuous_discrete_and_heavy_tailed_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n1, n2 = int(rng.integers(50, 40_000)), int(rng.integers(50, 40_000))
    cases = [
        (rng.normal(size=n1), rng.normal(0.05, 1.0, n2)),
        (rng.poisson(3, n1).astype(float), rng.poisson(3.1, n2).astype(float)),
        (rng.integers(0, 2, n1).astype(float), rng.integers(0, 2, n2).astype(float)),
        (rng.lognormal(0, 2, n1), rng.lognormal(0.02, 2, n2)),
        (np.round(rng.normal(size=n1), 2), np.round(rng.normal(size=n2), 1)),
        (np.r_[rng.normal(size=n1), np.inf, -np.inf], rng.normal(size=n2)),
        (np.full(n1, 3.0), np.full(n2, 3.0)),
        (np.full(n1, 3.0), np.full(n2, 4.0)),
    ]
    for a, b in cases:
        _assert_same_as_scipy(a, b)


@settings(max_examples=200, deadline=None)
@given(
    a=st.lists(st.integers(-5, 5) | st.floats(-1e6, 1e6), min_size=1, max_size=1500),
    b=st.lists(st.integers(-5, 5) | st.floats(-1e6, 1e6), min_size=1, max_size=1500),
)
def test_ks_equals_scipy_and_is_symmetric(a: list[float], b: list[float]) -> None:
    x, y = np.array(a, dtype=float), np.array(b, dtype=float)
    _assert_same_as_scipy(x, y)
    assert ks_2samp_fast(x, y)[0] == ks_2samp_fast(y, x)[0]


def test_ks_many_equals_per_column() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"a": rng.normal(size=50_000), "b": rng.poisson(2, 50_000)})
    cur = pd.DataFrame({"a": rng.normal(0.1, 1, 30_000), "b": rng.poisson(2.2, 30_000)})
    out = ks_many(ref, cur, ["a", "b"])
    assert set(out) == {"a", "b"}
    for col in ("a", "b"):
        assert out[col] == ks_2samp_fast(ref[col].to_numpy(), cur[col].to_numpy())
        assert out[col][0] == stats.ks_2samp(ref[col], cur[col]).statistic


def test_ks_drops_missing_values() -> None:
    a = np.array([1.0, np.nan, 2.0, 3.0])
    b = np.array([2.0, 3.0, np.nan])
    assert ks_2samp_fast(a, b) == ks_2samp_fast(a[~np.isnan(a)], b[~np.isnan(b)])
    with pytest.raises(ValueError, match="no non-missing values"):
        ks_2samp_fast(np.array([np.nan]), b)


def test_psi_identical_and_shifted() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=100_000)
    assert psi(x, x) == 0.0
    assert psi(x, rng.permutation(x)) == 0.0
    assert psi(x, rng.normal(size=100_000)) < 0.01
    assert psi(x, rng.normal(1.0, 1.0, 100_000)) > 0.2
    # discrete feature: repeated quantile edges are merged, still 0 for identical data
    k = rng.poisson(1, 10_000).astype(float)
    assert psi(k, k) == 0.0


def test_psi_categorical() -> None:
    ref = {"basic": 500, "pro": 300, "team": 200}
    assert psi_categorical(ref, ref) == 0.0
    assert psi_categorical(ref, {"basic": 50, "pro": 30, "team": 20}) == pytest.approx(0.0)
    # hand computed: ref (0.5, 0.5), cur (0.3, 0.7):
    # (0.3-0.5) ln(0.3/0.5) + (0.7-0.5) ln(0.7/0.5) = 0.1022 + 0.0673 = 0.1695
    expected = -0.2 * np.log(0.6) + 0.2 * np.log(1.4)
    assert psi_categorical({"a": 50, "b": 50}, {"a": 30, "b": 70}) == pytest.approx(expected)


def test_chi2_matches_scipy_and_reports_new_levels() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 50)
    cur = pd.Series(["a"] * 30 + ["b"] * 60 + ["c"] * 10)
    chi2, p, new = chi2_categorical(ref, cur)
    table = np.array([[50, 50, 0], [30, 60, 10]])
    expected = stats.chi2_contingency(table, correction=False)
    assert chi2 == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)
    assert new == ("c",)


def _frames(n: int, shift: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame(mu: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "tenure_days": rng.normal(mu, 1.0, n),
                "monthly_spend": rng.lognormal(0, 1, n),
                "support_tickets": rng.poisson(2, n).astype(float),
                "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]),
            }
        )

    return frame(0.0), frame(shift)


def test_no_breach_on_same_distribution_at_one_million_rows() -> None:
    ref, cur = _frames(1_000_000, 0.0, 11)
    results = feature_drift(
        ref, cur, ["tenure_days", "monthly_spend", "support_tickets"], ["plan"], DriftThresholds()
    )
    assert [r.column for r in results] == [
        "tenure_days",
        "monthly_spend",
        "support_tickets",
        "plan",
    ]
    assert not any(r.breached for r in results)
    assert all(r.effect < 0.01 for r in results)
    assert all(r.n_reference == 1_000_000 and r.n_current == 1_000_000 for r in results)


def test_tiny_shift_is_significant_but_not_a_breach_at_scale() -> None:
    # 0.02 sigma at 1M rows: p far below alpha, D far below min_ks -> reported, no breach
    rng = np.random.default_rng(12)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 1_000_000)})
    cur = pd.DataFrame({"x": rng.normal(0.02, 1, 1_000_000)})
    (r,) = feature_drift(ref, cur, ["x"], [], DriftThresholds())
    assert r.p_value < 1e-10
    assert r.statistic < 0.02
    assert not r.breached


def test_breach_on_0_3_sigma_shift() -> None:
    ref, cur = _frames(200_000, 0.3, 13)
    by_col = {r.column: r for r in feature_drift(ref, cur, ["tenure_days"], [], DriftThresholds())}
    r = by_col["tenure_days"]
    assert r.kind == "numeric" and r.test == "ks"
    assert r.breached
    assert r.effect == r.statistic >= 0.1
    assert r.p_value < 1e-100


def test_new_categorical_level_is_reported_and_breaches() -> None:
    ref, cur = _frames(10_000, 0.0, 14)
    cur.loc[:4, "plan"] = "enterprise"  # 5 rows of a plan the model never saw
    (r,) = feature_drift(ref, cur, [], ["plan"], DriftThresholds())
    assert r.kind == "categorical" and r.test == "chi2"
    assert r.new_levels == ("enterprise",)
    assert r.breached
    assert r.effect == r.psi


def test_categorical_shift_breaches_only_with_large_psi() -> None:
    rng = np.random.default_rng(15)
    ref = pd.DataFrame({"plan": rng.choice(["a", "b"], 500_000, p=[0.5, 0.5])})
    small = pd.DataFrame({"plan": rng.choice(["a", "b"], 500_000, p=[0.49, 0.51])})
    large = pd.DataFrame({"plan": rng.choice(["a", "b"], 500_000, p=[0.2, 0.8])})
    (r_small,) = feature_drift(ref, small, [], ["plan"], DriftThresholds())
    (r_large,) = feature_drift(ref, large, [], ["plan"], DriftThresholds())
    assert r_small.p_value < 0.01 and not r_small.breached
    assert r_large.breached and r_large.psi >= 0.2


def test_score_drift() -> None:
    rng = np.random.default_rng(16)
    ref = rng.lognormal(0, 0.5, 300_000)
    same = score_drift(ref, rng.lognormal(0, 0.5, 300_000), DriftThresholds())
    moved = score_drift(ref, rng.lognormal(0.4, 0.5, 300_000), DriftThresholds())
    assert same.kind == "score" and same.column == "risk_score" and not same.breached
    assert moved.breached and moved.statistic >= 0.1 and moved.psi >= 0.2
    # PSI alone can trigger the score gate
    loose = DriftThresholds(min_ks=1.0, min_psi=0.2)
    assert score_drift(ref, rng.lognormal(0.4, 0.5, 300_000), loose).breached


def test_thresholds_are_configurable_and_validated() -> None:
    ref, cur = _frames(100_000, 0.05, 17)
    strict = DriftThresholds(alpha=0.05, min_ks=0.0)
    (r,) = feature_drift(ref, cur, ["tenure_days"], [], strict)
    assert r.breached
    with pytest.raises(ValueError, match="alpha"):
        DriftThresholds(alpha=1.5)
    with pytest.raises(ValueError, match="listed as both"):
        feature_drift(ref, cur, ["plan"], ["plan"], DriftThresholds())
    with pytest.raises(ValueError, match=r"current data has no column\(s\) \['missing'\]"):
        feature_drift(ref.assign(missing=1.0), cur, ["missing"], [], DriftThresholds())


def test_drift_frame() -> None:
    ref, cur = _frames(5_000, 0.0, 18)
    cur.loc[:2, "plan"] = "enterprise"
    results = feature_drift(ref, cur, ["tenure_days"], ["plan"], DriftThresholds())
    frame = drift_frame(results)
    assert list(frame.columns) == list(FeatureDrift.__dataclass_fields__)
    assert len(frame) == 2
    assert frame.loc[1, "new_levels"] == "enterprise"
    assert frame["breached"].dtype == bool
    empty = drift_frame([])
    assert list(empty.columns) == list(frame.columns) and len(empty) == 0


# --- exact p-values only where they decide the verdict ---------------------------------------


def _week(rng: np.random.Generator, n: int, shifts: dict[int, float]) -> pd.DataFrame:
    """Columns of mixed shapes (normal, log-normal, counts, flags, rounded), some shifted."""
    cols: dict[str, np.ndarray] = {}
    for k in range(10):
        mu = shifts.get(k, 0.0)
        kind = k % 5
        if kind == 0:
            cols[f"f{k}"] = rng.normal(mu, 1.0, n)
        elif kind == 1:
            cols[f"f{k}"] = rng.lognormal(mu, 1.5, n)
        elif kind == 2:
            cols[f"f{k}"] = rng.poisson(3.0 * (1 + mu), n).astype(np.float64)
        elif kind == 3:
            cols[f"f{k}"] = (rng.random(n) < 0.3 + mu / 10).astype(np.float64)
        else:
            cols[f"f{k}"] = np.round(rng.normal(mu, 1.0, n), 2)
    return pd.DataFrame(cols)


WEEKS = {
    "stable": {},
    "mild drift": {0: 0.3, 4: 0.3, 5: 0.01, 6: 0.01, 9: 0.01},
    "drifting": {0: 0.3, 1: 0.25, 2: 0.2, 3: 0.5, 4: 0.12, 6: 0.05, 7: 0.08},
}


@pytest.mark.parametrize("week", sorted(WEEKS))
@pytest.mark.parametrize("n", [150, 2_000, 60_000])
@pytest.mark.parametrize(
    "thresholds",
    [DriftThresholds(), DriftThresholds(alpha=0.05, min_ks=0.02), DriftThresholds(min_ks=0.0)],
)
def test_decisive_p_values_give_the_exact_gates_verdicts(
    week: str, n: int, thresholds: DriftThresholds
) -> None:
    rng = np.random.default_rng([sorted(WEEKS).index(week), n])
    ref, cur = _week(rng, n, {}), _week(rng, n + 7, WEEKS[week])
    cols = list(ref.columns)
    fast = feature_drift(ref, cur, cols, [], thresholds)
    exact = feature_drift(ref, cur, cols, [], thresholds, p_values="exact")
    assert [r.breached for r in fast] == [r.breached for r in exact]
    for f, e in zip(fast, exact, strict=True):
        assert f.statistic == e.statistic and f.psi == e.psi
        assert not e.p_value_is_bound
        if f.p_value_is_bound:
            assert e.p_value <= f.p_value  # a true upper bound
            # only where the exact tail could not change the verdict
            assert f.statistic < thresholds.min_ks or f.p_value < thresholds.alpha
        else:
            assert f.p_value == e.p_value
    # the same verdicts for the score gate
    s_fast = score_drift(ref["f1"], cur["f1"], thresholds)
    s_exact = score_drift(ref["f1"], cur["f1"], thresholds, p_values="exact")
    assert s_fast.breached == s_exact.breached


def test_exact_tail_is_computed_where_it_decides() -> None:
    """Small samples, D above min_ks, the bound above alpha: only the exact tail can say."""
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 300)})
    cur = pd.DataFrame({"x": rng.normal(0.2, 1, 300)})
    (r,) = feature_drift(ref, cur, ["x"], [], DriftThresholds(alpha=0.095, min_ks=0.08))
    want = stats.ks_2samp(ref["x"], cur["x"], method="asymp")
    assert r.statistic >= 0.08
    assert not r.p_value_is_bound
    assert r.breached  # p = 0.093 < alpha = 0.095; the bound (0.0996) could not prove it
    assert r.p_value == pytest.approx(want.pvalue, rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    d=st.floats(0.0, 1.0),
    n1=st.integers(1, 2_000_000),
    n2=st.integers(1, 2_000_000),
)
def test_dkw_bound_bounds_scipys_tail(d: float, n1: int, n2: int) -> None:
    from churn_platform.domain.drift import _ks_bound, _ks_pvalue

    args = (np.array([d]), np.array([n1], dtype=np.int64), np.array([n2], dtype=np.int64))
    exact = float(_ks_pvalue(*args)[0])
    assert np.isnan(exact) or exact <= float(_ks_bound(*args)[0]) * (1 + 1e-9)
