"""The documented alternative Dagster instances (Docker and ECS run launchers) stay valid.

``dagster-docker`` is NOT installed, so its launcher class cannot validate its own config here;
``dagster-aws`` is (the ECS step executor needs it) and validates the ECS file with its own schema.
What is checked offline:
Dagster's instance schema accepts each file (the launcher as module/class/config), every
section other than ``run_launcher`` is identical to the active deploy/dagster/dagster.yaml,
the launcher config uses only keys those launchers document, and every environment variable
handed to run containers is one the compose stack defines.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy" / "dagster"
PG_ENV = ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")

# Config fields documented by dagster-docker's DockerRunLauncher and dagster-aws's
# EcsRunLauncher (docs.dagster.io API reference); a typo here would only fail at launch time.
DOCKER_KEYS = {"image", "registry", "env_vars", "network", "networks", "container_kwargs"}
ECS_KEYS = {
    "task_definition",
    "container_name",
    "secrets",
    "secrets_tag",
    "env_vars",
    "include_sidecars",
    "use_current_ecs_task_config",
    "run_task_kwargs",
    "run_resources",
    "server_resources",
    "run_ecs_tags",
    "propagate_tags",
    "task_role_arn",
    "execution_role_arn",
    "runtime_platform",
    "mount_points",
    "volumes",
    "repository_credentials",
    "region_name",
}
CASES = [
    ("dagster.docker-launcher.yaml", "dagster_docker", "DockerRunLauncher", DOCKER_KEYS),
    ("dagster.ecs.yaml", "dagster_aws.ecs", "EcsRunLauncher", ECS_KEYS),
]


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / name).read_text())
    assert isinstance(data, dict)
    return data


def _compose_env() -> set[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return set(compose["x-app-env"])


@pytest.mark.parametrize(("name", "module", "cls", "keys"), CASES)
def test_launcher_instance_file(name: str, module: str, cls: str, keys: set[str]) -> None:
    for var in PG_ENV:  # placeholders: only the schema is checked, nothing connects
        os.environ.setdefault(var, "placeholder")
    with tempfile.TemporaryDirectory() as home:
        shutil.copy(DEPLOY / name, Path(home) / "dagster.yaml")
        config, _ = dagster_instance_config(home)  # Dagster's own instance schema
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == (module, cls)
    settings = launcher["config"]
    assert set(settings) <= keys, f"undocumented keys: {set(settings) - keys}"

    active, alternative = _load("dagster.yaml"), _load(name)
    for section in set(active) | set(alternative):
        if section != "run_launcher":
            assert alternative.get(section) == active.get(section), section

    env = settings.get("env_vars", [])
    assert env and set(env) <= _compose_env()
    assert not any("=" in v for v in env), "values must come from the environment"


def test_docker_launcher_limits_and_network() -> None:
    settings = _load("dagster.docker-launcher.yaml")["run_launcher"]["config"]
    kwargs = settings["container_kwargs"]
    assert kwargs["mem_limit"] and int(kwargs["nano_cpus"]) >= 10**9
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert settings["network"] == f"{compose['name']}_default"


def test_ecs_launcher_per_run_resources() -> None:
    settings = _load("dagster.ecs.yaml")["run_launcher"]["config"]
    resources = settings["run_resources"]
    assert int(resources["cpu"]) >= 256 and int(resources["memory"]) >= 512
    from churn_platform.defs.scoring.sharded import sharded_scoring_job

    tags = sharded_scoring_job.tags
    assert int(tags["ecs/cpu"]) > int(resources["cpu"])  # the sharded job asks for a bigger task
    assert int(tags["ecs/memory"]) > int(resources["memory"])


def test_launcher_packages() -> None:
    """dagster-docker is not installed; dagster-aws is (the ``aws`` extra and the dev group:
    the ECS step executor of sharded_scoring_job), so its launcher validates its own config."""
    assert importlib.util.find_spec("dagster_docker") is None
    assert importlib.util.find_spec("dagster_aws") is not None


def test_ecs_launcher_config_validates_against_its_own_class() -> None:
    from dagster._config import process_config
    from dagster_aws.ecs import EcsRunLauncher

    settings = _load("dagster.ecs.yaml")["run_launcher"]["config"]
    result = process_config(EcsRunLauncher.config_type(), settings)
    assert result.success, [e.message for e in result.errors or []]
    typo = process_config(EcsRunLauncher.config_type(), {**settings, "run_resource": {}})
    assert not typo.success
