"""``churn-platform stack up|down``: the production-shaped stack on 127.0.0.1, without containers.

The same services as docker-compose.yml, as local processes:

* PostgreSQL: the machine's server (``CHURN_STACK_PG_ADMIN_URL``, default
  ``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``); the stack creates its own
  databases ``<prefix>_churn`` (application tables), ``<prefix>_mlflow`` (MLflow backend) and
  ``<prefix>_dagster`` (Dagster runs, events, schedules). It must listen on port 5432 because
  deploy/dagster/dagster.yaml, used verbatim, says so.
* an S3-compatible object store: moto's server (``moto[server]``, a development dependency:
  ``uv sync`` installs it; the stack is a developer tool, production uses S3);
* an MLflow tracking server with the PostgreSQL backend store, artifacts in S3 and served by the
  tracking server (``--serve-artifacts``: clients and the UI fetch artifacts over HTTP);
* a Dagster code server (gRPC) for the ``churn_platform`` location, ``dagster-webserver`` and
  ``dagster-daemon`` with ``DAGSTER_HOME`` holding a copy of deploy/dagster/dagster.yaml
  (PostgreSQL storage, ``QueuedRunCoordinator``; runs launched by the code server).

Processes run in their own sessions; their ids and URLs are written to
``<home>/stack.json`` so that ``stack down`` stops exactly them (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa

from churn_platform.errors import ChurnPlatformError
from churn_platform.io.embedded import database_url, drop_databases, ensure_database

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DAGSTER_YAML = REPO_ROOT / "deploy" / "dagster" / "dagster.yaml"
DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
ADMIN_URL_ENV = "CHURN_STACK_PG_ADMIN_URL"
BUCKET = "churn-artifacts"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "stack", "AWS_SECRET_ACCESS_KEY": "stack-secret"}


class StackError(ChurnPlatformError):
    """A stack service did not start, or the stack is in a state the command cannot handle."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class StackPorts:
    webserver: int = 3000
    mlflow: int = 5000
    s3: int = 9000
    code: int = 4000

    @classmethod
    def free(cls) -> StackPorts:
        return cls(webserver=free_port(), mlflow=free_port(), s3=free_port(), code=free_port())


@dataclass
class Stack:
    """A running stack: where it lives, its URLs and the process ids to stop."""

    home: str
    prefix: str
    ports: StackPorts
    admin_url: str
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def webserver_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.webserver}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.mlflow}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    def db_url(self, name: str) -> str:
        return database_url(self.admin_url, f"{self.prefix}_{name}")

    @property
    def dagster_home(self) -> Path:
        return Path(self.home) / "dagster_home"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment of every stack process (and of clients talking to the stack)."""
        pg = sa.make_url(self.admin_url)
        return {
            **os.environ,
            **S3_KEYS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_S3_ENDPOINT_URL": self.s3_url,
            "DAGSTER_HOME": str(self.dagster_home),
            "DAGSTER_PG_HOST": pg.host or "127.0.0.1",
            "DAGSTER_PG_USER": pg.username or "postgres",
            "DAGSTER_PG_PASSWORD": pg.password or "",
            "DAGSTER_PG_DB": f"{self.prefix}_dagster",
            "DAGSTER_CODE_HOST": "127.0.0.1",
            "DATABASE_URL": self.db_url("churn"),
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            # the registry too: an inherited MLFLOW_REGISTRY_URI would send model loads to
            # another store while tracking goes to the stack's server
            "MLFLOW_REGISTRY_URI": self.mlflow_url,
            "CHURN_ARTIFACT_ROOT": f"s3://{BUCKET}/platform",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }

    def save(self) -> None:
        (Path(self.home) / "stack.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, home: Path) -> Stack:
        path = home / "stack.json"
        if not path.exists():
            raise StackError(f"no stack under {home} ({path} missing): run `stack up` first")
        raw = json.loads(path.read_text())
        raw["ports"] = StackPorts(**raw["ports"])
        return cls(**raw)


def _bin(name: str) -> str:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def _wait_http(url: str, name: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{name} exited with status {proc.returncode} (see its log)")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise StackError(f"{name} did not answer on {url} within {timeout:.0f}s (see its log)")


def _wait_port(port: int, name: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{name} exited with status {proc.returncode} (see its log)")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise StackError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def _spawn(
    stack: Stack, name: str, cmd: list[str], env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    logs = Path(stack.home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        cmd,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: `down` stops it and its children
        cwd=stack.home,
    )
    stack.pids[name] = proc.pid
    stack.save()
    return proc


def _write_workspace(stack: Stack) -> Path:
    """deploy/dagster/workspace.yaml with the code server's port of this stack."""
    path = Path(stack.home) / "workspace.yaml"
    path.write_text(
        "# written by `churn-platform stack up`: deploy/dagster/workspace.yaml on this port\n"
        "load_from:\n"
        "  - grpc_server:\n"
        "      host: 127.0.0.1\n"
        f"      port: {stack.ports.code}\n"
        "      location_name: churn_platform\n"
    )
    return path


def stack_up(
    home: Path,
    *,
    ports: StackPorts | None = None,
    prefix: str = "churn_stack",
    admin_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    code_target: tuple[str, str] = ("churn_platform.defs.definitions", "defs"),
    timeout: float = 240.0,
) -> Stack:
    """Start every service; returns when each answers. On failure, stops what it started."""
    admin = admin_url or os.environ.get(ADMIN_URL_ENV) or DEFAULT_ADMIN_URL
    if sa.make_url(admin).port not in (None, 5432):
        raise StackError(
            f"{ADMIN_URL_ENV} must point at port 5432: deploy/dagster/dagster.yaml fixes it"
        )
    home = home.resolve()
    if (home / "stack.json").exists():
        raise StackError(f"a stack is already recorded in {home}: run `stack down` first")
    home.mkdir(parents=True, exist_ok=True)
    stack = Stack(home=str(home), prefix=prefix, ports=ports or StackPorts(), admin_url=admin)
    stack.dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY_DAGSTER_YAML, stack.dagster_home / "dagster.yaml")
    workspace = _write_workspace(stack)
    stack.save()
    try:
        for name in ("churn", "mlflow", "dagster"):
            ensure_database(admin, f"{prefix}_{name}")
        env = stack.env(extra_env)
        s3 = _spawn(
            stack,
            "s3",
            [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(stack.ports.s3)],
            env,
        )
        _wait_http(stack.s3_url, "S3 (moto server)", timeout, s3)
        _create_bucket(stack)
        mlflow = _spawn(
            stack,
            "mlflow",
            [
                _bin("mlflow"),
                "server",
                "--host=127.0.0.1",
                f"--port={stack.ports.mlflow}",
                "--workers=1",
                f"--backend-store-uri={stack.db_url('mlflow')}",
                f"--artifacts-destination=s3://{BUCKET}/mlflow",
                "--serve-artifacts",
            ],
            env,
        )
        code = _spawn(
            stack,
            "code",
            [
                _bin("dagster"),
                "code-server",
                "start",
                "-m",
                code_target[0],
                "-a",
                code_target[1],
                "-h",
                "127.0.0.1",
                "-p",
                str(stack.ports.code),
                "--location-name",
                "churn_platform",
            ],
            env,
        )
        _wait_http(f"{stack.mlflow_url}/health", "MLflow tracking server", timeout, mlflow)
        _wait_port(stack.ports.code, "Dagster code server", timeout, code)
        web = _spawn(
            stack,
            "webserver",
            [
                _bin("dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(stack.ports.webserver),
                "-w",
                str(workspace),
            ],
            env,
        )
        _spawn(stack, "daemon", [_bin("dagster-daemon"), "run", "-w", str(workspace)], env)
        _wait_http(f"{stack.webserver_url}/server_info", "dagster-webserver", timeout, web)
    except BaseException:
        stack_down(home)
        raise
    return stack


def _create_bucket(stack: Stack) -> None:
    import boto3

    from churn_platform.io.artifacts import s3_client_config

    client = boto3.client(
        "s3",
        endpoint_url=stack.s3_url,
        config=s3_client_config(path_style=True),
        region_name="us-east-1",
        aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=BUCKET)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - not ours
        return True
    return True


def stack_down(home: Path, *, purge: bool = False, grace: float = 10.0) -> list[str]:
    """Stop the stack's processes (each process group: SIGTERM, then SIGKILL after ``grace``).

    ``purge`` also drops the stack's databases and removes ``home``. Returns the names stopped.
    """
    home = home.resolve()
    stack = Stack.load(home)
    order = ["daemon", "webserver", "code", "mlflow", "s3"]
    names = [n for n in order if n in stack.pids] + [n for n in stack.pids if n not in order]
    for name in names:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stack.pids[name], signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(stack.pids[n]) for n in names):
        time.sleep(0.2)
    for name in names:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stack.pids[name], signal.SIGKILL)
    for name in names:  # reap our own children (no zombies when the caller started them)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(stack.pids[name], 0)
    if purge:
        drop_databases(
            stack.admin_url, tuple(f"{stack.prefix}_{db}" for db in ("churn", "mlflow", "dagster"))
        )
        shutil.rmtree(home, ignore_errors=True)
    else:
        (home / "stack.json").unlink(missing_ok=True)
    return names
