"""One case per class of bad input: the exact error class, a message that names the column /
row / file, and not one row changed anywhere (every table's count and content hash, and the
MLflow registry, are compared before and after).

Cases go through the same path production takes (Dagster assets over the real PostgreSQL and
MLflow) unless the input only exists at a lower level (an MLflow reference artifact).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dagster._core.errors import DagsterUnknownPartitionError

from churn_platform.defs.resources import DataSourceResource, MlflowResource
from churn_platform.domain.schema import (
    DEFAULT_CONTRACT,
    ContractViolation,
    FeatureContract,
    NumericFeature,
)
from churn_platform.errors import (
    ArtifactError,
    DataContractError,
    DataSourceConfigError,
    EmptyPartitionError,
    ModelNotFoundError,
    TrainingError,
)
from churn_platform_tests.support.reliability import (
    TRAIN,
    TRAIN_CONFIG,
    Env,
    run_assets,
    table_state,
)

SCORE = ["customer_features", "churn_scores"]

# --------------------------------------------------------------------------------------------
# A data source that serves the simulator's data with one named defect
# --------------------------------------------------------------------------------------------


def _drop_monthly_charges(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["monthly_charges"])


def _text_in_number_column(df: pd.DataFrame) -> pd.DataFrame:
    out = df.assign(total_charges=df["total_charges"].round(2).astype(str))
    out.loc[3, "total_charges"] = "n/a"
    return out


def _nan_features(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.loc[[4, 17], "monthly_charges"] = np.nan
    return out


def _inf_features(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.loc[2, "data_usage_gb"] = np.inf
    out.loc[5, "data_usage_gb"] = -np.inf
    return out


def _duplicate_ids(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.loc[1, "customer_id"] = out.loc[0, "customer_id"]
    return out


def _empty(df: pd.DataFrame) -> pd.DataFrame:
    return df.iloc[:0]


def _unseen_level(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["region"] = out["region"].astype(object)
    out.loc[7, "region"] = "mars"
    return out


def _rename_feature(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={"monthly_charges": "monthly_fee"})


def _bad_durations(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.loc[0, "duration_days"] = 0.0
    out.loc[9, "duration_days"] = -3.0
    return out


def _constant_feature(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(is_senior=0)


def _few_events(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    events = np.flatnonzero(out["event"].to_numpy() == 1)
    out.loc[out.index[events[10:]], "event"] = 0
    return out


FEATURE_DEFECTS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "missing_column": _drop_monthly_charges,
    "wrong_dtype": _text_in_number_column,
    "nan": _nan_features,
    "inf": _inf_features,
    "duplicate_ids": _duplicate_ids,
    "empty": _empty,
    "unseen_level": _unseen_level,
    "renamed_feature": _rename_feature,
}
TRAINING_DEFECTS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "bad_durations": _bad_durations,
    "constant_feature": _constant_feature,
    "few_events": _few_events,
}

RENAMED_CONTRACT = FeatureContract(
    features=tuple(
        NumericFeature("monthly_fee", min=10.0, max=200.0) if f.name == "monthly_charges" else f
        for f in DEFAULT_CONTRACT.features
    )
)


class DefectiveSource(DataSourceResource):
    """The simulator with one defect applied to what it serves (``defect`` names it)."""

    defect: str = ""

    def contract(self) -> FeatureContract:
        # a source whose columns changed since the model was trained (signature mismatch)
        return RENAMED_CONTRACT if self.defect == "renamed_feature" else super().contract()

    def features_for_week(self, week: date) -> pd.DataFrame:
        frame = super().features_for_week(week)
        return FEATURE_DEFECTS.get(self.defect, lambda f: f)(frame)

    def training_frame(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        frame = super().training_frame(cohort_week, as_of)
        return TRAINING_DEFECTS.get(self.defect, lambda f: f)(frame)


def defective(env: Env, defect: str) -> DefectiveSource:
    base: DataSourceResource = env.resources["data_source"]
    return DefectiveSource(sim_customers=base.sim_customers, sim_seed=base.sim_seed, defect=defect)


# --------------------------------------------------------------------------------------------
# Bring-your-own files (CSV + YAML config)
# --------------------------------------------------------------------------------------------

BYO_WEEK = "2025-07-14"


def _byo_csv(folder: Path, *, ids: list[str], extra: bool = False) -> None:
    """One weekly snapshot (snapshots.csv) and its churn events (events.csv)."""
    n = len(ids)
    frame = pd.DataFrame(
        {
            "snapshot_week": [BYO_WEEK] * n,
            "customerID": ids,
            "MonthlyCharges": np.linspace(20, 90, n).round(2),
            "Contract": ["month", "year"] * (n // 2),
        }
    )
    if extra:
        frame["favourite_colour"] = "blue"
    frame.to_csv(folder / "snapshots.csv", index=False)
    pd.DataFrame({"customerID": ids[:3], "churned_on": [BYO_WEEK] * 3}).to_csv(
        folder / "events.csv", index=False
    )


def _byo_config(tmp: Path, body: str, name: str = "source.yaml") -> str:
    path = tmp / name
    path.write_text(textwrap.dedent(body))
    return str(path)


BYO_BODY = """\
    snapshots:
      kind: csv
      path: snapshots.csv
      week_column: snapshot_week
      id: customerID
      features: {features}
      policies: {{extra_columns: {extra}, missing_values: error}}
    labels: {{kind: csv, path: events.csv, id: customerID, churned_on: churned_on}}
"""


def byo(
    tmp: Path, *, ids: list[str] | None = None, extra: bool = False, policy: str = "ignore"
) -> Any:
    _byo_csv(tmp, ids=ids or [f"C{i:03d}" for i in range(60)], extra=extra)
    features = "[MonthlyCharges, Contract]" if extra else "all"
    path = _byo_config(tmp, BYO_BODY.format(features=features, extra=policy))
    return DataSourceResource(config_path=path)


# --------------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    trigger: Callable[[Env, Path], Any]
    error: type[BaseException]
    names: tuple[str, ...]  # substrings the message must contain (column, row, id, file...)


def _score_with(defect: str) -> Callable[[Env, Path], Any]:
    return lambda env, tmp: run_assets(env, SCORE, data_source=defective(env, defect))


def _train_with(defect: str) -> Callable[[Env, Path], Any]:
    return lambda env, tmp: run_assets(
        env, TRAIN, partition_key=None, run_config=TRAIN_CONFIG, data_source=defective(env, defect)
    )


def _future_week(env: Env, tmp: Path) -> Any:
    monday = date.today() - timedelta(days=date.today().weekday())
    return run_assets(env, SCORE, partition_key=(monday + timedelta(weeks=2)).isoformat())


def _no_production_alias(env: Env, tmp: Path) -> Any:
    base: MlflowResource = env.resources["mlflow_resource"]
    env.extra["unpromoted"] = unpromoted = f"{env.model_name}_unpromoted"
    return run_assets(
        env, SCORE, mlflow_resource=MlflowResource(**{**base.__dict__, "model_name": unpromoted})
    )


def _text_ids_with_spaces(env: Env, tmp: Path) -> Any:
    ids = [f"Zoë-{i:03d}" for i in range(60)]  # unicode is fine...
    ids[12] = "Zoë-012 "  # ...a trailing space is not: it would be a second customer
    return run_assets(env, SCORE, data_source=byo(tmp, ids=ids))


def _extra_column_policy_error(env: Env, tmp: Path) -> Any:
    source = byo(tmp, extra=True, policy="error")
    return run_assets(env, SCORE, data_source=source)


def _malformed_yaml(env: Env, tmp: Path) -> Any:
    path = _byo_config(tmp, "source: {kind: csv, path: [unclosed\n", name="broken.yaml")
    return run_assets(env, SCORE, data_source=DataSourceResource(config_path=path))


def _config_missing_key(env: Env, tmp: Path) -> Any:
    body = (
        "snapshots: {kind: csv, id: a, week_column: w}\n"
        "labels: {kind: csv, path: e.csv, id: a, churned_on: d}\n"
    )
    path = _byo_config(tmp, body, name="nopath.yaml")
    return run_assets(env, SCORE, data_source=DataSourceResource(config_path=path))


def _reference_run(env: Env, tmp: Path, content: bytes | None) -> str:
    """An MLflow run whose drift reference is ``content`` (None: never logged)."""
    import mlflow

    registry = env.resources["mlflow_resource"].registry()
    with mlflow.start_run(experiment_id=registry.experiment_id()) as run:
        if content is not None:
            folder = tmp / "reference"
            folder.mkdir()
            (folder / "features.parquet").write_bytes(content)
            mlflow.log_artifact(str(folder / "features.parquet"), "reference")
    env.extra["reference_run"] = run.info.run_id
    return str(run.info.run_id)


def _corrupt_reference(env: Env, tmp: Path) -> Any:
    run_id = _reference_run(env, tmp, b"PAR1 this is not parquet")
    return env.resources["mlflow_resource"].registry().load_reference(run_id)


def _missing_reference(env: Env, tmp: Path) -> Any:
    run_id = _reference_run(env, tmp, None)
    return env.resources["mlflow_resource"].registry().load_reference(run_id)


CASES = [
    Case("missing_column", _score_with("missing_column"), ContractViolation,
         ("'monthly_charges'", "missing from the data")),
    Case("extra_column_policy_error", _extra_column_policy_error, DataContractError,
         ("'favourite_colour'", "extra_columns")),
    Case("wrong_dtype", _score_with("wrong_dtype"), ContractViolation,
         ("'total_charges'", "expected dtype float64", "'n/a'")),
    Case("nan_in_feature", _score_with("nan"), ContractViolation,
         ("'monthly_charges'", "missing values (NaN)", "rows 4, 17", "customer_id")),
    Case("inf_in_feature", _score_with("inf"), ContractViolation,
         ("'data_usage_gb'", "infinite", "inf, -inf", "rows 2, 5")),
    Case("non_positive_duration", _train_with("bad_durations"), ContractViolation,
         ("'duration_days'", "duration <= 0", "rows 0, 9")),
    Case("text_id_with_trailing_space", _text_ids_with_spaces, DataContractError,
         ("'customerID'", "whitespace", "'Zoë-012 '")),
    Case("duplicate_customer_ids", _score_with("duplicate_ids"), ContractViolation,
         ("'customer_id'", "duplicated id")),
    Case("empty_snapshot", _score_with("empty"), EmptyPartitionError,
         ("no rows", "customer_id")),
    Case("future_week", _future_week, DagsterUnknownPartitionError,
         ("Could not find a partition",)),
    Case("unseen_categorical_level", _score_with("unseen_level"), ContractViolation,
         ("'region'", "'mars'", "row 7")),
    Case("constant_feature_at_training", _train_with("constant_feature"), TrainingError,
         ("'is_senior'", "constant")),
    Case("too_few_events", _train_with("few_events"), TrainingError,
         ("churn events in", "'event'", "at least 50")),
    Case("model_signature_mismatch", _score_with("renamed_feature"), DataContractError,
         ("monthly_charges",)),
    Case("production_alias_missing", _no_production_alias, ModelNotFoundError,
         ("@production", "churn-platform promote")),
    Case("corrupt_reference_artifact", _corrupt_reference, ArtifactError,
         ("reference/features.parquet", "unreadable")),
    Case("missing_reference_artifact", _missing_reference, ArtifactError,
         ("reference/features.parquet", "missing")),
    Case("malformed_yaml_config", _malformed_yaml, DataSourceConfigError,
         ("broken.yaml", "malformed YAML", "line")),
    Case("config_missing_key", _config_missing_key, DataSourceConfigError,
         ("nopath.yaml", "snapshots.path")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_named_and_changes_nothing(case: Case, env: Env, tmp_path: Path) -> None:
    before = table_state(env)
    with pytest.raises(BaseException) as info:
        case.trigger(env, tmp_path)
    assert type(info.value) is case.error, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    for needle in case.names:
        assert needle in message, f"{needle!r} not in: {message}"
    assert table_state(env) == before


def test_the_suite_covers_at_least_fifteen_classes() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 15


def test_message_names_the_model_version_on_signature_mismatch(env: Env) -> None:
    """Beyond the class: the operator learns which model expected which columns."""
    with pytest.raises(DataContractError) as info:
        run_assets(env, SCORE, data_source=defective(env, "renamed_feature"))
    assert f"{env.model_name!r} v{env.version}" in str(info.value)


def test_extra_column_is_ignored_with_a_warning_by_default(
    env: Env, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Policy ``extra_columns: ignore`` (the default): scored, and the column is named."""
    source = byo(tmp_path, extra=True, policy="ignore")
    features = source.features_for_week(date.fromisoformat(BYO_WEEK))
    assert "favourite_colour" not in features.columns
    assert any("favourite_colour" in r.getMessage() for r in caplog.records)
