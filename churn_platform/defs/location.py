"""The churn_platform code location, loaded lazily with resources read from the environment.

``workspace.yaml`` (``dagster dev``, the daemon, the compose code server) loads
``churn_platform.defs.definitions:defs``. The weekly loop (``make demo``, ``churn-platform run``,
the system tests) loads *this* target in process, under the same location name, so its runs,
ticks and asset materializations land in the instance exactly where the UI looks for them.

It is a ``@definitions`` function rather than a module-level object because the loop sets the
environment (database, MLflow, simulator) *after* Python imported the package: the resources
are built when Dagster loads the location, and again when a run reconstructs its job.

``CHURN_RESOURCE_CONFIG`` (JSON, optional) replaces whole resources by key with the given
constructor fields, for settings that have no environment variable of their own, e.g.
``{"data_source": {"sim_customers": 4000, "sim_feature_drift_week": "2025-08-11"},
"monitoring": {"label_lag_weeks": 3}}``. Unlisted fields take the resource's defaults.
"""

from __future__ import annotations

import json
import os
from typing import Any

from dagster import Definitions, definitions

from churn_platform.defs.io_managers import ParquetSnapshotIOManager
from churn_platform.errors import ChurnPlatformError

LOCATION_NAME = "churn_platform"
RESOURCE_CONFIG_ENV = "CHURN_RESOURCE_CONFIG"
_NOT_OVERRIDABLE = {"snapshot_io_manager"}  # rebuilt from the `artifacts` resource instead


def resource_overrides() -> dict[str, dict[str, Any]]:
    """The ``CHURN_RESOURCE_CONFIG`` mapping {resource key: constructor fields} ({} if unset)."""
    raw = os.environ.get(RESOURCE_CONFIG_ENV, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ChurnPlatformError(f"{RESOURCE_CONFIG_ENV} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ChurnPlatformError(
            f"{RESOURCE_CONFIG_ENV} must be a JSON object of objects "
            '({"resource_key": {"field": value}}), got ' + raw[:200]
        )
    return value


def configured_resources(*, as_env_vars: bool = True) -> dict[str, Any]:
    """``build_resources()`` with the ``CHURN_RESOURCE_CONFIG`` replacements applied.

    ``as_env_vars=False`` resolves the environment now, for code that uses the resources
    outside a Dagster run (the loop approves challengers with the registry).
    """
    from churn_platform.defs.resources import build_resources
    from churn_platform.settings import Settings

    resources = build_resources(Settings.from_env(), as_env_vars=as_env_vars)
    for key, fields in resource_overrides().items():
        if key not in resources or key in _NOT_OVERRIDABLE:
            allowed = sorted(set(resources) - _NOT_OVERRIDABLE)
            raise ChurnPlatformError(
                f"{RESOURCE_CONFIG_ENV}: unknown resource {key!r}; expected one of {allowed}"
            )
        resources[key] = type(resources[key])(**fields)
    resources["snapshot_io_manager"] = ParquetSnapshotIOManager(artifacts=resources["artifacts"])
    return resources


@definitions
def location_defs() -> Definitions:
    """The deployed Definitions with resources built from the environment at load time."""
    from churn_platform.defs.definitions import defs

    return Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=defs.schedules,
        sensors=defs.sensors,
        resources=configured_resources(),
        executor=defs.executor,
        loggers=defs.loggers,
        metadata=defs.metadata,
    )
