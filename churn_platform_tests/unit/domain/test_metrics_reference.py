"""IPCW metrics pinned against scikit-survival, lifelines and a plain G(T_i-) implementation.

Two conventions for the censoring weight of a churn at ``T_i`` (see ``domain/metrics.py``):

* ``"left_limit"`` (default) = ``1 / G(T_i-)`` (Graf 1999; Gerds & Schumacher 2006; pec,
  riskRegression). Checked against :func:`_plain_*` below: double loops over customers written
  from the textbook formulas, sharing no code with the module.
* ``"at_time"`` = ``1 / G(T_i)``: scikit-survival's convention, checked against scikit-survival
  itself on data with day ties. On tie-free data both conventions coincide, so the default is
  checked against scikit-survival there too.
"""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index
from sksurv.metrics import (
    brier_score as sk_brier,
)
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
)
from sksurv.metrics import (
    cumulative_dynamic_auc as sk_auc,
)
from sksurv.metrics import (
    integrated_brier_score as sk_ibs,
)
from sksurv.util import Surv

from churn_platform.domain.metrics import (
    brier_score,
    cumulative_dynamic_auc,
    fast_harrell_c,
    integrated_brier_score,
    km_survival_at,
    uno_c,
)

TOL = 1e-12


# --- a plain, independent implementation -----------------------------------------------------


def _plain_censoring_steps(t: list[float], e: list[int]) -> list[tuple[float, float]]:
    """Reverse Kaplan-Meier: (day, G right after that day). Churns leave first on tied days."""
    g = 1.0
    steps = []
    for u in sorted(set(t)):
        censored_now = sum(1 for ti, ei in zip(t, e, strict=True) if ti == u and ei == 0)
        still_followed = sum(
            1 for ti, ei in zip(t, e, strict=True) if ti > u or (ti == u and ei == 0)
        )
        if still_followed > 0:
            g = g * (1.0 - censored_now / still_followed)
        steps.append((u, g))
    return steps


def _plain_g(steps: list[tuple[float, float]], u: float, left: bool) -> float:
    """G(u) (last step at or before u) or G(u-) (last step strictly before u)."""
    value = 1.0
    for day, g in steps:
        if day < u or (day == u and not left):
            value = g
    return value


def _plain_brier(steps, t, e, s, horizon):  # type: ignore[no-untyped-def]
    total = 0.0
    for ti, ei, si in zip(t, e, s, strict=True):
        if ei == 1 and ti <= horizon:
            total += si**2 / _plain_g(steps, ti, left=True)
        elif ti > horizon:
            total += (1.0 - si) ** 2 / _plain_g(steps, horizon, left=False)
    return total / len(t)


def _plain_uno(steps, t, e, r, tau):  # type: ignore[no-untyped-def]
    num = den = 0.0
    for i in range(len(t)):
        if e[i] != 1 or t[i] >= tau:
            continue
        w = 1.0 / _plain_g(steps, t[i], left=True) ** 2
        for j in range(len(t)):
            if t[j] > t[i] or (t[j] == t[i] and e[j] == 0):
                den += w
                num += w * (1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0)
    return num / den


def _plain_auc(steps, t, e, r, horizon):  # type: ignore[no-untyped-def]
    num = den = 0.0
    for i in range(len(t)):
        if not (e[i] == 1 and t[i] <= horizon):
            continue
        w = 1.0 / _plain_g(steps, t[i], left=True)
        for j in range(len(t)):
            if t[j] > horizon:
                den += w
                num += w * (1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0)
    return num / den


# --- data ------------------------------------------------------------------------------------


def _data(seed: int, n: int, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exponential churn with a risk effect, ~50% uniform censoring; day resolution if ``ties``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    churn = rng.exponential(40.0 * np.exp(-0.8 * x))
    cens = rng.uniform(1.0, 80.0, n)
    t = np.minimum(churn, cens)
    t = np.ceil(t) if ties else t
    return t, (churn <= cens).astype(int), x


def _surv_at(x: np.ndarray, horizon: float) -> np.ndarray:
    return np.asarray(np.exp(-horizon / (40.0 * np.exp(-0.8 * x))), dtype=float)


SEEDS = [0, 1, 2]
HORIZONS = [5.0, 15.0, 30.0]


@pytest.mark.parametrize("seed", SEEDS)
def test_default_left_limit_matches_plain_implementation_with_ties(seed: int) -> None:
    tr_t, tr_e, _ = _data(100 + seed, 250, ties=True)
    te_t, te_e, x = _data(200 + seed, 150, ties=True)
    steps = _plain_censoring_steps(list(tr_t), list(tr_e))
    assert ((te_e == 1) & np.isin(te_t, tr_t[tr_e == 0])).any()  # churn days with censorings
    for h in HORIZONS:
        s = _surv_at(x, h)
        assert brier_score(tr_t, tr_e, te_t, te_e, s, h) == pytest.approx(
            _plain_brier(steps, list(te_t), list(te_e), list(s), h), abs=TOL
        )
        assert cumulative_dynamic_auc(tr_t, tr_e, te_t, te_e, x, h) == pytest.approx(
            _plain_auc(steps, list(te_t), list(te_e), list(x), h), abs=TOL
        )
        assert uno_c(tr_t, tr_e, te_t, te_e, x, tau=h) == pytest.approx(
            _plain_uno(steps, list(te_t), list(te_e), list(x), h), abs=TOL
        )
    # the two conventions really differ on tied data (else this test would prove nothing)
    s = _surv_at(x, 30.0)
    assert brier_score(tr_t, tr_e, te_t, te_e, s, 30.0) != pytest.approx(
        brier_score(tr_t, tr_e, te_t, te_e, s, 30.0, censoring_weights="at_time"), abs=1e-6
    )


def _sk(t: np.ndarray, e: np.ndarray) -> np.ndarray:
    return Surv.from_arrays(event=e.astype(bool), time=t)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [True, False])
def test_at_time_convention_matches_scikit_survival(seed: int, ties: bool) -> None:
    tr_t, tr_e, _ = _data(300 + seed, 400, ties=ties)
    te_t, te_e, x = _data(400 + seed, 300, ties=ties)
    y_tr, y_te = _sk(tr_t, tr_e), _sk(te_t, te_e)
    sp = np.column_stack([_surv_at(x, h) for h in HORIZONS])
    _, expected_bs = sk_brier(y_tr, y_te, sp, HORIZONS)
    expected_auc, _ = sk_auc(y_tr, y_te, x, HORIZONS)
    conventions = ["at_time", "left_limit"] if not ties else ["at_time"]
    for conv in conventions:
        for k, h in enumerate(HORIZONS):
            ours = brier_score(tr_t, tr_e, te_t, te_e, sp[:, k], h, censoring_weights=conv)  # type: ignore[arg-type]
            assert ours == pytest.approx(expected_bs[k], abs=TOL)
            ours = cumulative_dynamic_auc(tr_t, tr_e, te_t, te_e, x, h, censoring_weights=conv)  # type: ignore[arg-type]
            assert ours == pytest.approx(expected_auc[k], abs=TOL)
        ibs = integrated_brier_score(tr_t, tr_e, te_t, te_e, sp, HORIZONS, censoring_weights=conv)  # type: ignore[arg-type]
        assert ibs == pytest.approx(sk_ibs(y_tr, y_te, sp, HORIZONS), abs=TOL)
        for tau in (15.0, 30.0):
            sk_uno = concordance_index_ipcw(y_tr, y_te, x, tau=tau)[0]
            ours = uno_c(tr_t, tr_e, te_t, te_e, x, tau=tau, censoring_weights=conv)  # type: ignore[arg-type]
            assert ours == pytest.approx(sk_uno, abs=TOL)
    # Harrell: scikit-survival and lifelines (risk sign flipped for lifelines)
    sk_c = concordance_index_censored(te_e.astype(bool), te_t, x)[0]
    assert fast_harrell_c(te_t, te_e, x) == pytest.approx(sk_c, abs=TOL)
    assert fast_harrell_c(te_t, te_e, x) == pytest.approx(
        concordance_index(te_t, -x, te_e), abs=TOL
    )


def test_censoring_left_limit_matches_lifelines_reverse_km() -> None:
    # lifelines' KM on the censoring indicator, with churns moved a hair earlier so they leave
    # the risk set first (the reverse-KM tie rule), evaluated half a day before each churn day,
    # is G(T_i-). The Brier score with churners only (controls none) exposes sum 1/G(T_i-).
    tr_t, tr_e, _ = _data(7, 500, ties=True)
    kmf = KaplanMeierFitter().fit(tr_t - 1e-6 * tr_e, 1 - tr_e)
    te_t = np.array([3.0, 7.0, 12.0, 20.0, 25.0])
    te_e = np.ones(5, dtype=int)
    g_left = kmf.survival_function_at_times(te_t - 0.5).to_numpy()
    expected = np.mean(1.0 / g_left)  # predicted survival 1 for every churner -> error 1
    assert brier_score(tr_t, tr_e, te_t, te_e, np.ones(5), 25.0) == pytest.approx(expected, abs=TOL)


def test_km_null_matches_lifelines_and_scikit_survival() -> None:
    from sksurv.nonparametric import kaplan_meier_estimator

    t, e, _ = _data(8, 600, ties=True)
    grid = np.array([1.0, 4.0, 10.0, 33.0, 70.0])
    ours = km_survival_at(t, e, grid)
    kmf = KaplanMeierFitter().fit(t, e)
    np.testing.assert_allclose(ours, kmf.survival_function_at_times(grid).to_numpy(), atol=TOL)
    times, surv = kaplan_meier_estimator(e.astype(bool), t)
    idx = np.searchsorted(times, grid, side="right") - 1
    np.testing.assert_allclose(ours, surv[idx], atol=TOL)
