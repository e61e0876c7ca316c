"""``churn-platform export-simulator``: the simulator as a user's files (snapshots + events).

Writes ``snapshots.<ext>`` (one row per active customer and week, ``snapshot_week`` first),
``churn_events.csv`` (``customer_id``, ``churned_on``) and a two-part ``source.yaml`` that reads
them back through the configured source. Used for the public example in ``configs/example``,
the equivalence tests and the replay benchmark.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import yaml

from churn_platform.domain.datasource import SimulatorSource, export_tables
from churn_platform.domain.simulator import CustomerSimulator, SimulatorConfig

__all__ = ["export_simulator"]


def export_simulator(
    out: Path,
    *,
    n_customers: int,
    n_weeks: int,
    seed: int = 0,
    start: date = date(2025, 1, 6),
    label_delay_weeks: int = 0,
    baseline_hazard_per_year: float = 0.25,
    fmt: str = "csv",
    round_decimals: int | None = None,
) -> Path:
    """Export ``n_weeks`` weekly snapshots and the churn events; returns the config path."""
    sim = CustomerSimulator(
        SimulatorConfig(
            n_customers=n_customers,
            seed=seed,
            start_week=start,
            label_delay_weeks=label_delay_weeks,
            baseline_hazard_per_year=baseline_hazard_per_year,
        )
    )
    weeks = [start + timedelta(weeks=i) for i in range(n_weeks)]
    snapshots, events = export_tables(SimulatorSource(sim), weeks)
    if round_decimals is not None:
        floats = snapshots.select_dtypes("float").columns
        snapshots[floats] = snapshots[floats].round(round_decimals)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        snap_name = "snapshots.parquet"
        snapshots.to_parquet(out / snap_name, index=False)
    else:
        snap_name = "snapshots.csv.gz" if fmt == "csv.gz" else "snapshots.csv"
        snapshots.to_csv(out / snap_name, index=False)
    events.to_csv(out / "churn_events.csv", index=False)
    kind = "parquet" if fmt == "parquet" else "csv"
    config = {
        "snapshots": {
            "kind": kind,
            "path": snap_name,
            "week_column": "snapshot_week",
            "id": "customer_id",
            "features": "all",
            "policies": {"extra_columns": "ignore", "missing_values": "error"},
        },
        "labels": {
            "kind": "csv",
            "path": "churn_events.csv",
            "id": "customer_id",
            "churned_on": "churned_on",
            "delay_days": 7 * label_delay_weeks,
        },
    }
    path = out / "source.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
