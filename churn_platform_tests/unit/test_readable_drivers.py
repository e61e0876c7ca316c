"""The top-10 table's drivers read as direction and size, not raw JSON."""

from __future__ import annotations

import json

from churn_platform.viz.plots import readable_drivers


def test_drivers_show_feature_direction_and_two_decimals() -> None:
    doc = json.dumps(
        [
            {"feature": "monthly_charges", "contribution": 0.4213},
            {"feature": "tenure_days", "contribution": -0.3091},
            {"feature": "support_calls", "contribution": 0.001},
        ]
    )
    assert readable_drivers(doc) == (
        "monthly_charges ↑ +0.42, tenure_days ↓ \u22120.31, support_calls ↑ +0.00"
    )
    assert readable_drivers(doc, k=1) == "monthly_charges ↑ +0.42"


def test_missing_or_broken_drivers_show_a_dash() -> None:
    assert readable_drivers(None) == "-"
    assert readable_drivers("") == "-"
    assert readable_drivers("not json") == "-"
    assert readable_drivers("[]") == "-"
