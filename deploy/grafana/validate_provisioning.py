"""Offline validation of the observability stack files: Grafana provisioning (datasources,
dashboards, alert rules, contact points), the Prometheus config, and their wiring in
docker-compose.yml.

Run by scripts/validate_deploy.sh (``uv run python deploy/grafana/validate_provisioning.py``) and
imported by churn_platform_tests/observability. No Grafana, Prometheus or Docker needed; checks
are structural (what Grafana/Prometheus would reject at startup, or silently show as an empty
panel): every file loads, every datasource uid a dashboard or rule uses is provisioned, alert
conditions point at existing queries, durations parse, every compose bind mount exists, ports
stay on loopback, and every ``$VAR`` a provisioning file expands is given to the container.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARDS = GRAFANA / "dashboards"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
COMPOSE = ROOT / "docker-compose.yml"

EXPR_UID = "__expr__"
DATASOURCE_TYPES = {"prometheus", "grafana-postgresql-datasource", "postgres"}
NO_DATA_STATES = {"OK", "NoData", "Alerting", "KeepLast"}
EXEC_ERR_STATES = {"OK", "Error", "Alerting", "KeepLast"}
OBSERVABILITY_SERVICES = ("pushgateway", "prometheus", "grafana")
EXPRESSION_TYPES = {"threshold", "math", "reduce", "classic_conditions"}
_GO_DURATION = re.compile(r"^(0|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$")
_ENV_REF = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def datasource_uids() -> dict[str, str]:
    """Provisioned datasource uid -> type."""
    doc = load_yaml(PROVISIONING / "datasources" / "datasources.yaml")
    return {ds["uid"]: ds["type"] for ds in doc.get("datasources", [])}


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """All panels, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def _balanced(text: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack


def check_datasources() -> list[str]:
    errors: list[str] = []
    doc = load_yaml(PROVISIONING / "datasources" / "datasources.yaml")
    if doc.get("apiVersion") != 1:
        errors.append("datasources.yaml: apiVersion must be 1")
    seen: set[str] = set()
    for ds in doc.get("datasources", []):
        where = f"datasource {ds.get('name')!r}"
        for key in ("name", "uid", "type", "url", "access"):
            if not ds.get(key):
                errors.append(f"{where}: missing {key}")
        if ds.get("type") not in DATASOURCE_TYPES:
            errors.append(f"{where}: unexpected type {ds.get('type')!r}")
        if ds.get("uid") in seen:
            errors.append(f"{where}: duplicate uid {ds.get('uid')}")
        seen.add(ds.get("uid"))
        if "password" in ds or "password" in ds.get("jsonData", {}):
            errors.append(f"{where}: password must be in secureJsonData")
        for value in ds.get("secureJsonData", {}).values():
            if not _ENV_REF.fullmatch(str(value)):
                errors.append(f"{where}: secureJsonData must come from the environment ($VAR)")
    types = sorted(datasource_uids().values())
    if "prometheus" not in types or not {"grafana-postgresql-datasource", "postgres"} & set(types):
        errors.append("datasources.yaml: need one Prometheus and one PostgreSQL datasource")
    return errors


def _target_errors(where: str, target: dict[str, Any], uids: dict[str, str]) -> list[str]:
    errors: list[str] = []
    uid = (target.get("datasource") or {}).get("uid")
    if uid not in uids:
        return [f"{where}: target {target.get('refId')} uses unknown datasource uid {uid!r}"]
    if uids[uid] == "prometheus":
        expr = str(target.get("expr", "")).strip()
        if not expr:
            errors.append(f"{where}: Prometheus target without expr")
        elif not _balanced(expr):
            errors.append(f"{where}: unbalanced brackets in {expr!r}")
    else:
        sql = str(target.get("rawSql", "")).strip()
        if not sql or not target.get("rawQuery"):
            errors.append(f"{where}: PostgreSQL target needs rawQuery + rawSql")
        elif not sql.upper().startswith("SELECT") or not _balanced(sql):
            errors.append(f"{where}: SQL must be one balanced SELECT: {sql[:60]!r}")
        if target.get("format") not in ("time_series", "table"):
            errors.append(f"{where}: SQL target format must be time_series or table")
    return errors


def check_dashboards() -> list[str]:
    errors: list[str] = []
    uids = datasource_uids()
    seen_uids: set[str] = set()
    files = dashboard_files()
    if not files:
        errors.append(f"no dashboards in {DASHBOARDS}")
    for path in files:
        name = path.name
        try:
            dash = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            errors.append(f"{name}: invalid JSON ({exc})")
            continue
        for key in ("uid", "title", "panels", "schemaVersion"):
            if key not in dash:
                errors.append(f"{name}: missing {key}")
        if dash.get("id") is not None:
            errors.append(f"{name}: provisioned dashboards must not carry a database id")
        uid = dash.get("uid", "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
            errors.append(f"{name}: uid {uid!r} must be 1-40 characters [A-Za-z0-9_-]")
        if uid in seen_uids:
            errors.append(f"{name}: duplicate dashboard uid {uid}")
        seen_uids.add(uid)
        for var in dash.get("templating", {}).get("list", []):
            ds = (var.get("datasource") or {}).get("uid")
            if var.get("type") == "query" and ds not in uids:
                errors.append(f"{name}: variable {var.get('name')} uses unknown datasource {ds!r}")
        ids: set[int] = set()
        cells: set[tuple[int, int]] = set()
        for panel in iter_panels(dash.get("panels", [])):
            where = f"{name} panel {panel.get('title')!r}"
            pid = panel.get("id")
            if not isinstance(pid, int) or pid in ids:
                errors.append(f"{where}: missing or duplicate id {pid}")
            ids.add(pid if isinstance(pid, int) else -1)
            grid = panel.get("gridPos", {})
            if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
                errors.append(f"{where}: gridPos needs integer h, w, x, y")
            elif grid["x"] + grid["w"] > 24:
                errors.append(f"{where}: wider than the 24-column grid")
            else:
                for x in range(grid["x"], grid["x"] + grid["w"]):
                    for y in range(grid["y"], grid["y"] + grid["h"]):
                        if (x, y) in cells:
                            errors.append(f"{where}: overlaps another panel at {(x, y)}")
                            break
                        cells.add((x, y))
            if panel.get("type") == "row":
                continue
            ds = (panel.get("datasource") or {}).get("uid")
            if ds not in uids:
                errors.append(f"{where}: unknown datasource uid {ds!r}")
            targets = panel.get("targets") or []
            if not targets:
                errors.append(f"{where}: no queries")
            refs = [t.get("refId") for t in targets]
            if len(set(refs)) != len(refs):
                errors.append(f"{where}: duplicate refIds {refs}")
            for target in targets:
                errors += _target_errors(where, target, uids)
    return errors


def check_alerting() -> list[str]:
    errors: list[str] = []
    uids = datasource_uids()
    rules = load_yaml(PROVISIONING / "alerting" / "rules.yaml")
    contacts = load_yaml(PROVISIONING / "alerting" / "contact-points.yaml")
    for doc, name in ((rules, "rules.yaml"), (contacts, "contact-points.yaml")):
        if doc.get("apiVersion") != 1:
            errors.append(f"{name}: apiVersion must be 1")
    seen: set[str] = set()
    for group in rules.get("groups", []):
        gname = group.get("name")
        for key in ("orgId", "name", "folder", "interval"):
            if key not in group:
                errors.append(f"rule group {gname!r}: missing {key}")
        if not _GO_DURATION.match(str(group.get("interval", ""))):
            errors.append(f"rule group {gname!r}: bad interval {group.get('interval')!r}")
        for rule in group.get("rules", []):
            where = f"rule {rule.get('uid')!r}"
            for key in ("uid", "title", "condition", "data", "for"):
                if key not in rule:
                    errors.append(f"{where}: missing {key}")
            if rule.get("uid") in seen:
                errors.append(f"{where}: duplicate uid")
            seen.add(rule.get("uid"))
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", str(rule.get("uid"))):
                errors.append(f"{where}: uid must be 1-40 characters [A-Za-z0-9_-]")
            if not _GO_DURATION.match(str(rule.get("for", ""))):
                errors.append(f"{where}: 'for' {rule.get('for')!r} is not a Go duration")
            if rule.get("noDataState") not in NO_DATA_STATES:
                errors.append(f"{where}: noDataState must be one of {sorted(NO_DATA_STATES)}")
            if rule.get("execErrState") not in EXEC_ERR_STATES:
                errors.append(f"{where}: execErrState must be one of {sorted(EXEC_ERR_STATES)}")
            refs = {d.get("refId") for d in rule.get("data", [])}
            if rule.get("condition") not in refs:
                errors.append(f"{where}: condition {rule.get('condition')!r} not among {refs}")
            for query in rule.get("data", []):
                uid = query.get("datasourceUid")
                model = query.get("model", {})
                if uid == EXPR_UID:
                    if model.get("expression") not in refs:
                        errors.append(
                            f"{where}: expression refers to unknown {model.get('expression')!r}"
                        )
                    if model.get("type") not in EXPRESSION_TYPES:
                        errors.append(f"{where}: unknown expression type {model.get('type')!r}")
                elif uid not in uids:
                    errors.append(f"{where}: unknown datasource uid {uid!r}")
                else:
                    expr = str(model.get("expr", ""))
                    if not expr.strip() or not _balanced(expr):
                        errors.append(f"{where}: bad PromQL {expr!r}")
                    if "relativeTimeRange" not in query:
                        errors.append(
                            f"{where}: query {query.get('refId')} lacks relativeTimeRange"
                        )
    receivers = {cp.get("name") for cp in contacts.get("contactPoints", [])}
    for cp in contacts.get("contactPoints", []):
        for receiver in cp.get("receivers", []):
            if receiver.get("type") == "slack":
                url = str(receiver.get("settings", {}).get("url", ""))
                if not _ENV_REF.fullmatch(url):
                    errors.append("slack contact point: webhook URL must come from the environment")
    for policy in contacts.get("policies", []):
        if policy.get("receiver") not in receivers:
            errors.append(f"notification policy: unknown receiver {policy.get('receiver')!r}")
    return errors


def check_prometheus(compose: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    config = load_yaml(PROMETHEUS)
    services = compose.get("services", {})
    jobs = {sc.get("job_name"): sc for sc in config.get("scrape_configs", [])}
    if "pushgateway" not in jobs:
        return ["prometheus.yml: no scrape job for the pushgateway"]
    if jobs["pushgateway"].get("honor_labels") is not True:
        errors.append("prometheus.yml: the pushgateway job needs honor_labels: true")
    for name, sc in jobs.items():
        for static in sc.get("static_configs", []):
            for target in static.get("targets", []):
                host, _, port = str(target).partition(":")
                if not port.isdigit():
                    errors.append(f"prometheus.yml job {name}: target {target!r} needs host:port")
                elif host != "localhost" and host not in services:
                    errors.append(f"prometheus.yml job {name}: {host!r} is not a compose service")
    return errors


def _provisioning_env_refs() -> set[str]:
    refs: set[str] = set()
    for path in PROVISIONING.rglob("*.yaml"):
        refs |= set(_ENV_REF.findall(path.read_text()))
    return refs


def check_compose(compose: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    services = compose.get("services", {})
    declared = set((compose.get("volumes") or {}).keys())
    for name in OBSERVABILITY_SERVICES:
        svc = services.get(name)
        if svc is None:
            errors.append(f"docker-compose.yml: service {name} missing")
            continue
        if "healthcheck" not in svc:
            errors.append(f"service {name}: no healthcheck")
        if not str(svc.get("image", "")).partition(":")[2]:
            errors.append(f"service {name}: image must be pinned to a tag")
        for port in svc.get("ports", []):
            if not str(port).startswith("127.0.0.1:"):
                errors.append(f"service {name}: port {port} must be bound to 127.0.0.1")
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                if not (ROOT / source).exists():
                    errors.append(f"service {name}: bind mount {source} does not exist")
            elif source not in declared and name in OBSERVABILITY_SERVICES:
                errors.append(f"service {name}: named volume {source} not declared")
    grafana = services.get("grafana", {})
    mounts = dict(str(v).split(":")[:2][::-1] for v in grafana.get("volumes", []))
    if mounts.get("/etc/grafana/provisioning") != "./deploy/grafana/provisioning":
        errors.append(
            "grafana: deploy/grafana/provisioning must be mounted at /etc/grafana/provisioning"
        )
    provider = load_yaml(PROVISIONING / "dashboards" / "dashboards.yaml")["providers"][0]
    dash_path = provider["options"]["path"]
    if mounts.get(dash_path) != "./deploy/grafana/dashboards":
        errors.append(
            f"grafana: dashboards provider path {dash_path} is not deploy/grafana/dashboards"
        )
    env = grafana.get("environment", {})
    for ref in sorted(_provisioning_env_refs()):
        if ref not in env:
            errors.append(f"grafana: provisioning expands ${ref} but the container does not get it")
    home = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home and not home.startswith(dash_path + "/"):
        errors.append("grafana: home dashboard is not under the provisioned dashboards path")
    elif home and not (DASHBOARDS / Path(home).name).exists():
        errors.append(f"grafana: home dashboard {home} does not exist")
    prom = services.get("prometheus", {})
    prom_mounts = dict(str(v).split(":")[:2][::-1] for v in prom.get("volumes", []))
    if prom_mounts.get("/etc/prometheus/prometheus.yml") != "./deploy/prometheus/prometheus.yml":
        errors.append("prometheus: deploy/prometheus/prometheus.yml is not mounted as its config")
    return errors


def validate_all() -> list[str]:
    """Every problem found, as readable lines (empty = all good)."""
    compose = load_yaml(COMPOSE)
    return (
        check_datasources()
        + check_dashboards()
        + check_alerting()
        + check_prometheus(compose)
        + check_compose(compose)
    )


def main() -> int:
    errors = validate_all()
    for err in errors:
        print(f"ERROR {err}", file=sys.stderr)
    n_dash = len(dashboard_files())
    print(
        f"grafana/prometheus provisioning: {n_dash} dashboards;",
        "OK" if not errors else f"{len(errors)} error(s)",
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
