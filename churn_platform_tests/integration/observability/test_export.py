"""monitoring_metrics_export end to end: tables filled through the repositories on a real
PostgreSQL, real Dagster runs in an ephemeral instance, a real HTTP push to a Pushgateway stand-in
on loopback, and the pushed series scraped back over HTTP and compared with the tables."""

import base64
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from dagster import (
    AssetKey,
    Config,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    asset,
    define_asset_job,
    materialize,
)
from prometheus_client.parser import text_string_to_metric_families

from churn_platform.app.observability import registry_for
from churn_platform.defs.observability.assets import (
    DEFAULT_PUSH_JOB,
    PUSHGATEWAY_ENV,
    PushTarget,
    monitoring_metrics_export,
    push_metrics,
)
from churn_platform.defs.resources import MlflowResource, MonitoringResource, WarehouseResource
from churn_platform.entry.stack import free_port
from churn_platform_tests.support import history
from churn_platform_tests.support.dagster import query

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class _Pushgateway(BaseHTTPRequestHandler):
    """Enough of the Pushgateway HTTP API: PUT replaces a group, GET /metrics exposes all."""

    groups: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[list[tuple[str, str, str | None]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append(("PUT", self.path, self.headers.get("Authorization")))
        self.groups[self.path] = body
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        body = b"".join(self.groups.values())
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    _Pushgateway.groups.clear()
    _Pushgateway.requests.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pushgateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def pick(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def lbl(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


class _StubScoring(Config):
    fail: bool = False


@asset(name="churn_scores")
def _stub_churn_scores(config: _StubScoring) -> None:
    """Stands in for the real scoring step so the instance has real scoring-run records."""
    if config.fail:
        raise RuntimeError("simulated scoring failure")


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """An instance where weekly_scoring_job succeeded once, then failed."""
    job = define_asset_job("weekly_scoring_job", selection=[_stub_churn_scores])
    defs = Definitions(assets=[_stub_churn_scores], jobs=[job])
    with DagsterInstance.ephemeral() as inst:
        resolved = defs.resolve_job_def("weekly_scoring_job")
        for fail in (False, True):
            resolved.execute_in_process(
                instance=inst,
                raise_on_error=False,
                run_config={"ops": {"churn_scores": {"config": {"fail": fail}}}},
            )
        yield inst


def resources(pg_url: str, tables: dict[str, str]) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(database_url=pg_url, db_schema=tables["schema"]),
        # only the model name is used: nothing connects to this tracking URI
        "mlflow_resource": MlflowResource(
            tracking_uri="http://127.0.0.1:9", model_name=tables["model"]
        ),
        "monitoring": MonitoringResource(),
    }


def export(pg_url: str, tables: dict[str, str], instance: DagsterInstance, url: str | None) -> Any:
    config = {"pushgateway_url": url} if url else {}
    result = materialize(
        [monitoring_metrics_export],
        resources=resources(pg_url, tables),
        instance=instance,
        run_config={"ops": {"monitoring_metrics_export": {"config": config}}},
    )
    assert result.success
    return result.asset_materializations_for_node("monitoring_metrics_export")[0].metadata


def test_pushes_the_tables_latest_values(
    pg_url: str, tables: dict[str, str], instance: DagsterInstance, gateway: str
) -> None:
    meta = export(pg_url, tables, instance, gateway)
    assert _Pushgateway.requests == [("PUT", f"/metrics/job/{DEFAULT_PUSH_JOB}", None)]
    samples = scrape(gateway)
    assert meta["series"].value == len(samples)
    assert meta["pushgateway"].value == gateway
    assert meta["pushed"].value is True

    schema, name = tables["schema"], tables["model"]
    m = {"model_name": name}
    # C-index: each version's most recent evaluated week, as stored
    rows = query(
        pg_url,
        f"SELECT DISTINCT ON (model_version) model_version, c_index FROM {schema}.model_evaluations"
        " WHERE model_name = :m ORDER BY model_version, scoring_week DESC",
        m=name,
    )
    assert pick(samples, "churn_model_c_index") == {
        lbl(**m, model_version=str(v)): c for v, c in rows
    }
    # drift: the latest monitored week of each kind, per feature
    rows = query(
        pg_url,
        f"SELECT kind, column_name, test, p_value, effect, breached, model_version "
        f"FROM {schema}.drift_results d WHERE model_name = :m AND week = "
        f"(SELECT max(week) FROM {schema}.drift_results WHERE kind = d.kind)",
        m=name,
    )
    assert len(rows) == len(history.FEATURES) + 1
    p_values, effects, breached = (
        pick(samples, f"churn_drift_{k}") for k in ("p_value", "effect", "breached")
    )
    assert len(p_values) == len(rows)
    for kind, feature, test, p, effect, flag, version in rows:
        key = lbl(**m, model_version=str(version), kind=kind, feature=feature, test=test)
        assert p_values[key] == p and effects[key] == effect and breached[key] == float(flag)
    # volume, timing and score distribution of the latest scored week
    ((week, n, scored_at, median),) = query(
        pg_url,
        f"SELECT scoring_week, count(*), extract(epoch FROM max(scored_at)), "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY risk_score) FROM {schema}.predictions "
        f"WHERE scoring_week = (SELECT max(scoring_week) FROM {schema}.predictions) "
        f"GROUP BY scoring_week",
    )
    assert week == history.WEEKS[-1]
    assert pick(samples, "churn_scoring_rows") == {lbl(**m, model_version="2"): n}
    assert pick(samples, "churn_scoring_last_scored_timestamp_seconds") == {
        lbl(**m): float(scored_at)
    }
    q50 = pick(samples, "churn_score_quantile")[lbl(**m, model_version="2", quantile="0.5")]
    assert q50 == pytest.approx(median, rel=1e-12)
    # registry
    assert pick(samples, "churn_model_production_version") == {lbl(**m): 2.0}
    # orchestration: the last scoring run failed; duration of the earlier successful one
    ok = instance.get_run_records(
        RunsFilter(job_name="weekly_scoring_job", statuses=[DagsterRunStatus.SUCCESS])
    )[0]
    assert pick(samples, "churn_scoring_job_last_run_failed") == {frozenset(): 1.0}
    assert pick(samples, "churn_scoring_job_last_success_timestamp_seconds") == {
        frozenset(): ok.end_time
    }
    assert pick(samples, "churn_scoring_job_duration_seconds") == {
        frozenset(): pytest.approx(ok.end_time - ok.start_time)
    }
    step = instance.get_run_step_stats(ok.dagster_run.run_id, step_keys=["churn_scores"])[0]
    assert pick(samples, "churn_scoring_step_duration_seconds") == {
        frozenset(): pytest.approx(step.end_time - step.start_time)
    }
    # nothing about individual customers
    assert all("customer" not in k for (_, labels) in samples for k, _ in labels)


def test_second_export_replaces_the_group(
    pg_url: str, tables: dict[str, str], instance: DagsterInstance, gateway: str
) -> None:
    export(pg_url, tables, instance, gateway)
    first = scrape(gateway)
    export(pg_url, tables, instance, gateway)
    second = scrape(gateway)
    assert [r[0] for r in _Pushgateway.requests] == ["PUT", "PUT"]
    assert len(_Pushgateway.groups) == 1
    volatile = {"churn_metrics_export_timestamp_seconds"}
    assert {k: v for k, v in first.items() if k[0] not in volatile} == {
        k: v for k, v in second.items() if k[0] not in volatile
    }


def test_gateway_from_env_with_basic_auth_never_shows_the_password(
    pg_url: str,
    tables: dict[str, str],
    instance: DagsterInstance,
    gateway: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = gateway.removeprefix("http://")
    monkeypatch.setenv(PUSHGATEWAY_ENV, f"http://pusher:s3cr%40t@{host}")
    meta = export(pg_url, tables, instance, None)
    ((method, path, auth),) = _Pushgateway.requests
    assert (method, path) == ("PUT", f"/metrics/job/{DEFAULT_PUSH_JOB}")
    assert auth == "Basic " + base64.b64encode(b"pusher:s3cr@t").decode()
    assert meta["pushgateway"].value == gateway
    assert not any("s3cr" in str(v.value) for v in meta.values())
    assert scrape(gateway)


def test_without_gateway_reports_what_it_would_push(
    pg_url: str,
    tables: dict[str, str],
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PUSHGATEWAY_ENV, raising=False)
    meta = export(pg_url, tables, instance, None)
    assert meta["pushed"].value is False
    assert meta["pushgateway"].value == "not configured"
    assert meta["series"].value > 20
    assert "churn_model_c_index" in meta["exposition"].value


def test_unreachable_gateway_raises_oserror() -> None:
    port = free_port()  # nobody listens on it
    with pytest.raises(OSError):
        push_metrics(registry_for([]), PushTarget.parse(f"127.0.0.1:{port}"), "j", 5.0)


@pytest.mark.parametrize(
    ("raw", "url", "user", "password"),
    [
        ("pushgateway:9091", "http://pushgateway:9091", None, None),
        ("https://u:p%2Fw@gw.example:443/prefix/", "https://gw.example:443/prefix", "u", "p/w"),
        ("http://[::1]:9091", "http://[::1]:9091", None, None),
    ],
)
def test_push_target_parse(raw: str, url: str, user: str | None, password: str | None) -> None:
    target = PushTarget.parse(raw)
    assert (target.url, target.username, target.password) == (url, user, password)


def test_push_target_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="http"):
        PushTarget.parse("ftp://gw:21")


def test_asset_depends_on_the_monitoring_assets() -> None:
    deps = {
        d.asset_key
        for d in monitoring_metrics_export.specs_by_key[AssetKey("monitoring_metrics_export")].deps
    }
    assert deps == {
        AssetKey(k) for k in ("churn_scores", "delayed_evaluation", "feature_drift", "score_drift")
    }
    assert not monitoring_metrics_export.partitions_def
