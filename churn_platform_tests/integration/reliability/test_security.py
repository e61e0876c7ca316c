"""Security: secrets never reach logs, Dagster event metadata, MLflow params/tags or alerts;
credentials come from the environment only; SQL is built from bound parameters and quoted
identifiers, so hostile table/column/schema names from config are data, not SQL."""

from __future__ import annotations

import ast
import http.server
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, EnvVar, materialize
from dagster._serdes import serialize_value
from mlflow.tracking import MlflowClient

import churn_platform
from churn_platform.defs.definitions import build_resources
from churn_platform.defs.resources import (
    MlflowResource,
    NotifierResource,
    WarehouseResource,
)
from churn_platform.domain.mapping import parse_data_config
from churn_platform.errors import DataSourceConfigError
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.sources import load_data_config, read_source
from churn_platform_tests.support.dagster import ALL_ASSETS, WEEK, make_resources, query, train

DB_SECRET = "dbpw-7f3a-SECRET"
HOOK_SECRET = "hook-91ac-SECRET"


def _with_password(url: str, password: str) -> str:
    return sa.engine.make_url(url).set(password=password).render_as_string(hide_password=False)


class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []  # noqa: RUF012 - shared by the handler instances of one test

    def do_POST(self) -> None:
        _Hook.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:  # keep the URL (with its token) off stderr
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    """A local Slack-like webhook whose URL path carries the secret token."""
    _Hook.bodies.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/{HOOK_SECRET}"
    server.shutdown()
    server.server_close()


def test_no_secret_in_logs_event_metadata_mlflow_or_alerts(
    pg_url: str,
    mlflow_tracking_uri: str,
    tmp_path: Path,
    webhook: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    tag = uuid.uuid4().hex[:6]
    # trust authentication on the test server accepts any password: the secret travels for real
    monkeypatch.setenv("DATABASE_URL", _with_password(pg_url, DB_SECRET))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _with_password(mlflow_tracking_uri, DB_SECRET))
    monkeypatch.setenv("SLACK_WEBHOOK_URL", webhook)
    resources = make_resources(
        pg_url, mlflow_tracking_uri, tmp_path, schema=f"sec_{tag}", model_name=f"sec_{tag}"
    )
    resources["warehouse"] = WarehouseResource(
        database_url=EnvVar("DATABASE_URL"), db_schema=f"sec_{tag}"
    )
    resources["mlflow_resource"] = MlflowResource(
        tracking_uri=EnvVar("MLFLOW_TRACKING_URI"),
        model_name=f"sec_{tag}",
        artifact_location=str(tmp_path / "mlartifacts"),
    )
    resources["notifier"] = NotifierResource(webhook_url=EnvVar("SLACK_WEBHOOK_URL"))
    caplog.set_level("DEBUG")
    try:
        with DagsterInstance.ephemeral() as instance:
            version = train(resources, instance)  # challenger → Slack notification
            # outside a run EnvVar is not resolved: promote (as a person would) with the values
            registry = MlflowResource(
                tracking_uri=_with_password(mlflow_tracking_uri, DB_SECRET),
                model_name=f"sec_{tag}",
            ).registry(
                WarehouseResource(
                    database_url=_with_password(pg_url, DB_SECRET), db_schema=f"sec_{tag}"
                )
            )
            registry.promote(version, approver="security-test", reason="scan")
            scored = materialize(
                ALL_ASSETS,
                selection=["customer_features", "churn_scores"],
                partition_key=WEEK,
                resources=resources,
                instance=instance,
            )
            assert scored.success
            records = instance.get_run_records()
            assert len(records) == 2
            dagster_text = "\n".join(
                serialize_value(r.dagster_run)
                + "\n".join(serialize_value(e) for e in instance.all_logs(r.dagster_run.run_id))
                for r in records
            )
    finally:
        mlflow.set_tracking_uri(mlflow_tracking_uri)  # registry set the global URI

    # a failing connection: its error message must not carry the password either
    with pytest.raises(Exception) as failed:
        WarehouseResource(
            database_url=_with_password("postgresql+psycopg2://postgres@127.0.0.1:1/x", DB_SECRET)
        ).predictions()

    client = MlflowClient(tracking_uri=mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("churn_platform")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], f"tags.`churn.model_name` = 'sec_{tag}'")
    assert runs
    mlflow_text = "\n".join(repr(r.data.params) + repr(r.data.tags) for r in runs)
    for mv in client.search_model_versions(f"name = 'sec_{tag}'"):
        mlflow_text += repr(mv.tags) + str(mv.description) + str(mv.source)
    mlflow_text += repr(client.get_registered_model(f"sec_{tag}").tags)
    tables = "\n".join(
        str(r)
        for t in ("alias_history", "predictions")
        for r in query(pg_url, f'SELECT * FROM "sec_{tag}".{t} LIMIT 50')
    )
    out, err = capfd.readouterr()
    assert _Hook.bodies, "the challenger alert was not sent"
    scanned = {
        "python logs": caplog.text,
        "stdout/stderr": out + err,
        "dagster runs and event log (incl. metadata)": dagster_text,
        "mlflow params/tags/versions": mlflow_text,
        "database rows": tables,
        "slack messages": b"\n".join(_Hook.bodies).decode(),
        "connection error": "".join(
            str(e) for e in (failed.value, failed.value.__cause__, failed.value.__context__)
        ),
    }
    assert all(scanned.values())
    for where, text in scanned.items():
        for secret in (DB_SECRET, HOOK_SECRET):
            assert secret not in text, f"{secret} leaked into {where}"


def test_credentials_are_environment_references_never_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{DB_SECRET}@db/x")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"postgresql://u:{DB_SECRET}@db/m")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"https://hooks.slack.com/services/{HOOK_SECRET}")
    resources = build_resources()
    assert isinstance(resources["warehouse"].database_url, EnvVar)
    assert isinstance(resources["mlflow_resource"].tracking_uri, EnvVar)
    assert isinstance(resources["notifier"].webhook_url, EnvVar)
    shown = repr(resources)
    assert DB_SECRET not in shown and HOOK_SECRET not in shown
    # a data source config cannot carry a database URL, only the name of the variable holding it
    with pytest.raises(DataSourceConfigError, match="url"):
        parse_data_config(
            {
                "source": {"kind": "postgres", "table": "t", "url": "postgresql://u:p@h/db"},
                "columns": {"id": "a", "duration": "b", "event": "c"},
            },
            origin="inline.yaml",
        )


# --------------------------------------------------------------------------------------------
# Hostile names from configuration
# --------------------------------------------------------------------------------------------

# no "." inside: a source's ``table`` is ``[schema.]table``, split at the last dot
HOSTILE_SCHEMA = 'x"; DROP TABLE victim; --'
HOSTILE_TABLE = "cust'); DROP TABLE victim; --"
HOSTILE_WEEK = 'week" = week OR 1=1; --'
HOSTILE_ID = "id'); DELETE FROM public.victim; --"


@pytest.fixture
def victim(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS public.victim (v int)"))
        conn.execute(sa.text("DELETE FROM public.victim"))
        conn.execute(sa.text("INSERT INTO public.victim VALUES (1), (2)"))
    yield engine
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM public.victim")).scalar() == 2
        conn.execute(sa.text("DROP TABLE public.victim"))
        conn.execute(sa.schema.DropSchema(HOSTILE_SCHEMA, cascade=True, if_exists=True))
    engine.dispose()


def _yaml(path: Path, source: str) -> Path:
    path.write_text(
        f"source: {source}\n"
        f"columns: {{id: {_q(HOSTILE_ID)}, duration: tenure, event: churned, features: all}}\n"
    )
    return path


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_hostile_table_and_column_names_from_config_are_identifiers(
    victim: sa.Engine, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_URL", pg_url)
    table = sa.Table(
        HOSTILE_TABLE,
        sa.MetaData(),
        sa.Column(HOSTILE_ID, sa.Text),
        sa.Column(HOSTILE_WEEK, sa.Date),
        sa.Column("tenure", sa.Float),
        sa.Column("churned", sa.Integer),
        sa.Column("plan; DROP TABLE public.victim", sa.Text),
        schema=HOSTILE_SCHEMA,
    )
    with victim.begin() as conn:
        conn.execute(sa.schema.CreateSchema(HOSTILE_SCHEMA, if_not_exists=True))
        table.create(conn)
        conn.execute(
            table.insert(),
            [
                {
                    HOSTILE_ID: f"c{i}",
                    HOSTILE_WEEK: date(2025, 7, 14 if i < 3 else 21),
                    "tenure": 10.0 + i,
                    "churned": i % 2,
                    "plan; DROP TABLE public.victim": "a",
                }
                for i in range(5)
            ],
        )
    qualified = f"{HOSTILE_SCHEMA}.{HOSTILE_TABLE}"
    config = load_data_config(
        _yaml(
            tmp_path / "hostile.yaml",
            f"{{kind: postgres, table: {_q(qualified)}, url_env: SOURCE_URL, "
            f"week_column: {_q(HOSTILE_WEEK)}}}",
        )
    )
    week = read_source(config, date(2025, 7, 14))
    assert sorted(week[HOSTILE_ID]) == ["c0", "c1", "c2"]  # the WHERE bound the week: no 1=1
    assert "plan; DROP TABLE public.victim" in week.columns

    injected = load_data_config(
        _yaml(
            tmp_path / "injected.yaml",
            "{kind: postgres, table: 'victim; DROP TABLE public.victim', url_env: SOURCE_URL}",
        )
    )
    with pytest.raises(DataSourceConfigError, match="does not exist"):
        read_source(injected)


def test_hostile_schema_and_model_names_are_stored_as_data(victim: sa.Engine, pg_url: str) -> None:
    model = "m'); DELETE FROM public.victim; --"
    repo = PredictionsRepository(pg_url, HOSTILE_SCHEMA)
    rows = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "scoring_week": date(2025, 7, 14),
            "model_name": model,
            "risk_score": [1.0, 2.0],
            **{c: [0.1, 0.2] for c in repo.columns if c.startswith("churn_prob_")},
            "risk_rank": [2, 1],
            "risk_decile": [1, 10],
            "top_drivers": "[]",
            "model_version": 1,
            "model_run_id": "r",
            "model_alias": "production",
            "feature_snapshot_id": "s",
            "dagster_run_id": "d",
            "code_version": "c",
            "scored_at": pd.Timestamp("2025-07-14", tz="UTC"),
        }
    )[repo.columns]
    try:
        assert repo.replace_week(date(2025, 7, 14), model, rows) == 2
        assert repo.count_week(date(2025, 7, 14), model) == 2
        assert repo.read_week(date(2025, 7, 14), model)["model_name"].unique().tolist() == [model]
        assert repo.checksum_week(date(2025, 7, 14), model)
    finally:
        repo.dispose()


# Statements whose SQL text is built from a value, each reviewed: the value is an identifier
# quoted by the dialect's preparer and the statement takes no bind parameters.
REVIEWED_DYNAMIC_SQL = {
    ("io/embedded.py", "CREATE DATABASE"),  # identifier_preparer.quote(name)
    ("io/embedded.py", "DROP DATABASE"),  # identifier_preparer.quote(name)
    # identifiers only, each quoted by identifier_preparer.quote_identifier; values are binds
    ("io/partitions.py", "template.format(**quoted)"),
}
SQL_CALLS = {"text", "execute", "exec_driver_sql", "executemany", "literal_column"}


def _dynamic_sql_calls() -> list[tuple[str, int, str]]:
    root = Path(churn_platform.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            dynamic = (
                isinstance(arg, ast.JoinedStr)
                or (isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Add | ast.Mod))
                or (
                    isinstance(arg, ast.Call)
                    and isinstance(arg.func, ast.Attribute)
                    and arg.func.attr == "format"
                )
            )
            if name in SQL_CALLS and dynamic:
                found.append((str(path.relative_to(root)), node.lineno, ast.unparse(arg)))
    return found


def test_no_sql_text_is_built_from_values() -> None:
    """Every SQL statement with a dynamic part is reviewed above; anything new fails here."""
    unreviewed = [
        (path, line, src)
        for path, line, src in _dynamic_sql_calls()
        if not any(path == p and marker in src for p, marker in REVIEWED_DYNAMIC_SQL)
    ]
    assert not unreviewed, unreviewed


# --------------------------------------------------------------------------------------------
# Least privilege: the scoring role of docs/reliability.md can write predictions and nothing else
# --------------------------------------------------------------------------------------------

SCORING_ROLE_SQL = """
CREATE ROLE {role} LOGIN;
GRANT CONNECT ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT, DELETE ON {schema}.predictions TO {role};
"""


@pytest.fixture
def scoring_role(pg_url: str) -> Iterator[tuple[str, str]]:
    """A schema created by the owner and a role with exactly the documented grants."""
    from churn_platform.io.db import ensure_schema, make_engine

    tag = uuid.uuid4().hex[:6]
    schema, role = f"lp_{tag}", f"churn_scoring_{tag}"
    owner = make_engine(pg_url)
    ensure_schema(owner, schema)
    url = sa.engine.make_url(pg_url)
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in SCORING_ROLE_SQL.format(
            role=role, schema=schema, database=url.database
        ).split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
    yield schema, url.set(username=role).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP OWNED BY {role}"))
        conn.execute(sa.text(f"DROP ROLE {role}"))
    admin.dispose()
    owner.dispose()


def test_scoring_role_can_write_only_predictions(scoring_role: tuple[str, str]) -> None:
    schema, scorer_url = scoring_role
    repo = PredictionsRepository(scorer_url, schema)  # no DDL needed on an existing schema
    week = date(2025, 7, 14)
    rows = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "scoring_week": week,
            "model_name": "m",
            "risk_score": [1.0, 2.0],
            **{c: [0.1, 0.2] for c in repo.columns if c.startswith("churn_prob_")},
            "risk_rank": [2, 1],
            "risk_decile": [1, 10],
            "top_drivers": "[]",
            "model_version": 1,
            "model_run_id": "r",
            "model_alias": "production",
            "feature_snapshot_id": "s",
            "dagster_run_id": "d",
            "code_version": "c",
            "scored_at": pd.Timestamp("2025-07-14", tz="UTC"),
        }
    )[repo.columns]
    try:
        assert repo.replace_week(week, "m", rows, expected_rows=2) == 2
        assert repo.replace_week(week, "m", rows, expected_rows=2) == 2  # delete + copy again
        assert repo.count_week(week, "m") == 2
    finally:
        repo.dispose()
    engine = sa.create_engine(scorer_url)
    denied = [
        f"INSERT INTO {schema}.model_evaluations (scoring_week) VALUES ('2025-07-14')",
        f"DELETE FROM {schema}.drift_results",
        f"DELETE FROM {schema}.alias_history",
        f"UPDATE {schema}.predictions SET risk_score = 0",
        f"TRUNCATE {schema}.predictions",
        f"DROP TABLE {schema}.predictions",
        f"CREATE TABLE {schema}.sneaky (x int)",
    ]
    try:
        for sql in denied:
            with (
                engine.connect() as conn,
                pytest.raises(sa.exc.ProgrammingError, match=r"denied|must be owner"),
            ):
                conn.execute(sa.text(sql))
    finally:
        engine.dispose()
