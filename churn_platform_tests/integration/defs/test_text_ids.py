"""Text customer ids through the customer_features asset: stored as stable keys, the text kept
in ``customer_keys`` (round trip), collisions refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance, materialize

from churn_platform.defs.features.assets import customer_features
from churn_platform.defs.resources import DataSourceResource
from churn_platform.domain.source_config import text_id_key
from churn_platform.errors import StorageError

WEEK = date(2025, 7, 14)


def source(tmp_path: Path, ids: list[str]) -> DataSourceResource:
    n = len(ids)
    pd.DataFrame(
        {
            "week": [WEEK.isoformat()] * n,
            "account": ids,
            "plan": (["basic", "pro"] * n)[:n],
            "fee": [10.0 + i for i in range(n)],
        }
    ).to_csv(tmp_path / "snaps.csv", index=False)
    pd.DataFrame({"account": ids[:2], "left": [WEEK.isoformat()] * 2}).to_csv(
        tmp_path / "events.csv", index=False
    )
    doc = {
        "snapshots": {"kind": "csv", "path": "snaps.csv", "week_column": "week", "id": "account"},
        "labels": {"kind": "csv", "path": "events.csv", "id": "account", "churned_on": "left"},
    }
    (tmp_path / "source.yaml").write_text(yaml.safe_dump(doc))
    return DataSourceResource(config_path=str(tmp_path / "source.yaml"))


def test_text_ids_round_trip_through_customer_keys(
    resources: dict[str, Any], tmp_path: Path
) -> None:
    ids = ["7590-VHVEG", "Zoë-Ünicode", "0042", "C 17"]
    data = source(tmp_path, ids)
    with DagsterInstance.ephemeral() as instance:
        for _ in range(2):  # idempotent: a rerun adds nothing
            result = materialize(
                [customer_features],
                partition_key=WEEK.isoformat(),
                resources={**resources, "data_source": data},
                instance=instance,
            )
            assert result.success
        features = result.output_for_node("customer_features")
    assert sorted(features["customer_id"]) == sorted(text_id_key(i) for i in ids)
    stored = resources["warehouse"].customer_keys().read()
    assert sorted(stored["source_id"]) == sorted(ids)
    back = dict(zip(stored["customer_id"], stored["source_id"], strict=True))
    assert [back[k] for k in features["customer_id"]] == list(features["customer_id"].map(back))
    assert {back[text_id_key(i)] for i in ids} == set(ids)


def test_a_key_standing_for_another_id_is_refused(resources: dict[str, Any]) -> None:
    keys = resources["warehouse"].customer_keys()
    keys.record(pd.DataFrame({"customer_id": [12345], "source_id": ["A-1"]}), WEEK)
    with pytest.raises(StorageError, match="key 12345 is 'A-1' and 'B-2'"):
        keys.record(pd.DataFrame({"customer_id": [12345], "source_id": ["B-2"]}), WEEK)
