"""Synthetic subscription base with known churn ground truth.

The simulator is the data source of the demo and of every test. It plays a telecom-like
subscription business week by week: an initial base of customers on ``start_week``, new customers
signing up every week, and customers churning according to a hazard that we *know*. Because the
true hazard is known, tests can check that models recover who is most at risk.

How it works (all vectorised numpy, no loop over customers):

* Every customer has a latent profile drawn once at sign-up: contract, payment method, internet
  service, region, tariff (monthly charges), usual data usage, usage trend, how often they call
  support, how often they pay late, number of products, senior/partner flags. Features are
  correlated the way they are in real bases (fiber costs more, month-to-month customers pay by
  electronic check more often, long contracts go with long tenure).
* The hazard of churning on calendar day ``d`` is
  ``exp(intercept + eta(profile, regime(d)) + log_tenure_effect(tenure(d)))``: a customer part
  that only changes when a drift switch flips, times a baseline that depends on tenure (a steady
  decline in linear mode, a U-shape in non-linear mode). Its log is the ``true_log_hazard``.
* One latent churn time per customer is drawn once, by inverting the cumulative hazard for a
  unit exponential draw. The cumulative hazard is piecewise in calendar time (at most three
  pieces: before and after the feature-drift and concept-drift switches), so drifts change the
  *remaining* lifetime from the switch on, and a churn time is never re-drawn week by week.
* Weekly readings (data usage, usage trend, support calls in the last 90 days, late payments in
  the last 12 months) are noisy measurements of the latent profile, drawn from a generator seeded by
  ``(seed, week)``: the same week always gives the same snapshot, whatever was asked before.

Conventions: durations are in days; weeks are Mondays (ISO dates); day 0 is ``start_week``.
This module does no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FEATURE_COLUMNS: Final[tuple[str, ...]] = (
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
"""Model features, in the order every frame of this module lists them."""

CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "contract": ("month-to-month", "one-year", "two-year"),
    "payment_method": ("electronic_check", "mailed_check", "bank_transfer", "credit_card"),
    "internet_service": ("dsl", "fiber", "none"),
    "region": ("north", "south", "east", "west"),
}
"""Allowed levels of each categorical feature (plain ``str`` values in the frames)."""

TRUE_LOG_HAZARD: Final[str] = "true_log_hazard"
"""Hidden ground-truth column: log of the daily churn hazard. Never a model feature."""

DAYS_PER_WEEK: Final[int] = 7
DAYS_PER_MONTH: Final[float] = 30.4375
DAYS_PER_YEAR: Final[float] = 365.25
MIN_CENSORED_DURATION_DAYS: Final[float] = 0.5
"""Duration given to customers censored on the very day of their cohort (durations must be > 0)."""

_INT_FEATURES: Final[tuple[str, ...]] = (
    "support_calls_90d",
    "late_payments_12m",
    "num_products",
    "is_senior",
    "has_partner",
)
_CATEGORY_CODE: Final = np.int8

# Level codes (indices into CATEGORIES) used in the arithmetic below.
_M2M, _ONE_YEAR, _TWO_YEAR = 0, 1, 2
_E_CHECK = 0
_DSL, _FIBER, _NO_INTERNET = 0, 1, 2
_SOUTH = 1

# Random streams: each (seed, stream, index) triple seeds its own generator.
_STREAM_POPULATION: Final[int] = 11
_STREAM_WEEKLY: Final[int] = 23
_STREAM_CENSORING: Final[int] = 37

# Tenure baseline: tabulated daily up to this tenure, constant beyond (both modes flatten earlier).
_TENURE_GRID_DAYS: Final[int] = 3_000


@dataclass(frozen=True)
class SimulatorConfig:
    """What kind of subscription base to simulate.

    Attributes:
        n_customers: size of the base on ``start_week``. New customers arrive every week at the rate
            the base churns at the start, so the base stays roughly stable.
        seed: same seed, same customers, same churn times, same weekly snapshots.
        start_week: first Monday of the simulation (day 0). Earlier weeks do not exist.
        label_delay_weeks: a churn becomes known this many weeks after it happens (e.g. the end of
            a notice period): labels computed ``as_of`` a date only show churn before
            ``as_of - label_delay_weeks``.
        nonlinear: True adds interactions and thresholds to the hazard (support-call threshold,
            fiber x high charges, month-to-month x electronic check, price sensitivity that
            depends on the contract, disengagement threshold, U-shaped tenure effect) so that tree
            models beat a linear Cox model; False keeps the
            log-hazard linear in the features (tenure effect capped at five years).
        feature_drift_week: from this Monday on, the base changes: prices go up, data usage goes
            down and usage trends soften, some DSL customers move to fiber. Applies to existing
            customers and to new sign-ups. The hazard as a function of the features does not change
            (covariate shift), but each customer's hazard follows their new features.
        feature_drift_strength: scales the size of the feature drift (1.0 = the default story).
        concept_drift_week: from this Monday on, what drives churn changes: support calls matter
            much more, contract and electronic check matter less, customers in the south region
            churn more (a competitor arrived). Remaining lifetimes are re-drawn from that day on.
        concept_drift_strength: scales the size of the coefficient change (1.0 = the default story).
        baseline_hazard_per_year: average yearly churn hazard of the base on ``start_week``;
            sets the overall churn rate (0.25 means about 22% of the base churns within a year).
    """

    n_customers: int = 20_000
    seed: int = 0
    start_week: date = date(2025, 1, 6)
    label_delay_weeks: int = 4
    nonlinear: bool = True
    feature_drift_week: date | None = None
    feature_drift_strength: float = 1.0
    concept_drift_week: date | None = None
    concept_drift_strength: float = 1.0
    baseline_hazard_per_year: float = 0.25

    def __post_init__(self) -> None:
        if self.n_customers < 1:
            raise ValueError(f"n_customers must be at least 1, got {self.n_customers}")
        if self.label_delay_weeks < 0:
            raise ValueError(f"label_delay_weeks must be >= 0, got {self.label_delay_weeks}")
        if not self.baseline_hazard_per_year > 0:
            raise ValueError(
                f"baseline_hazard_per_year must be > 0, got {self.baseline_hazard_per_year}"
            )
        for name in ("feature_drift_strength", "concept_drift_strength"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        for name in ("start_week", "feature_drift_week", "concept_drift_week"):
            value = getattr(self, name)
            if value is not None and _as_date(value).weekday() != 0:
                raise ValueError(f"{name} must be a Monday, got {value} ({value:%A})")


@dataclass(frozen=True)
class _HazardCoefficients:
    """Log-hazard contributions: linear terms always, the last block only in non-linear mode."""

    contract: tuple[float, float, float] = (0.0, -0.9, -1.7)
    payment: tuple[float, float, float, float] = (0.45, 0.1, 0.0, -0.05)
    internet: tuple[float, float, float] = (0.0, 0.25, -0.3)
    region: tuple[float, float, float, float] = (0.0, 0.05, -0.05, 0.1)
    per_10_charges: float = 0.05  # per 10 currency units above 70
    per_support_call: float = 0.18  # per expected support call in 90 days
    per_late_payment: float = 0.12  # per expected late payment in 12 months
    per_10pct_usage_trend: float = -0.2  # per 10 percentage points of usage trend
    per_extra_product: float = -0.12
    senior: float = 0.2
    partner: float = -0.2
    # Non-linear mode only.
    support_threshold: float = 1.3  # expected support calls >= 3.5 in 90 days
    fiber_high_charges: float = 1.2  # fiber and monthly charges > 95
    m2m_echeck: float = 0.6  # month-to-month paid by electronic check
    disengaged: float = 0.9  # usage trend below -25%
    m2m_per_10_charges: float = 0.2  # price sensitive on month-to-month, not on two-year

    def after_concept_drift(self, strength: float) -> _HazardCoefficients:
        """Coefficients after the concept-drift switch (support matters more, contract less)."""
        contract_scale = max(0.0, 1.0 - 0.7 * strength)
        echeck_scale = max(0.0, 1.0 - 0.6 * strength)
        region = list(self.region)
        region[_SOUTH] += 0.6 * strength
        payment = list(self.payment)
        payment[_E_CHECK] *= echeck_scale
        return replace(
            self,
            contract=(
                self.contract[0] * contract_scale,
                self.contract[1] * contract_scale,
                self.contract[2] * contract_scale,
            ),
            payment=(payment[0], payment[1], payment[2], payment[3]),
            region=(region[0], region[1], region[2], region[3]),
            per_support_call=self.per_support_call * (1.0 + 2.0 * strength),
            support_threshold=self.support_threshold * (1.0 + strength),
            m2m_echeck=self.m2m_echeck * echeck_scale,
        )


@dataclass
class _Profiles:
    """Latent customer profiles, one entry per customer (struct of arrays)."""

    contract: npt.NDArray[np.int8]
    payment: npt.NDArray[np.int8]
    internet: npt.NDArray[np.int8]
    region: npt.NDArray[np.int8]
    monthly_charges: FloatArray
    usage_level_gb: FloatArray
    usage_trend_pct: FloatArray
    support_rate_90d: FloatArray
    late_rate: FloatArray
    num_products: IntArray
    is_senior: IntArray
    has_partner: IntArray

    def take(self, index: IntArray) -> _Profiles:
        """Profiles of a subset of customers."""
        return _Profiles(**{name: getattr(self, name)[index] for name in _PROFILE_FIELDS})

    @staticmethod
    def concat(parts: list[_Profiles]) -> _Profiles:
        """Profiles of several batches of customers, in order."""
        return _Profiles(
            **{name: np.concatenate([getattr(p, name) for p in parts]) for name in _PROFILE_FIELDS}
        )


_PROFILE_FIELDS: Final[tuple[str, ...]] = tuple(_Profiles.__dataclass_fields__)


@dataclass
class _Population:
    """Everyone who has been a customer up to the latest simulated week, in sign-up order.

    ``customer_id`` equals the position in these arrays.
    """

    signup_day: FloatArray
    churn_day: FloatArray
    billing_factor: FloatArray  # ratio of total charges to tariff x tenure (discounts, extras)
    before_drift: _Profiles
    after_drift: _Profiles
    eta: FloatArray  # (n_periods, n): customer part of the log-hazard in each calendar period
    n_signed_up_by_week: list[int] = field(default_factory=list)  # index = week index


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(key)))


def _choice_by_row(rng: np.random.Generator, cum_probs: FloatArray) -> npt.NDArray[np.int8]:
    """Draw one category per row, each row with its own cumulative probabilities (n, k)."""
    u = rng.random((len(cum_probs), 1))
    return (u >= cum_probs[:, :-1]).sum(axis=1).astype(_CATEGORY_CODE)


def log_tenure_effect(tenure_days: FloatArray, nonlinear: bool) -> FloatArray:
    """Tenure part of the log-hazard (0 at sign-up).

    Linear mode: churn risk falls steadily with tenure, -0.4 per year, flat after five years.
    Non-linear mode: a U-shape. Very high in the first months (onboarding churn), lowest around
    two to three years, rising again for long-standing customers (who start shopping around).
    """
    t = np.asarray(tenure_days, dtype=np.float64)
    if not nonlinear:
        return -0.4 * np.minimum(t, 5.0 * DAYS_PER_YEAR) / DAYS_PER_YEAR
    years = np.minimum(t, 8.0 * DAYS_PER_YEAR) / DAYS_PER_YEAR
    return (
        1.0 * np.exp(-t / 75.0)
        - 0.7 * np.minimum(years, 2.0) / 2.0
        + 1.2 * np.maximum(years - 3.0, 0.0) / 5.0
    )


class _TenureBaseline:
    """Cumulative tenure baseline B(s) = integral of exp(log_tenure_effect) and its inverse."""

    def __init__(self, nonlinear: bool) -> None:
        self.grid = np.arange(_TENURE_GRID_DAYS + 1, dtype=np.float64)
        rate = np.exp(log_tenure_effect(self.grid[:-1] + 0.5, nonlinear))
        self.cum = np.concatenate([[0.0], np.cumsum(rate)])
        self.tail_rate = float(
            np.exp(log_tenure_effect(np.array([float(_TENURE_GRID_DAYS)]), nonlinear))[0]
        )

    def cumulative(self, tenure_days: FloatArray) -> FloatArray:
        out = np.interp(tenure_days, self.grid, self.cum)
        beyond = tenure_days > _TENURE_GRID_DAYS
        out[beyond] = self.cum[-1] + self.tail_rate * (tenure_days[beyond] - _TENURE_GRID_DAYS)
        return out

    def inverse(self, cumulative: FloatArray) -> FloatArray:
        out = np.interp(cumulative, self.cum, self.grid)
        beyond = cumulative > self.cum[-1]
        out[beyond] = _TENURE_GRID_DAYS + (cumulative[beyond] - self.cum[-1]) / self.tail_rate
        return out


def _sample_profiles(
    rng: np.random.Generator, n: int, contract_probs: tuple[float, float, float]
) -> _Profiles:
    """Draw latent profiles of ``n`` customers with realistic correlations."""
    contract = _choice_by_row(rng, np.tile(np.cumsum(contract_probs), (n, 1)))
    # Month-to-month customers pay by electronic check much more often.
    payment_table = np.cumsum(
        np.array(
            [
                [0.50, 0.15, 0.17, 0.18],
                [0.20, 0.20, 0.30, 0.30],
                [0.10, 0.20, 0.35, 0.35],
            ]
        ),
        axis=1,
    )
    payment = _choice_by_row(rng, payment_table[contract])
    is_senior = (rng.random(n) < 0.16).astype(np.int64)
    # Seniors take fiber a little less often, and go without internet more often.
    internet_table = np.cumsum(np.array([[0.35, 0.45, 0.20], [0.40, 0.32, 0.28]]), axis=1)
    internet = _choice_by_row(rng, internet_table[is_senior])
    region = _choice_by_row(rng, np.tile(np.cumsum([0.3, 0.25, 0.25, 0.2]), (n, 1)))
    has_partner = (rng.random(n) < np.where(contract == _M2M, 0.38, 0.6)).astype(np.int64)
    num_products = np.minimum(1 + rng.poisson(np.where(contract == _TWO_YEAR, 1.6, 1.0)), 8).astype(
        np.int64
    )
    base_tariff = np.array([50.0, 80.0, 20.0])[internet]
    monthly_charges = np.clip(
        base_tariff
        + 9.0 * (num_products - 1)
        - np.where(contract == _TWO_YEAR, 5.0, 0.0)
        + rng.normal(0.0, 9.0, n),
        10.0,
        200.0,
    )
    usage_median = np.array([120.0, 300.0, 6.0])[internet]
    usage_level_gb = usage_median * rng.lognormal(0.0, 0.5, n)
    disengaging = rng.random(n) < 0.1
    usage_trend_pct = np.where(
        disengaging, rng.normal(-40.0, 15.0, n), rng.normal(2.0, 12.0, n)
    ).clip(-95.0, 400.0)
    support_rate_90d = rng.gamma(1.3, 1.0, n) + np.where(internet == _FIBER, 0.4, 0.0)
    late_rate = rng.beta(1.0, np.where(payment == _E_CHECK, 9.0, 20.0))
    return _Profiles(
        contract=contract,
        payment=payment,
        internet=internet,
        region=region,
        monthly_charges=monthly_charges,
        usage_level_gb=usage_level_gb,
        usage_trend_pct=usage_trend_pct,
        support_rate_90d=support_rate_90d,
        late_rate=late_rate,
        num_products=num_products,
        is_senior=is_senior,
        has_partner=has_partner,
    )


def _drifted_profiles(base: _Profiles, uniforms: FloatArray, strength: float) -> _Profiles:
    """The same customers after the feature drift: price rise, less usage, DSL to fiber moves."""
    to_fiber = (base.internet == _DSL) & (uniforms < min(1.0, 0.3 * strength))
    internet = np.where(to_fiber, _FIBER, base.internet).astype(_CATEGORY_CODE)
    charges = np.clip(
        (base.monthly_charges + np.where(to_fiber, 25.0, 0.0)) * (1.0 + 0.12 * strength),
        10.0,
        200.0,
    )
    return replace(
        base,
        internet=internet,
        monthly_charges=charges,
        usage_level_gb=base.usage_level_gb
        * np.where(to_fiber, 2.0, 1.0)
        * max(0.05, 1.0 - 0.25 * strength),
        usage_trend_pct=np.clip(base.usage_trend_pct - 8.0 * strength, -95.0, 400.0),
    )


def customer_log_hazard(
    profiles: _Profiles, coefs: _HazardCoefficients, nonlinear: bool
) -> FloatArray:
    """Customer part of the log-hazard (without intercept and tenure effect)."""
    eta = (
        np.asarray(coefs.contract)[profiles.contract]
        + np.asarray(coefs.payment)[profiles.payment]
        + np.asarray(coefs.internet)[profiles.internet]
        + np.asarray(coefs.region)[profiles.region]
        + coefs.per_10_charges * (profiles.monthly_charges - 70.0) / 10.0
        + coefs.per_support_call * profiles.support_rate_90d
        + coefs.per_late_payment * 12.0 * profiles.late_rate
        + coefs.per_10pct_usage_trend * profiles.usage_trend_pct / 10.0
        + coefs.per_extra_product * (profiles.num_products - 1)
        + coefs.senior * profiles.is_senior
        + coefs.partner * profiles.has_partner
    )
    if nonlinear:
        eta = (
            eta
            + coefs.support_threshold * (profiles.support_rate_90d >= 3.5)
            + coefs.fiber_high_charges
            * ((profiles.internet == _FIBER) & (profiles.monthly_charges > 95.0))
            + coefs.m2m_echeck * ((profiles.contract == _M2M) & (profiles.payment == _E_CHECK))
            + coefs.disengaged * (profiles.usage_trend_pct < -25.0)
            + coefs.m2m_per_10_charges
            * ((profiles.contract == _M2M).astype(np.float64) - (profiles.contract == _TWO_YEAR))
            * (profiles.monthly_charges - 70.0)
            / 10.0
        )
    return np.asarray(eta, dtype=np.float64)


class CustomerSimulator:
    """A seeded synthetic subscription base, queried one Monday at a time.

    The population grows lazily: asking for a later week simulates the sign-ups of the weeks in
    between (each week from its own seeded generator, so the result does not depend on the order
    of the calls).
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._start = _as_date(config.start_week)
        self._coefs_before = _HazardCoefficients()
        self._coefs_after = self._coefs_before.after_concept_drift(config.concept_drift_strength)
        self._baseline = _TenureBaseline(config.nonlinear)
        self._feature_drift_day = self._switch_day(config.feature_drift_week)
        self._concept_drift_day = self._switch_day(config.concept_drift_week)
        # Calendar periods with constant (feature regime, coefficient regime).
        switches = sorted(
            {d for d in (self._feature_drift_day, self._concept_drift_day) if math.isfinite(d)}
        )
        starts = [-math.inf, *switches]
        ends = [*switches, math.inf]
        self._periods: list[tuple[float, float, bool, bool]] = [
            (lo, hi, lo >= self._feature_drift_day, lo >= self._concept_drift_day)
            for lo, hi in zip(starts, ends, strict=True)
        ]
        self._pop = self._initial_population()
        # New customers replace, on average, the customers the starting base is expected to lose
        # in its first year without drift (the riskiest leave first, so this is below the day-0
        # hazard). Expected, not realised, so drifts do not change who signs up.
        pop = self._pop
        tenure0 = -pop.signup_day
        first_year_hazard = np.exp(
            self._intercept
            + customer_log_hazard(pop.before_drift, self._coefs_before, config.nonlinear)
        ) * (
            self._baseline.cumulative(tenure0 + DAYS_PER_YEAR) - self._baseline.cumulative(tenure0)
        )
        expected_churners = float(np.sum(-np.expm1(-first_year_hazard)))
        self._weekly_arrivals = expected_churners * DAYS_PER_WEEK / DAYS_PER_YEAR

    # ----------------------------------------------------------------------------- public API

    def features_for_week(self, week: date) -> pd.DataFrame:
        """Snapshot of every customer active on Monday ``week`` (signed up, not yet churned).

        Columns: ``customer_id`` (int64), the :data:`FEATURE_COLUMNS`, and the hidden ground truth
        ``true_log_hazard`` (log of the daily churn hazard on that day; not a model feature).
        Rows are ordered by ``customer_id``.
        """
        k = self._week_index(week)
        idx = self._active(k)
        return self._snapshot(k, idx)

    def labels_for_cohort(self, week: date, as_of: date) -> pd.DataFrame:
        """Survival labels, known on ``as_of``, of the customers active on Monday ``week``.

        Columns: ``customer_id``, ``duration_days`` (float, > 0, measured from ``week``) and
        ``event`` (1 = churned, 0 = censored). A churn is visible only if it happened before
        ``as_of - label_delay_weeks``; everybody else is censored at that date
        (``duration_days`` = observed window, at least 0.5 day). Rows are ordered by customer_id.
        """
        k = self._week_index(week)
        as_of = _as_date(as_of)
        known_until = (as_of - self._start).days - DAYS_PER_WEEK * self.config.label_delay_weeks
        idx = self._active(k)
        duration, event = self._observe(idx, float(DAYS_PER_WEEK * k), float(known_until))
        return pd.DataFrame(
            {
                "customer_id": idx.astype(np.int64),
                "duration_days": duration,
                "event": event,
            }
        )

    def training_frame(self, week: date, as_of: date) -> pd.DataFrame:
        """Features of the customers active on ``week`` with their labels as known on ``as_of``.

        Columns: ``customer_id``, :data:`FEATURE_COLUMNS`, ``true_log_hazard``,
        ``duration_days``, ``event``.
        """
        features = self.features_for_week(week)
        labels = self.labels_for_cohort(week, as_of)
        # Both frames list the same active customers in the same order.
        features["duration_days"] = labels["duration_days"].to_numpy()
        features["event"] = labels["event"].to_numpy()
        return features

    def churn_events(self, until: date) -> pd.DataFrame:
        """Churn events up to and including the date ``until``: ``customer_id``, ``churned_on``.

        ``churned_on`` is the calendar date of the (fractional) churn day. This is the
        simulator's side of the churn-events source (``domain/datasource.py``); it ignores the
        reporting delay, which the caller applies by choosing ``until``.
        """
        until = _as_date(until)
        days = (until - self._start).days
        if days < 0:
            return pd.DataFrame(
                {"customer_id": np.array([], np.int64), "churned_on": pd.Series([], dtype=object)}
            )
        self._extend_to(days // DAYS_PER_WEEK)
        n_known = self._pop.n_signed_up_by_week[days // DAYS_PER_WEEK]
        churn_day = self._pop.churn_day[:n_known]
        idx = np.flatnonzero(np.floor(churn_day) <= days).astype(np.int64)
        offsets = np.floor(churn_day[idx]).astype("timedelta64[D]")
        dates = np.datetime64(self._start, "D") + offsets
        return pd.DataFrame({"customer_id": idx, "churned_on": pd.to_datetime(dates).date})

    def counterfactual_log_hazard(self, week: date, concept_drift_active: bool) -> pd.Series:
        """Log-hazard of the customers active on ``week`` under a chosen set of coefficients.

        ``concept_drift_active=False`` gives what ``true_log_hazard`` would be without the concept
        drift (the pre-drift coefficients), True what it would be with it. Features (including any
        feature drift) are those of ``week``. Indexed by ``customer_id``, same order as
        :meth:`features_for_week`. Used to show that a model of the old world ranks worse after a
        concept drift.
        """
        k = self._week_index(week)
        idx = self._active(k)
        day = float(DAYS_PER_WEEK * k)
        profiles = self._profiles_at(day).take(idx)
        coefs = self._coefs_after if concept_drift_active else self._coefs_before
        log_hazard = (
            self._intercept
            + customer_log_hazard(profiles, coefs, self.config.nonlinear)
            + log_tenure_effect(day - self._pop.signup_day[idx], self.config.nonlinear)
        )
        return pd.Series(
            log_hazard,
            index=pd.Index(idx.astype(np.int64), name="customer_id"),
            name=TRUE_LOG_HAZARD,
        )

    def week_start(self, week_index: int) -> date:
        """The Monday ``week_index`` weeks after ``start_week``."""
        return self._start + timedelta(weeks=week_index)

    # ------------------------------------------------------------------------ population

    def _switch_day(self, week: date | None) -> float:
        return math.inf if week is None else float((_as_date(week) - self._start).days)

    def _week_index(self, week: date) -> int:
        week = _as_date(week)
        if week.weekday() != 0:
            raise ValueError(f"week must be a Monday (partition key), got {week} ({week:%A})")
        days = (week - self._start).days
        if days < 0:
            raise ValueError(
                f"week {week} is before the simulation start_week {self._start}; "
                "the simulated base does not exist before it"
            )
        k = days // DAYS_PER_WEEK
        self._extend_to(k)
        return k

    def _profiles_at(self, day: float) -> _Profiles:
        return self._pop.after_drift if day >= self._feature_drift_day else self._pop.before_drift

    def _period_at(self, day: float) -> int:
        for p, (lo, hi, _, _) in enumerate(self._periods):
            if lo <= day < hi:
                return p
        raise AssertionError(f"no period contains day {day}")  # periods cover the real line

    def _eta_by_period(self, before: _Profiles, after: _Profiles) -> FloatArray:
        return np.stack(
            [
                customer_log_hazard(
                    after if feature_drifted else before,
                    self._coefs_after if concept_drifted else self._coefs_before,
                    self.config.nonlinear,
                )
                for _, _, feature_drifted, concept_drifted in self._periods
            ]
        )

    def _batch(
        self,
        rng: np.random.Generator,
        n: int,
        signup_day: FloatArray,
        contract_probs: tuple[float, float, float],
    ) -> tuple[_Profiles, _Profiles, FloatArray, FloatArray]:
        """Profiles before/after drift, unit-exponential churn draws, billing factor of a batch.

        The same draws are made whether or not drifts are configured, so the same seed gives the
        same customers with and without drift.
        """
        before = _sample_profiles(rng, n, contract_probs)
        drift_uniforms = rng.random(n)
        after = (
            _drifted_profiles(before, drift_uniforms, self.config.feature_drift_strength)
            if math.isfinite(self._feature_drift_day)
            else before
        )
        unit_exponential = rng.exponential(1.0, n)
        billing_factor = rng.lognormal(0.0, 0.05, n)
        del signup_day  # signature documents what the batch belongs to
        return before, after, unit_exponential, billing_factor

    def _initial_population(self) -> _Population:
        cfg = self.config
        rng = _rng(cfg.seed, _STREAM_POPULATION, 0)
        n = cfg.n_customers
        before, after, unit_exponential, billing_factor = self._batch(
            rng, n, np.zeros(n), (0.55, 0.21, 0.24)
        )
        # Tenure on day 0: long contracts go with long-standing customers. Capped at 8 years.
        scale_days = np.array([330.0, 700.0, 1100.0])[before.contract]
        floor_days = np.array([0.0, 120.0, 365.0])[before.contract]
        tenure0 = np.minimum(floor_days + rng.gamma(1.2, scale_days / 1.2), 8.0 * DAYS_PER_YEAR)
        signup_day = -tenure0
        eta = self._eta_by_period(before, after)
        # Calibrate: the base's average hazard on day 0 (before any drift) is the configured one.
        eta_day0 = customer_log_hazard(before, self._coefs_before, cfg.nonlinear)
        mean_rate = float(np.mean(np.exp(eta_day0 + log_tenure_effect(tenure0, cfg.nonlinear))))
        self._intercept = math.log(cfg.baseline_hazard_per_year / DAYS_PER_YEAR) - math.log(
            mean_rate
        )
        churn_day = self._draw_churn_days(signup_day, np.zeros(n), eta, unit_exponential)
        return _Population(
            signup_day=signup_day,
            churn_day=churn_day,
            billing_factor=billing_factor,
            before_drift=before,
            after_drift=after,
            eta=eta,
            n_signed_up_by_week=[n],
        )

    def _extend_to(self, k: int) -> None:
        """Simulate the sign-ups of every week up to week index ``k``."""
        pop = self._pop
        first = len(pop.n_signed_up_by_week)
        if k < first:
            return
        parts_before = [pop.before_drift]
        parts_after = [pop.after_drift]
        signups, churns, factors, etas = (
            [pop.signup_day],
            [pop.churn_day],
            [pop.billing_factor],
            [pop.eta],
        )
        counts = list(pop.n_signed_up_by_week)
        for week in range(first, k + 1):
            rng = _rng(self.config.seed, _STREAM_POPULATION, week)
            n = int(rng.poisson(self._weekly_arrivals))
            # Sign-ups during the 7 days up to and including this Monday.
            signup_day = DAYS_PER_WEEK * week - DAYS_PER_WEEK * rng.random(n)
            # New customers are mostly on month-to-month contracts.
            before, after, unit_exponential, billing_factor = self._batch(
                rng, n, signup_day, (0.7, 0.2, 0.1)
            )
            eta = self._eta_by_period(before, after)
            churns.append(self._draw_churn_days(signup_day, signup_day, eta, unit_exponential))
            parts_before.append(before)
            parts_after.append(after)
            signups.append(signup_day)
            factors.append(billing_factor)
            etas.append(eta)
            counts.append(counts[-1] + n)
        before_all = _Profiles.concat(parts_before)
        after_all = (
            _Profiles.concat(parts_after) if math.isfinite(self._feature_drift_day) else before_all
        )
        self._pop = _Population(
            signup_day=np.concatenate(signups),
            churn_day=np.concatenate(churns),
            billing_factor=np.concatenate(factors),
            before_drift=before_all,
            after_drift=after_all,
            eta=np.concatenate(etas, axis=1),
            n_signed_up_by_week=counts,
        )

    def _draw_churn_days(
        self,
        signup_day: FloatArray,
        at_risk_from_day: FloatArray,
        eta: FloatArray,
        unit_exponential: FloatArray,
    ) -> FloatArray:
        """Churn day of each customer: the day their cumulative hazard reaches their unit draw.

        Cumulative hazard from ``at_risk_from_day`` is a sum over calendar periods of
        ``exp(intercept + eta_period) * (B(tenure at period end) - B(tenure at period start))``;
        within the period where the draw is reached, B is inverted in closed form.
        """
        n = signup_day.shape[0]
        remaining = unit_exponential.copy()
        churn_day = np.full(n, np.inf)
        open_ = np.ones(n, dtype=bool)
        for p, (lo, hi, _, _) in enumerate(self._periods):
            seg_lo = np.maximum(lo, at_risk_from_day)
            seg_hi = np.maximum(hi, seg_lo)
            b_lo = self._baseline.cumulative(seg_lo - signup_day)
            b_hi = self._baseline.cumulative(seg_hi - signup_day)
            scale = np.exp(self._intercept + eta[p])
            delta = scale * (b_hi - b_lo)
            hit = open_ & (remaining < delta)
            churn_day[hit] = signup_day[hit] + self._baseline.inverse(
                b_lo[hit] + remaining[hit] / scale[hit]
            )
            still_open = open_ & ~hit
            remaining[still_open] -= delta[still_open]
            open_ = still_open
        return churn_day

    def _active(self, k: int) -> IntArray:
        """Ids of customers active on the Monday of week index ``k``."""
        n_known = self._pop.n_signed_up_by_week[k]
        return np.flatnonzero(self._pop.churn_day[:n_known] > DAYS_PER_WEEK * k).astype(np.int64)

    # ------------------------------------------------------------------------ observation

    def _snapshot(self, k: int, idx: IntArray) -> pd.DataFrame:
        cfg = self.config
        pop = self._pop
        day = float(DAYS_PER_WEEK * k)
        n_known = pop.n_signed_up_by_week[k]
        profiles = self._profiles_at(day).take(idx)
        tenure = day - pop.signup_day[idx]

        # Weekly readings: one generator per (seed, week), draws for everyone signed up so far.
        rng = _rng(cfg.seed, _STREAM_WEEKLY, k)
        usage_noise = rng.lognormal(0.0, 0.15, n_known)[idx]
        trend_noise = rng.normal(0.0, 6.0, n_known)[idx]
        support_u = rng.random(n_known)[idx]
        late_u = rng.random(n_known)[idx]

        support_calls = _poisson_quantile(support_u, profiles.support_rate_90d)
        months_observed = np.minimum(12, np.floor(tenure / DAYS_PER_MONTH).astype(np.int64) + 1)
        late_payments = _binomial_quantile(late_u, months_observed, profiles.late_rate)

        # Total charges: tariff before the price change for the days before it, new tariff after.
        before = pop.before_drift.monthly_charges[idx]
        if math.isfinite(self._feature_drift_day):
            days_before = np.clip(
                min(day, self._feature_drift_day) - pop.signup_day[idx], 0.0, tenure
            )
            billed = before * days_before + profiles.monthly_charges * (tenure - days_before)
        else:
            billed = before * tenure
        total_charges = pop.billing_factor[idx] * billed / DAYS_PER_MONTH

        period = self._period_at(day)
        true_log_hazard = (
            self._intercept + pop.eta[period, idx] + log_tenure_effect(tenure, cfg.nonlinear)
        )
        columns: dict[str, npt.ArrayLike] = {
            "customer_id": idx,
            "tenure_days": tenure,
            "contract": _labels("contract", profiles.contract),
            "payment_method": _labels("payment_method", profiles.payment),
            "internet_service": _labels("internet_service", profiles.internet),
            "region": _labels("region", profiles.region),
            "monthly_charges": profiles.monthly_charges,
            "total_charges": total_charges,
            "data_usage_gb": profiles.usage_level_gb * usage_noise,
            "usage_change_pct": np.clip(profiles.usage_trend_pct + trend_noise, -100.0, 500.0),
            "support_calls_90d": support_calls,
            "late_payments_12m": late_payments,
            "num_products": profiles.num_products,
            "is_senior": profiles.is_senior,
            "has_partner": profiles.has_partner,
            TRUE_LOG_HAZARD: true_log_hazard,
        }
        frame = pd.DataFrame(columns, copy=False)
        return frame

    def _observe(
        self, idx: IntArray, cohort_day: float, known_until_day: float
    ) -> tuple[FloatArray, IntArray]:
        """Duration (days from the cohort day) and event flag as visible on ``known_until_day``."""
        churn_day = self._pop.churn_day[idx]
        event = churn_day < known_until_day
        window = max(known_until_day - cohort_day, MIN_CENSORED_DURATION_DAYS)
        duration = np.where(event, churn_day - cohort_day, window)
        return duration.astype(np.float64), event.astype(np.int64)


def _labels(feature: str, codes: npt.NDArray[np.int8]) -> npt.NDArray[np.object_]:
    """Category codes to an object array of plain Python ``str``."""
    levels = np.empty(len(CATEGORIES[feature]), dtype=object)
    levels[:] = CATEGORIES[feature]
    return levels[codes]


def _poisson_quantile(u: FloatArray, rate: FloatArray) -> IntArray:
    """Poisson(rate) draws by inversion of uniforms (vectorised; rates here are small)."""
    count = np.zeros(u.shape[0], dtype=np.int64)
    pmf = np.exp(-rate)
    cdf = pmf.copy()
    for j in range(1, 60):
        below = u > cdf
        if not below.any():
            break
        count += below
        pmf = pmf * rate / j
        cdf = cdf + pmf
    return count


def _binomial_quantile(u: FloatArray, trials: IntArray, p: FloatArray) -> IntArray:
    """Binomial(trials, p) draws by inversion of uniforms (vectorised; trials <= 12)."""
    q = 1.0 - p
    pmf = q**trials
    cdf = pmf.copy()
    count = np.zeros(u.shape[0], dtype=np.int64)
    for j in range(1, 13):
        below = (u > cdf) & (j <= trials)
        if not below.any():
            break
        count += below
        pmf = pmf * (trials - j + 1) / j * p / np.where(q > 0, q, 1.0)
        cdf = cdf + pmf
    return count


def make_training_frame(
    n_customers: int, seed: int = 0, nonlinear: bool = True, horizon_days: float = 365.0
) -> pd.DataFrame:
    """One cohort of ``n_customers`` followed for ``horizon_days``: a ready-made training set.

    Everyone still a customer at the horizon is censored there (administrative censoring). On top,
    about 10% of customers leave the observation early for reasons unrelated to churn (account
    migrations, data loss) at a uniformly random time within the horizon (random censoring).
    Columns: ``customer_id``, :data:`FEATURE_COLUMNS`, ``true_log_hazard``, ``duration_days``,
    ``event``.
    """
    if not horizon_days > 0:
        raise ValueError(f"horizon_days must be > 0, got {horizon_days}")
    config = SimulatorConfig(
        n_customers=n_customers, seed=seed, nonlinear=nonlinear, label_delay_weeks=0
    )
    sim = CustomerSimulator(config)
    frame = sim.features_for_week(config.start_week)
    idx = frame["customer_id"].to_numpy()
    rng = _rng(seed, _STREAM_CENSORING, 0)
    lost = rng.random(idx.shape[0]) < 0.1
    lost_day = rng.uniform(0.0, horizon_days, idx.shape[0])
    end_of_observation = np.where(lost, lost_day, horizon_days)
    churn_day = sim._pop.churn_day[idx]
    event = churn_day < end_of_observation
    frame["duration_days"] = np.where(
        event, churn_day, np.maximum(end_of_observation, MIN_CENSORED_DURATION_DAYS)
    ).astype(np.float64)
    frame["event"] = event.astype(np.int64)
    return frame
