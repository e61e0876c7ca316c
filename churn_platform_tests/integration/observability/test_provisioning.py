"""Grafana/Prometheus provisioning: files load and are consistent with compose, with each other,
with the metrics the exporter publishes, with the monitoring thresholds and with the tables."""

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from churn_platform.app.observability import build_metric_families
from churn_platform.defs.observability.assets import DEFAULT_PUSH_JOB
from churn_platform.defs.resources import MonitoringResource
from churn_platform_tests.support.observability import OUTPUT, render, snapshot

ROOT = Path(__file__).resolve().parents[3]


def _load_validator() -> ModuleType:
    path = ROOT / "deploy" / "grafana" / "validate_provisioning.py"
    spec = importlib.util.spec_from_file_location("validate_provisioning", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


validator = _load_validator()


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in validator.dashboard_files()}


def _rules() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((validator.PROVISIONING / "alerting" / "rules.yaml").read_text())
    return {r["uid"]: r for g in doc["groups"] for r in g["rules"]}


def _targets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{name}: {panel['title']}", target)
        for name, dash in _dashboards().items()
        for panel in validator.iter_panels(dash["panels"])
        for target in panel.get("targets", [])
    ]


def test_all_provisioning_files_validate() -> None:
    assert validator.validate_all() == []


def test_required_dashboards_and_alerts_exist() -> None:
    titles = " | ".join(
        p["title"].lower()
        for dash in _dashboards().values()
        for p in validator.iter_panels(dash["panels"])
    )
    for needle in (
        "c-index per model version",
        "drift effect per feature and week",
        "risk-score quantiles",
        "customers scored per week",
        "scoring durations",
        "alias history",
        "calibration ici per model version",
        "calibration by risk decile",
    ):
        assert needle in titles
    heatmaps = [
        p
        for dash in _dashboards().values()
        for p in validator.iter_panels(dash["panels"])
        if p["type"] == "heatmap"
    ]
    assert heatmaps
    assert set(_rules()) >= {
        "churn-c-index-low",
        "churn-feature-drift",
        "churn-scoring-job-failed",
        "churn-scoring-late",
    }


def test_validator_catches_a_wrong_datasource_uid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "dashboards"
    shutil.copytree(validator.DASHBOARDS, broken)
    path = broken / "churn-drift.json"
    path.write_text(path.read_text().replace('"churn-postgres"', '"postgres-typo"'))
    monkeypatch.setattr(validator, "DASHBOARDS", broken)
    errors = validator.check_dashboards()
    assert errors and all("postgres-typo" in e for e in errors)


def test_validator_catches_a_missing_condition_and_bad_duration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prov = tmp_path / "provisioning"
    shutil.copytree(validator.PROVISIONING, prov)
    rules = prov / "alerting" / "rules.yaml"
    rules.write_text(rules.read_text().replace("for: 168h", "for: one week", 1))
    text = rules.read_text().replace("condition: C", "condition: Z", 1)
    rules.write_text(text)
    monkeypatch.setattr(validator, "PROVISIONING", prov)
    errors = " ".join(validator.check_alerting())
    assert "'for' 'one week'" in errors and "condition 'Z'" in errors


def test_every_referenced_metric_is_published() -> None:
    published = {f.name for f in build_metric_families(snapshot())}
    texts = [t.get("expr", "") for _, t in _targets()]
    texts += [q["model"].get("expr", "") for r in _rules().values() for q in r["data"]]
    referenced = {m for text in texts for m in re.findall(r"\bchurn_[a-z_]+", text)}
    referenced -= {"churn_platform_monitoring"}  # the push job name, not a metric
    assert referenced, "no churn_* metric referenced?"
    assert referenced <= published, referenced - published
    stale = _rules()["churn-metrics-export-stale"]["data"][0]["model"]["expr"]
    assert f'job="{DEFAULT_PUSH_JOB}"' in stale


def test_alert_thresholds_match_the_monitoring_policy() -> None:
    policy = MonitoringResource()
    rules = _rules()

    def threshold(uid: str) -> float:
        cond = next(q for q in rules[uid]["data"] if q["datasourceUid"] == "__expr__")
        return float(cond["model"]["conditions"][0]["evaluator"]["params"][0])

    assert threshold("churn-c-index-low") == policy.c_index_threshold
    assert rules["churn-c-index-low"]["for"] == "168h"  # one week
    expr = " ".join(rules["churn-feature-drift"]["data"][0]["model"]["expr"].split())
    assert f'test="ks"}} < {policy.alpha}' in expr
    assert f'churn_drift_effect{{kind="feature",test="ks"}} >= {policy.min_ks}' in expr
    assert f'churn_drift_effect{{kind="feature",test="chi2"}} >= {policy.min_psi}' in expr


def _runnable(sql: str, model: str) -> str:
    sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN '2000-01-01' AND '2100-01-01'", sql)
    assert "$" not in sql.replace("'$model'", ""), sql
    return sql.replace("'$model'", f"'{model}'")


def test_dashboard_sql_runs_on_the_real_tables(pg_url: str, tables: dict[str, str]) -> None:
    """Every PostgreSQL panel and variable query, with Grafana's macros expanded, against the
    tables the platform writes (search_path = schema, as for the grafana_reader role)."""
    pg_targets = [(w, t) for w, t in _targets() if t["datasource"]["uid"] == "churn-postgres"]
    variables = [
        (f"{name}: ${v['name']}", {"rawSql": v["query"], "format": "table"})
        for name, dash in _dashboards().items()
        for v in dash["templating"]["list"]
        if v["type"] == "query"
    ]
    assert len(pg_targets) >= 8
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'SET search_path = "{tables["schema"]}"'))
            for where, target in pg_targets + variables:
                result = conn.execute(sa.text(_runnable(target["rawSql"], tables["model"])))
                rows = result.fetchall()
                assert rows, f"{where}: no rows on the simulated history"
                if target["format"] == "time_series":
                    assert next(iter(result.keys())) == "time", where
    finally:
        engine.dispose()


def test_compose_wiring_and_env_example() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("pushgateway", "prometheus", "grafana"):
        assert "healthcheck" in services[name]
        assert all(str(p).startswith("127.0.0.1:") for p in services[name].get("ports", []))
    env_example = (ROOT / ".env.example").read_text()
    for ref in re.findall(r"\$\{(\w+):\?", yaml.safe_dump(services["grafana"])):
        assert re.search(rf"^{ref}=", env_example, re.M), ref
    app_env = compose["x-app-env"]
    assert "pushgateway:9091" in app_env["PROMETHEUS_PUSHGATEWAY_URL"]


def test_docs_figure_is_checked_in_and_renders(tmp_path: Path) -> None:
    png = render()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    assert OUTPUT.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    docs = (ROOT / "docs" / "observability.md").read_text()
    assert f"img/{OUTPUT.name}" in docs
