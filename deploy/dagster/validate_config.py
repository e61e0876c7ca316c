"""Offline validation of deploy/dagster/{dagster.yaml,workspace.yaml} against Dagster's own schemas.

Run by scripts/validate_deploy.sh with the project's environment (``uv run``). Checks the
instance file the way ``DagsterInstance`` would load it, plus the nested class configs (run
coordinator, run launcher, postgres storage) that are only validated when a class is built,
without connecting to any database.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.workspace.config_schema import WORKSPACE_CONFIG_SCHEMA

HERE = Path(__file__).resolve().parent
PG_ENV = ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")


def _check_class(section: str, spec: dict[str, Any]) -> list[str]:
    cls = getattr(importlib.import_module(spec["module"]), spec["class"])
    result = validate_config(cls.config_type(), spec.get("config") or {})
    return [] if result.success else [f"{section}: {e.message}" for e in result.errors]


def main() -> int:
    errors: list[str] = []
    for name in PG_ENV:  # placeholders: only the schema is checked, nothing connects
        os.environ.setdefault(name, "placeholder")
    with tempfile.TemporaryDirectory() as home:
        shutil.copy(HERE / "dagster.yaml", Path(home) / "dagster.yaml")
        config, _ = dagster_instance_config(home)
    for section in ("run_coordinator", "run_launcher"):
        errors += _check_class(section, config[section])
    from dagster_postgres import DagsterPostgresStorage

    pg = validate_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    errors += [f"storage.postgres: {e.message}" for e in pg.errors or []]

    workspace = yaml.safe_load((HERE / "workspace.yaml").read_text())
    ws = validate_config(WORKSPACE_CONFIG_SCHEMA, workspace)
    errors += [f"workspace.yaml: {e.message}" for e in ws.errors or []]

    for err in errors:
        print(f"ERROR {err}", file=sys.stderr)
    print("dagster.yaml + workspace.yaml:", "OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
