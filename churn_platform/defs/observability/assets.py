"""``monitoring_metrics_export``: the monitoring tables as Prometheus metrics, pushed hourly.

Why a Pushgateway and not an exporter endpoint
----------------------------------------------
The numbers change once a week, when the scoring job and its monitors run, and Dagster runs are
short-lived processes (there is no long-running application process a Prometheus could scrape;
the code-location server only serves definitions). Prometheus' own guidance for batch work is a
Pushgateway: each export replaces the whole metric group (HTTP ``PUT`` on
``/metrics/job/<job>``), so a retired model version or a dropped feature disappears instead of
lingering, and the gateway's ``push_time_seconds`` tells Prometheus when the last export
happened (the "metrics export stale" alert). An hourly schedule keeps the gateway fresh after
restarts and turns a failed or late scoring run into an alert within the hour.

Configuration: ``PROMETHEUS_PUSHGATEWAY_URL`` (e.g. ``http://pushgateway:9091``; basic-auth
credentials may be embedded as ``http://user:pass@host:9091`` and are never displayed). Without
it the asset still reads the tables and reports what it *would* publish, so the embedded demo
works unchanged. The setting is read from the environment rather than a new resource key so that
every existing resource set (demo, tests) materializes the asset list unchanged.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Config,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    RunsFilter,
    ScheduleDefinition,
    asset,
    define_asset_job,
)
from prometheus_client.exposition import basic_auth_handler, default_handler, push_to_gateway
from prometheus_client.exposition import generate_latest as exposition_text
from prometheus_client.registry import CollectorRegistry

from churn_platform.app.observability import (
    ScoringJobStatus,
    build_metric_families,
    read_snapshot,
    registry_for,
    series_count,
)
from churn_platform.defs.resources import MlflowResource, MonitoringResource, WarehouseResource

PUSHGATEWAY_ENV = "PROMETHEUS_PUSHGATEWAY_URL"
DEFAULT_PUSH_JOB = "churn_platform_monitoring"
SCORING_JOB = "weekly_scoring_job"
SCORING_STEP = "churn_scores"
MONITORED_ASSETS = ("churn_scores", "delayed_evaluation", "feature_drift", "score_drift")

Handler = Callable[..., Callable[[], None]]


@dataclass(frozen=True)
class PushTarget:
    """Where to push: the gateway URL without credentials, plus optional basic-auth."""

    url: str
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, raw: str) -> "PushTarget":
        """Split ``http://user:pass@host:port/prefix`` into a display-safe URL and credentials."""
        text = raw.strip()
        if "://" not in text:
            text = f"http://{text}"
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{PUSHGATEWAY_ENV} must be an http(s) URL, got scheme {parts.scheme!r}"
            )
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(url=url, username=user, password=password)

    def handler(self) -> Handler:
        """A prometheus_client push handler, with basic auth when credentials were given."""
        if self.username is None:
            return default_handler

        def _auth(
            url: str, method: str, timeout: float | None, headers: list[Any], data: bytes
        ) -> Callable[[], None]:
            return basic_auth_handler(
                url, method, timeout, headers, data, self.username, self.password
            )

        return _auth


def push_metrics(
    registry: CollectorRegistry, target: PushTarget, job: str, timeout_seconds: float
) -> None:
    """Replace the gateway's metric group ``job`` with ``registry`` (HTTP PUT)."""
    push_to_gateway(
        target.url, job=job, registry=registry, timeout=timeout_seconds, handler=target.handler()
    )


def scoring_job_status(
    instance: DagsterInstance, job_name: str = SCORING_JOB, step_key: str = SCORING_STEP
) -> ScoringJobStatus | None:
    """What Dagster recorded about the weekly scoring job and the last scoring step."""
    finished = instance.get_run_records(
        filters=RunsFilter(
            job_name=job_name,
            statuses=[
                DagsterRunStatus.SUCCESS,
                DagsterRunStatus.FAILURE,
                DagsterRunStatus.CANCELED,
            ],
        ),
        limit=1,
    )
    succeeded = instance.get_run_records(
        filters=RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.SUCCESS]), limit=1
    )
    step_seconds: float | None = None
    mats = instance.fetch_materializations(AssetKey(step_key), limit=1).records
    if mats:
        stats = instance.get_run_step_stats(mats[0].run_id, step_keys=[step_key])
        if stats and stats[0].start_time is not None and stats[0].end_time is not None:
            step_seconds = float(stats[0].end_time - stats[0].start_time)
    if not finished and step_seconds is None:
        return None
    last = finished[0] if finished else None
    ok = succeeded[0] if succeeded else None
    duration = None
    if ok is not None and ok.start_time is not None and ok.end_time is not None:
        duration = float(ok.end_time - ok.start_time)
    return ScoringJobStatus(
        last_status=last.dagster_run.status.value if last is not None else None,
        last_finished_at=last.end_time if last is not None else None,
        last_success_at=ok.end_time if ok is not None else None,
        last_success_seconds=duration,
        scoring_step_seconds=step_seconds,
    )


class MetricsExportConfig(Config):
    """Where and how to push. Leave ``pushgateway_url`` empty to use $PROMETHEUS_PUSHGATEWAY_URL
    (put credentials only there: run configuration is visible in the UI)."""

    pushgateway_url: str | None = None
    push_job: str = DEFAULT_PUSH_JOB
    timeout_seconds: float = 10.0


@asset(
    deps=[AssetKey(k) for k in MONITORED_ASSETS],
    group_name="monitoring",
    code_version="1",
    kinds={"prometheus"},
    retry_policy=RetryPolicy(max_retries=2, delay=10),
)
def monitoring_metrics_export(
    context: AssetExecutionContext,
    config: MetricsExportConfig,
    warehouse: WarehouseResource,
    mlflow_resource: MlflowResource,
    monitoring: MonitoringResource,
) -> MaterializeResult:
    """The latest model quality (delayed C-index per version), drift per feature, score
    distribution, scoring volume/duration/failures and the production version, published to
    Prometheus for Grafana dashboards and alerts. Only current values are published; the
    week-by-week history stays in PostgreSQL."""
    thresholds = {
        "c_index": monitoring.c_index_threshold,
        "alpha": monitoring.alpha,
        "min_ks": monitoring.min_ks,
        "min_psi": monitoring.min_psi,
    }
    snapshot = read_snapshot(
        evaluations=warehouse.evaluations(),
        drift=warehouse.drift(),
        aliases=warehouse.alias_history(),
        predictions=warehouse.predictions(),
        model_names=[mlflow_resource.model_name],
        thresholds=thresholds,
        job=scoring_job_status(context.instance),
    )
    families = build_metric_families(snapshot)
    registry = registry_for(families)
    n_series = series_count(families)
    raw = config.pushgateway_url or os.environ.get(PUSHGATEWAY_ENV, "")
    metadata: dict[str, Any] = {
        "series": n_series,
        "metric_families": len(families),
        "push_job": config.push_job,
        "exposition": MetadataValue.md(_preview(exposition_text(registry).decode())),
    }
    if not raw.strip():
        context.log.info(
            "%s not set: %d series computed, nothing pushed", PUSHGATEWAY_ENV, n_series
        )
        return MaterializeResult(
            metadata={**metadata, "pushgateway": "not configured", "pushed": False}
        )
    target = PushTarget.parse(raw)
    try:
        push_metrics(registry, target, config.push_job, config.timeout_seconds)
    except OSError as exc:  # URLError/HTTPError/timeouts: retried by the retry policy
        raise Failure(
            description=f"Could not push {n_series} series to the Pushgateway at {target.url}: "
            f"{exc}. Is the pushgateway service up and {PUSHGATEWAY_ENV} right?"
        ) from exc
    context.log.info("pushed %d series to %s (job %s)", n_series, target.url, config.push_job)
    return MaterializeResult(metadata={**metadata, "pushgateway": target.url, "pushed": True})


def _preview(text: str, limit: int = 6000) -> str:
    body = text if len(text) <= limit else text[:limit] + "\n# ... truncated"
    return f"```\n{body}\n```"


monitoring_metrics_export_job = define_asset_job(
    "monitoring_metrics_export_job",
    selection=AssetSelection.assets(monitoring_metrics_export),
    description="Publish the monitoring tables to the Prometheus Pushgateway.",
    tags={"churn/job": "metrics_export"},
)

monitoring_metrics_export_schedule = ScheduleDefinition(
    name="monitoring_metrics_export_schedule",
    job=monitoring_metrics_export_job,
    cron_schedule="15 * * * *",
    execution_timezone="UTC",
    description="Hourly: push the current monitoring metrics to Prometheus (on by default when "
    f"{PUSHGATEWAY_ENV} is set).",
    default_status=(
        DefaultScheduleStatus.RUNNING
        if os.environ.get(PUSHGATEWAY_ENV)
        else DefaultScheduleStatus.STOPPED
    ),
)
