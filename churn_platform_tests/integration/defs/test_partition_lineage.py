"""Dependencies say what they read, and checks are per partition.

``delayed_evaluation`` reads the cohort scored ``label_lag_weeks`` before its week;
``performance_estimate`` and ``segment_monitoring`` read that cohort and this week's scores.
Every check of a weekly asset is declared on the weekly partitions, so its result belongs to the
week that was materialized.
"""

from __future__ import annotations

from dagster import AssetKey, TimeWindowPartitionMapping

from churn_platform.defs.definitions import ASSETS
from churn_platform.defs.partitions import DEFAULT_LABEL_LAG_WEEKS, weekly_partitions
from churn_platform.defs.resources import MonitoringResource

SCORES = AssetKey("churn_scores")


def _assets() -> dict[AssetKey, object]:
    out = {}
    for a in ASSETS:
        for key in getattr(a, "keys", []):
            out[key] = a
    return out


def test_evaluations_depend_on_the_cohort_they_read() -> None:
    assert MonitoringResource().label_lag_weeks == DEFAULT_LABEL_LAG_WEEKS
    assets = _assets()
    lag = DEFAULT_LABEL_LAG_WEEKS
    expected = {
        "delayed_evaluation": (-lag, -lag),
        "performance_estimate": (-lag, 0),
        "segment_monitoring": (-lag, 0),
    }
    for name, (start, end) in expected.items():
        a = assets[AssetKey(name)]
        mapping = a.get_partition_mapping(SCORES)  # type: ignore[attr-defined]
        assert isinstance(mapping, TimeWindowPartitionMapping), name
        assert (mapping.start_offset, mapping.end_offset) == (start, end), name
        assert mapping.allow_nonexistent_upstream_partitions
        # week W of the evaluation reads the scores of W - lag
        upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
            weekly_partitions.subset_with_partition_keys(["2025-07-07"]),
            weekly_partitions,
            weekly_partitions,
        ).partitions_subset.get_partition_keys()
        assert min(upstream) == "2025-04-07", (name, upstream)


def test_every_check_of_a_weekly_asset_is_partitioned() -> None:
    specs = [
        spec
        for a in ASSETS
        for spec in getattr(a, "check_specs", [])
        if getattr(a, "partitions_def", None) == weekly_partitions
        and spec.asset_key.path[0]
        in {"delayed_evaluation", "feature_drift", "score_drift", "performance_estimate"}
    ]
    assert {s.name for s in specs} >= {
        "c_index_above_threshold",
        "calibration_ici_below_threshold",
        "no_feature_drift_breach",
        "no_score_drift_breach",
        "estimate_matches_realised",
        "interim_churners_match_prediction",
    }
    assert all(s.partitions_def == weekly_partitions for s in specs)
