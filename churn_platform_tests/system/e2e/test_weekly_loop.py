"""The whole weekly loop on a small simulated history, through Dagster.

Score → delayed evaluation → drift → retraining sensor → training → gate → approval → the
next weeks scored by the new version. Real PostgreSQL, real MLflow store, and the real Dagster
jobs and sensor of the code location, launched and ticked through a Dagster instance (the same
path as ``make demo``): the instance must hold the story a user opens in the UI. The loop's
connections to the session's databases are sampled from ``pg_stat_activity`` throughout and
must stay within the configured pool bounds.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import TickStatus
from mlflow.tracking import MlflowClient

from churn_platform.app.monitoring import week_index
from churn_platform.defs.location import RESOURCE_CONFIG_ENV, configured_resources
from churn_platform.defs.partitions import START_WEEK, week_of
from churn_platform.entry.instance_runs import instance_runs, loop_instance
from churn_platform.entry.loop import LoopReport, run_weekly_loop
from churn_platform.io.db import MAX_OVERFLOW, POOL_SIZE
from churn_platform.settings import DEFAULT_MLFLOW_MAX_OVERFLOW, DEFAULT_MLFLOW_POOL_SIZE
from churn_platform_tests.support.connections import ConnectionSampler
from churn_platform_tests.support.postgres import ADMIN_URL

pytestmark = pytest.mark.slow  # the weekly loop through Dagster: minutes on 2 CPUs

SIM_START = date(2025, 1, 6)
FIRST = SIM_START + timedelta(weeks=26)
DRIFT = FIRST + timedelta(weeks=3)
LAG = 3
WEEKS = [FIRST + timedelta(weeks=i) for i in range(8)]


class _SlackStub(BaseHTTPRequestHandler):
    """A real HTTP endpoint on loopback standing in for Slack's incoming webhook."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def slack() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _SlackStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX"
    server.shutdown()


# What one process may hold: its application pool, MLflow's tracking and registry stores (each
# its own bounded pool), and up to two short-lived ADBC connections (COPY write, Arrow read).
CONNECTION_BOUND = (
    POOL_SIZE + MAX_OVERFLOW + 2 * (DEFAULT_MLFLOW_POOL_SIZE + DEFAULT_MLFLOW_MAX_OVERFLOW) + 2
)


@pytest.fixture(scope="module")
def connections(pg_url: str, mlflow_tracking_uri: str) -> Iterator[ConnectionSampler]:
    names = [sa.make_url(u).database or "" for u in (pg_url, mlflow_tracking_uri)]
    with ConnectionSampler(ADMIN_URL, names) as sampler:
        yield sampler


@pytest.fixture(scope="module")
def loop(
    slack: str,
    pg_url: str,
    mlflow_tracking_uri: str,
    tmp_path_factory: pytest.TempPathFactory,
    connections: ConnectionSampler,
) -> Iterator[tuple[LoopReport, dict[str, Any], DagsterInstance]]:
    tag = uuid.uuid4().hex[:6]
    root = tmp_path_factory.mktemp("loop")
    config = {
        "data_source": {
            "sim_customers": 4_000,
            "sim_seed": 3,
            "sim_feature_drift_week": DRIFT.isoformat(),
            "sim_label_delay_weeks": 1,
        },
        "monitoring": {"label_lag_weeks": LAG},
    }
    with pytest.MonkeyPatch.context() as env:
        # the code location reads its resources from the environment, like a deployment
        env.setenv("DATABASE_URL", pg_url)
        env.setenv("CHURN_DB_SCHEMA", f"loop_{tag}")
        env.setenv("CHURN_MODEL_NAME", f"loop_{tag}")
        env.setenv("CHURN_ARTIFACT_ROOT", str(root / "artifacts"))
        env.setenv("SLACK_WEBHOOK_URL", slack)
        env.setenv(RESOURCE_CONFIG_ENV, json.dumps(config))
        resources = configured_resources(as_env_vars=False)
        home = root / "dagster_home"
        home.mkdir()
        with loop_instance(home) as instance, instance_runs(instance) as runs:
            report = run_weekly_loop(
                runs,
                resources,
                first_week=FIRST,
                weeks=WEEKS,
                label_window_weeks=26,
                approver="e2e-test",
            )
            yield report, resources, instance, runs


def test_the_instance_holds_one_scoring_run_per_week_and_the_sensor_launched_retrain(loop) -> None:  # type: ignore[no-untyped-def]
    report, _, instance, _ = loop
    all_runs = instance.get_runs()
    assert {r.job_name for r in all_runs} == {"weekly_scoring_job", "training_job"}
    assert all(r.status == DagsterRunStatus.SUCCESS for r in all_runs)
    scoring = instance.get_runs(filters=RunsFilter(job_name="weekly_scoring_job"))
    assert sorted(r.tags["dagster/partition"] for r in scoring) == [w.isoformat() for w in WEEKS]
    training = instance.get_runs(filters=RunsFilter(job_name="training_job"))
    by_sensor = [r for r in training if r.tags.get("dagster/sensor_name") == "retraining_sensor"]
    assert len(training) == 2 and len(by_sensor) == 1
    assert by_sensor[0].tags["dagster/run_key"] == report.retrains[0].run_key
    assert by_sensor[0].run_id == report.retrains[0].run_id


def test_the_sensor_tick_history_records_every_decision(loop) -> None:  # type: ignore[no-untyped-def]
    report, _, instance, _ = loop
    [state] = [s for s in instance.all_instigator_state() if s.name == "retraining_sensor"]
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
    assert len(ticks) == len(WEEKS)
    requested = [t for t in ticks if t.status == TickStatus.SUCCESS]
    assert [t.run_keys for t in requested] == [[report.retrains[0].run_key]]
    skipped = [t for t in ticks if t.status == TickStatus.SKIPPED]
    assert len(skipped) == len(WEEKS) - 1
    assert all(t.skip_reason for t in skipped)
    assert [w.sensor for w in report.weeks].count(f"requested {report.retrains[0].run_key}") == 1


def test_drift_triggers_exactly_one_retrain_and_new_version_takes_over(loop) -> None:  # type: ignore[no-untyped-def]
    report, _, _, _ = loop
    before = [w for w in report.weeks if w.week < DRIFT]
    assert before and all(not w.feature_breaches for w in before)
    assert any(w.feature_breaches for w in report.weeks if w.week == DRIFT)
    assert len(report.retrains) == 1
    retrain = report.retrains[0]
    assert retrain.run_key == f"retrain:feature_drift:{DRIFT.isoformat()}:1"
    assert retrain.challenger and retrain.promoted
    after = [w for w in report.weeks if w.week > retrain.week]
    assert after and all(w.model_version == retrain.version for w in after)
    assert all(
        w.model_version == report.initial_version for w in report.weeks if w.week <= retrain.week
    )


def test_delayed_c_index_is_stored_and_logged_to_the_right_run_and_step(loop) -> None:  # type: ignore[no-untyped-def]
    report, resources, _, _ = loop
    evals = resources["warehouse"].evaluations().read(resources["mlflow_resource"].model_name)
    v1 = evals[evals["model_version"] == report.initial_version]
    # cohorts scored by v1 whose labels arrived within the simulated window
    expected = [
        w for w in WEEKS if w + timedelta(weeks=LAG) <= WEEKS[-1] and w <= report.retrains[0].week
    ]
    assert sorted(v1["scoring_week"]) == expected
    assert ((v1["c_index"] > 0.6) & (v1["c_index"] <= 1.0)).all()
    assert (v1["label_lag_weeks"] == LAG).all()
    run_id = v1["mlflow_run_id"].iloc[0]
    history = MlflowClient().get_metric_history(run_id, "delayed.c_index")
    start = week_of(START_WEEK)
    by_step = {m.step: m.value for m in history}
    for row in v1.itertuples(index=False):
        assert by_step[week_index(row.scoring_week, start)] == pytest.approx(row.c_index)


def test_alias_history_records_every_move_with_the_approver(loop) -> None:  # type: ignore[no-untyped-def]
    report, resources, _, _ = loop
    history = resources["warehouse"].alias_history().read(resources["mlflow_resource"].model_name)
    moves = list(zip(history["alias"], history["version"], history["changed_by"], strict=True))
    v1, v2 = report.initial_version, report.retrains[0].version
    assert [(a, v) for a, v, _ in moves] == [
        ("challenger", v1),
        ("production", v1),
        ("challenger", v2),
        ("production", v2),
    ]
    assert [by for a, _, by in moves if a == "production"] == ["e2e-test", "e2e-test"]


def test_drift_results_and_reports_exist_for_every_week(loop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, resources, _, _ = loop
    drift = resources["warehouse"].drift().read()
    assert set(drift["week"]) == set(WEEKS)
    assert set(drift["kind"]) == {"feature", "score"}
    store = resources["artifacts"].store()
    for week in WEEKS:
        html = store.get_bytes(f"reports/drift/{week}/evidently.html")
        assert b"<html" in html[:2000].lower()
        # One verdict: the page's headline is the gate's breach count stored for that week.
        gate = drift[(drift["kind"] == "feature") & (drift["week"] == week)]
        headline = f"Platform drift verdict: {int(gate['breached'].sum())} of {len(gate)} columns"
        assert headline.encode() in html
        # ... and Evidently's own dataset verdict is the same one.
        assert (b"Dataset Drift is detected" in html) == bool(gate["breached"].any())


def test_checks_are_read_from_each_run_and_nothing_is_calibrated_beyond_follow_up(loop) -> None:  # type: ignore[no-untyped-def]
    # Labels arrive 1 week late and are evaluated LAG=3 weeks on: 14 days of follow-up, so the
    # 30-day horizon never matures: no calibration row, an empty calibration record per week.
    report, resources, _, runs = loop
    drift = resources["warehouse"].drift().read()
    for record in report.weeks:
        checks = runs.check_results(record.run_id)
        breached = drift[(drift["kind"] == "feature") & (drift["week"] == record.week)]
        assert checks["no_feature_drift_breach"]["passed"] == (not breached["breached"].any())
        assert checks["calibration_ici_below_threshold"]["passed"] is True
        assert "skipped" in checks["calibration_ici_below_threshold"]
        assert record.calibration == {}
    with resources["warehouse"].database().engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"SELECT count(*) FROM {resources['warehouse'].db_schema}.calibration_results")
        ).scalar_one()
    assert rows == 0


def test_each_challenger_was_announced_on_slack_with_its_metrics(loop) -> None:  # type: ignore[no-untyped-def]
    report, _, _, _ = loop
    texts = [json.dumps(m) for m in _SlackStub.received]
    for version in (report.initial_version, report.retrains[0].version):
        announced = [t for t in texts if f"v{version} is the new challenger" in t]
        assert len(announced) == 1
        assert "holdout C-index" in announced[0] and "churn-platform promote" in announced[0]
    second = next(t for t in texts if f"v{report.retrains[0].version} is the new challenger" in t)
    assert "production C-index" in second


def test_connections_stay_within_the_pool_bounds_for_the_whole_loop(  # type: ignore[no-untyped-def]
    loop, connections: ConnectionSampler
) -> None:
    """Eight weeks of scoring, monitoring, a retrain and two approvals never hold more than one
    bounded pool per database (before pooling was shared, every store opened its own)."""
    assert connections.samples > 20
    assert connections.peak >= 1, "the sampler saw none of the loop's connections"
    assert connections.peak <= CONNECTION_BOUND, connections.peak_by_database
