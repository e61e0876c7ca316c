"""Retraining policy: when does monitoring evidence justify retraining the churn model?

Pure functions only (no I/O, no Dagster, no MLflow). The monitoring sensor feeds :func:`decide`
the weekly observations it has (delayed C-index, feature drift, score drift) and the history of
retraining requests, and turns the returned :class:`Decision` into at most one Dagster
``RunRequest``.

Business rules
--------------
* **C-index** (``c_index``): the model ranks customers badly when the C-index of predictions,
  evaluated once their labels arrived, falls below ``c_index_threshold`` (default 0.75). One bad
  week can be noise, so it takes ``c_index_consecutive`` (default 2) consecutive *evaluated* weeks
  below the threshold. The policy computes the breach from ``value``; the caller's ``breached``
  flag is ignored for this signal. A NaN C-index (nothing to evaluate, e.g. no churn events yet)
  is "not evaluated": it neither breaches nor interrupts a run of breaches.
* **Feature drift** / **score drift** (``feature_drift``, ``score_drift``): a week is breached when
  any observation of that signal in that week is breached (callers may pass one observation per
  feature); it takes ``drift_consecutive`` (default 1) consecutive evaluated weeks.
* "Consecutive" counts evaluated weeks of the same signal: a week without an observation is not
  evidence of recovery and does not break a run. A week that was evaluated and fine does.
* Only the breach that is still going on counts (the run of breached weeks that ends at the
  latest evaluation of the signal). A breach that recovered on its own triggers nothing.
* **Cooldown**: no new request within ``cooldown_weeks`` (default 4) of the last retrain that
  succeeded or is still in flight (``requested``), whatever signal or schedule caused it. Evidence
  from weeks up to that request is considered handled; only later weeks can start a new breach.
* **Failed retrains** do not start a cooldown and do not consume the evidence: the same breach is
  requested again with the next attempt number.
* **Attempt cap**: at most ``max_attempts`` (default 3) requests per breach; after that many
  failures the policy stops asking and says so (a broken pipeline must not retrain every tick).
* **Learning after a drift** (``drift_learn_weeks``, default 0 = at once): a model retrained the
  week a drift starts has no outcome of the drifted population to learn from (labels arrive
  later): its reference moves, the alarms go quiet, and it ranks the new customers no better.
  With ``drift_learn_weeks = k`` a drift breach is requested ``k`` weeks after it began, when
  the stacked recent cohorts (each censored at the as-of date) hold k weeks of post-drift
  follow-up. C-index breaches are requested at once (their evidence is already outcomes).
* **Scheduled** (quarterly) retraining is emitted by a schedule, not by this policy; its records in
  the history still start a cooldown like any other retrain.

Run keys
--------
``retrain:<signal>:<first breach week ISO>:<attempt>``, e.g. ``retrain:c_index:2025-03-03:1``.

* The breach id (signal + first breached week) is stable while the breach lasts, so re-evaluating
  the sensor never fires twice for the same breach: Dagster will not launch a run_key twice.
* Dagster also never relaunches the run_key of a *failed* run (dagster-io/dagster#15982), hence the
  attempt suffix: a retry of the same breach gets ``...:2``, and the tags say which run it retries.
* Dagster does not de-duplicate RunRequests with the same key inside one evaluation
  (dagster-io/dagster#26753): :func:`decide` returns a single Decision even when several signals
  breach together. Their reasons are combined; the earliest breach defines the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, get_args

Signal = Literal["c_index", "feature_drift", "score_drift"]
"""Monitoring signals this policy evaluates."""

RetrainTrigger = Literal["c_index", "feature_drift", "score_drift", "scheduled"]
"""Everything that can cause a retrain: the monitored signals, plus the quarterly schedule."""

RetrainStatus = Literal["requested", "success", "failure"]

SIGNALS: tuple[Signal, ...] = get_args(Signal)
TRIGGERS: tuple[RetrainTrigger, ...] = get_args(RetrainTrigger)

RUN_KEY_PREFIX = "retrain"

TAG_RETRAIN_REASON = "churn/retrain_reason"
"""Comma-separated triggers that breached, earliest breach first (e.g. ``c_index,score_drift``)."""
TAG_BREACH_ID = "churn/breach_id"
"""``<signal>:<first breach week>`` — the breach this run answers."""
TAG_BREACH_WEEK = "churn/breach_week"
"""First breached week of the breach that defines the run key (ISO date)."""
TAG_ATTEMPT = "churn/attempt"
"""1 for the first request of a breach; n+1 after n failed retrains of the same breach."""
TAG_RETRY_OF = "churn/retry_of"
"""Only on retries: the run key of the failed retrain this run replaces."""

_RUN_KEY_RE = re.compile(
    rf"^{RUN_KEY_PREFIX}:(?P<trigger>[a-z_]+):(?P<week>\d{{4}}-\d{{2}}-\d{{2}}):(?P<attempt>\d+)$"
)


@dataclass(frozen=True)
class PolicyConfig:
    """Thresholds of the retraining policy (see the module docstring for their meaning)."""

    c_index_threshold: float = 0.75
    c_index_consecutive: int = 2
    drift_consecutive: int = 1
    cooldown_weeks: int = 4
    drift_learn_weeks: int = 0
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.c_index_threshold <= 1.0 or math.isnan(self.c_index_threshold):
            raise ValueError(
                f"c_index_threshold must be within [0, 1], got {self.c_index_threshold!r}"
            )
        for name in ("c_index_consecutive", "drift_consecutive"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.cooldown_weeks < 0:
            raise ValueError(f"cooldown_weeks must be >= 0, got {self.cooldown_weeks!r}")
        if self.drift_learn_weeks < 0:
            raise ValueError(f"drift_learn_weeks must be >= 0, got {self.drift_learn_weeks!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts!r}")

    def consecutive_for(self, signal: Signal) -> int:
        """How many consecutive evaluated breached weeks make ``signal`` a breach."""
        return self.c_index_consecutive if signal == "c_index" else self.drift_consecutive


@dataclass(frozen=True)
class Observation:
    """One weekly monitoring result for one signal.

    ``value`` is the C-index for ``c_index`` (the policy decides the breach from it, so callers may
    pass ``breached=False``), and the statistic/effect the monitor reported for drift signals.
    """

    week: date
    signal: Signal
    value: float
    breached: bool = False
    tested: int | None = None  # drift: how many columns were tested that week (value = breached)


@dataclass(frozen=True)
class RetrainRecord:
    """A retraining request made earlier and what became of it.

    ``status`` is ``requested`` while the run is queued or in flight, then ``success`` or
    ``failure``. ``run_key`` is normally one produced by :func:`decide` or :func:`run_key`; other
    keys (manual runs) still count for the cooldown.
    """

    run_key: str
    requested_week: date
    status: RetrainStatus


@dataclass(frozen=True)
class Decision:
    """What the sensor should do this evaluation: request one retrain, or skip and say why.

    ``reasons`` are human readable sentences (one per breached signal, plus why a request was
    suppressed, if it was). ``breach_week`` is the first week of the breach that defines the key;
    it is also set when an active breach was suppressed (cooldown). ``tags`` go onto the run.
    """

    should_retrain: bool
    run_key: str | None
    reasons: tuple[str, ...]
    breach_week: date | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedRunKey:
    """The parts of a policy run key."""

    trigger: str
    breach_week: date
    attempt: int

    @property
    def breach_id(self) -> str:
        return breach_id(self.trigger, self.breach_week)


def breach_id(trigger: str, first_week: date) -> str:
    """Stable id of a breach: trigger and first breached week, e.g. ``c_index:2025-03-03``."""
    return f"{trigger}:{first_week.isoformat()}"


def run_key(trigger: RetrainTrigger, first_week: date, attempt: int = 1) -> str:
    """Dagster run key for attempt ``attempt`` of the retrain answering a breach (or a schedule).

    The quarterly schedule may use ``run_key("scheduled", quarter_start)`` so its runs share the
    format and count for the cooldown like any other retrain.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown retrain trigger {trigger!r}; expected one of {TRIGGERS}")
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    return f"{RUN_KEY_PREFIX}:{breach_id(trigger, first_week)}:{attempt}"


def parse_run_key(key: str) -> ParsedRunKey | None:
    """Split a policy run key into trigger, breach week and attempt; None for other keys."""
    match = _RUN_KEY_RE.match(key)
    if match is None:
        return None
    try:
        week = date.fromisoformat(match["week"])
    except ValueError:
        return None
    return ParsedRunKey(match["trigger"], week, int(match["attempt"]))


@dataclass(frozen=True)
class _WeekResult:
    week: date
    breached: bool
    value: float


@dataclass(frozen=True)
class _Breach:
    signal: Signal
    weeks: tuple[_WeekResult, ...]

    @property
    def first_week(self) -> date:
        return self.weeks[0].week

    @property
    def id(self) -> str:
        return breach_id(self.signal, self.first_week)


def _fmt(value: float) -> str:
    """0.71 → "0.71", 0.7456 → "0.7456" (at most 4 decimals, no trailing zeros)."""
    if math.isnan(value):
        return "nan"
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _fmt_weeks(weeks: Sequence[date]) -> str:
    if len(weeks) <= 4:
        return ", ".join(w.isoformat() for w in weeks)
    return f"{weeks[0].isoformat()} … {weeks[-1].isoformat()}"


def _weekly_results(
    observations: Iterable[Observation],
    signal: Signal,
    since: date | None,
    today: date,
    cfg: PolicyConfig,
) -> list[_WeekResult]:
    """One result per evaluated week of ``signal`` in (since, today], chronological.

    Several observations in one week (one per feature, or re-evaluations) are combined: the week
    is breached if any of them is, and the reported value is the worst one.
    """
    by_week: dict[date, list[tuple[bool, float]]] = {}
    for obs in observations:
        if obs.signal != signal or obs.week > today or (since is not None and obs.week <= since):
            continue
        value = float(obs.value)
        if signal == "c_index":
            if math.isnan(value):
                continue  # not evaluated: no labels/events to compute a C-index from
            breached = value < cfg.c_index_threshold
        else:
            breached = bool(obs.breached)
        by_week.setdefault(obs.week, []).append((breached, value))

    results = []
    for week in sorted(by_week):
        entries = by_week[week]
        breached = any(b for b, _ in entries)
        values = [v for b, v in entries if b == breached and not math.isnan(v)]
        if not values:
            worst = math.nan
        elif signal == "c_index":
            worst = min(values)
        else:
            worst = max(values)
        results.append(_WeekResult(week, breached, worst))
    return results


def _active_breach(
    results: Sequence[_WeekResult], signal: Signal, cfg: PolicyConfig
) -> _Breach | None:
    """The ongoing run of breached weeks, if it is long enough to count as a breach."""
    run: list[_WeekResult] = []
    for result in reversed(results):
        if not result.breached:
            break
        run.append(result)
    if len(run) < cfg.consecutive_for(signal):
        return None
    return _Breach(signal, tuple(reversed(run)))


def _describe(breach: _Breach, cfg: PolicyConfig) -> str:
    n = len(breach.weeks)
    weeks = _fmt_weeks([w.week for w in breach.weeks])
    span = f"{n} consecutive week{'s' if n != 1 else ''} ({weeks})"
    latest = breach.weeks[-1].value
    if breach.signal == "c_index":
        return f"c_index {_fmt(latest)} < {_fmt(cfg.c_index_threshold)} for {span}"
    return f"{breach.signal} breached (latest value {_fmt(latest)}) for {span}"


def monitoring_status(
    observations: Sequence[Observation],
    today: date,
    config: PolicyConfig = PolicyConfig(),
    model_label: str | None = None,
) -> tuple[str, ...]:
    """The latest figure of every signal, as sentences a skip reason can carry.

    E.g. ``("C-index 0.81 ≥ 0.75 for v2 (week 2025-09-01)", "0 of 20 features breached (week
    2025-10-06)", "score drift: none (week 2025-10-06)")``. A signal with no evaluation up to
    ``today`` says so (C-index: its labels have not arrived yet).
    """
    subject = f" for {model_label}" if model_label else ""
    lines: list[str] = []
    c_index = _weekly_results(observations, "c_index", None, today, config)
    threshold = _fmt(config.c_index_threshold)
    if not c_index:
        lines.append(f"no C-index evaluated yet{subject} (labels still pending)")
    else:
        last = c_index[-1]
        if last.breached:
            run = 0
            for result in reversed(c_index):
                if not result.breached:
                    break
                run += 1
            need = config.c_index_consecutive
            lines.append(
                f"C-index {_fmt(last.value)} < {threshold}{subject} (week {last.week}), "
                f"{run} of {need} consecutive weeks needed"
            )
        else:
            lines.append(f"C-index {_fmt(last.value)} ≥ {threshold}{subject} (week {last.week})")
    for signal, noun in (("feature_drift", "features"), ("score_drift", "score columns")):
        latest = [o for o in observations if o.signal == signal and o.week <= today]
        if not latest:
            lines.append(f"{signal.replace('_', ' ')}: not evaluated yet")
            continue
        week = max(o.week for o in latest)
        this_week = [o for o in latest if o.week == week]
        breached = sum(int(o.value) if not math.isnan(o.value) else 0 for o in this_week)
        tested = [o.tested for o in this_week if o.tested is not None]
        if signal == "score_drift" and len(tested) == 1 and tested[0] <= 1:
            lines.append(f"score drift: {'breached' if breached else 'none'} (week {week})")
        elif tested:
            lines.append(f"{breached} of {sum(tested)} {noun} breached (week {week})")
        else:
            lines.append(f"{breached} {noun} breached (week {week})")
    return tuple(lines)


def _last_blocking(history: Sequence[RetrainRecord]) -> RetrainRecord | None:
    """The latest retrain that succeeded or is in flight: it starts the cooldown."""
    blocking = [r for r in history if r.status != "failure"]
    if not blocking:
        return None
    return max(blocking, key=lambda r: r.requested_week)


def decide(
    observations: Sequence[Observation],
    history: Sequence[RetrainRecord],
    today: date,
    config: PolicyConfig = PolicyConfig(),
    model_label: str | None = None,
) -> Decision:
    """Decide whether monitoring evidence up to ``today`` justifies requesting a retrain.

    When nothing is in breach, the reasons are the figures behind that (see
    :func:`monitoring_status`); ``model_label`` (e.g. ``"v2"``) names the model they are about.

    Returns exactly one :class:`Decision`. When it says retrain, its ``run_key`` has never been
    used in ``history`` (the attempt number is one past any earlier attempt for that breach).
    Observations dated after ``today`` are ignored.
    """
    last = _last_blocking(history)
    since = last.requested_week if last is not None else None

    breaches: list[_Breach] = []
    for signal in SIGNALS:
        breach = _active_breach(
            _weekly_results(observations, signal, since, today, config), signal, config
        )
        if breach is not None:
            breaches.append(breach)

    if not breaches:
        return Decision(
            False, None, monitoring_status(observations, today, config, model_label), None, {}
        )

    # Order: earliest breach first; ties in the fixed signal order. The first defines the key.
    breaches.sort(key=lambda b: (b.first_week, SIGNALS.index(b.signal)))

    # A breach already answered by a successful / in-flight request is not requested again.
    attempts: dict[str, list[tuple[int, RetrainRecord]]] = {}
    for record in history:
        parsed = parse_run_key(record.run_key)
        if parsed is not None:
            attempts.setdefault(parsed.breach_id, []).append((parsed.attempt, record))
    handled = {
        b.id for b in breaches if any(r.status != "failure" for _, r in attempts.get(b.id, []))
    }
    open_breaches = [b for b in breaches if b.id not in handled]
    if not open_breaches:
        reasons = [_describe(b, config) for b in breaches]
        reasons.append("already requested for this breach; waiting for new evidence")
        return Decision(False, None, tuple(reasons), breaches[0].first_week, {})

    reasons = [_describe(b, config) for b in open_breaches]

    primary = open_breaches[0]
    if last is not None and config.cooldown_weeks > 0:
        cooldown_end = last.requested_week + timedelta(weeks=config.cooldown_weeks)
        if today < cooldown_end:
            reasons.append(
                f"suppressed: cooldown until {cooldown_end.isoformat()} after retrain "
                f"{last.run_key} ({last.status}) requested {last.requested_week.isoformat()}"
            )
            return Decision(False, None, tuple(reasons), primary.first_week, {})

    previous = attempts.get(primary.id, [])
    attempt = max((a for a, _ in previous), default=0) + 1
    if attempt > config.max_attempts:
        reasons.append(
            f"gave up on breach {primary.id}: {attempt - 1} retrain attempt(s) failed "
            f"(cap {config.max_attempts}); fix the cause and retrain by hand"
        )
        return Decision(False, None, tuple(reasons), primary.first_week, {})
    if primary.signal != "c_index" and config.drift_learn_weeks > 0:
        ready = primary.first_week + timedelta(weeks=config.drift_learn_weeks)
        if today < ready:
            reasons.append(
                f"waiting until {ready.isoformat()} ({config.drift_learn_weeks} weeks after the "
                "drift began) so the retrain can learn from outcomes observed after it"
            )
            return Decision(False, None, tuple(reasons), primary.first_week, {})
    key = run_key(primary.signal, primary.first_week, attempt)
    tags = {
        TAG_RETRAIN_REASON: ",".join(dict.fromkeys(b.signal for b in open_breaches)),
        TAG_BREACH_ID: primary.id,
        TAG_BREACH_WEEK: primary.first_week.isoformat(),
        TAG_ATTEMPT: str(attempt),
    }
    if previous:
        failed_key = max(previous, key=lambda item: item[0])[1].run_key
        tags[TAG_RETRY_OF] = failed_key
        reasons.append(f"retry {attempt} of breach {primary.id}: {failed_key} failed")
    return Decision(True, key, tuple(reasons), primary.first_week, tags)
