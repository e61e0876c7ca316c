"""The `churn-platform` CLI on real files, a real MLflow store and real PostgreSQL."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churn_platform.cli import app
from churn_platform.domain.simulator import make_training_frame
from churn_platform.io.ledger import RetrainLedger
from churn_platform.io.registry import ModelRegistry
from churn_platform_tests.support.lifecycle import assert_lifecycle_consistent

runner = CliRunner()


@pytest.fixture(scope="module")
def customers_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = make_training_frame(5_000, seed=4).drop(columns=["true_log_hazard"])
    frame["churned"] = frame.pop("event").map({1: "Yes", 0: "No"})
    frame["tenure_weeks"] = frame.pop("duration_days") / 7.0
    path = tmp_path_factory.mktemp("cli") / "customers.csv"
    frame.to_csv(path, index=False)
    return path


def test_backtest_prints_table_and_writes_json(customers_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    result = runner.invoke(
        app,
        [
            "backtest",
            "--data",
            str(customers_csv),
            "--id-column",
            "customer_id",
            "--duration-column",
            "tenure_weeks",
            "--event-column",
            "churned",
            "--event-value",
            "Yes",
            "--time-unit",
            "weeks",
            "--test-size",
            "0.3",
            "--horizons",
            "30,90",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "xgboost_cox" in result.output and "km_null" in result.output
    doc = json.loads(out.read_text())
    assert set(doc) == {"n_train", "n_test", "models"}
    assert set(doc["models"]) == {"xgboost_cox", "coxph", "km_null"}
    assert doc["n_test"] == pytest.approx(1500, rel=0.1)
    for metrics in doc["models"].values():
        assert set(metrics["brier"]) == {"30", "90"}
        assert {"c_index", "uno_c", "ibs"} <= set(metrics)
    assert doc["models"]["xgboost_cox"]["c_index"] > doc["models"]["km_null"]["c_index"]


def test_backtest_bad_input_is_one_clean_error(customers_csv: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    lines = customers_csv.read_text().splitlines()
    lines.append(lines[1])  # duplicate customer id
    bad.write_text("\n".join(lines) + "\n")
    result = runner.invoke(
        app,
        [
            "backtest",
            "--data",
            str(bad),
            "--id-column",
            "customer_id",
            "--duration-column",
            "tenure_weeks",
            "--event-column",
            "churned",
            "--event-value",
            "Yes",
            "--time-unit",
            "weeks",
        ],
    )
    assert result.exit_code == 2
    assert "customer_id" in result.output and "Traceback" not in result.output


def _cli_registry() -> ModelRegistry:
    from churn_platform.io.results import AliasHistory

    return ModelRegistry(
        "cli_model",
        tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
        alias_history=AliasHistory(os.environ["DATABASE_URL"], "cli"),
    )


def test_train_then_promote_via_cli(
    pg_url: str, mlflow_tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("CHURN_MODEL_NAME", "cli_model")
    monkeypatch.setenv("CHURN_DB_SCHEMA", "cli")
    assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_tracking_uri
    result = runner.invoke(app, ["train", "--n-customers", "5000", "--changed-by", "pytest"])
    assert result.exit_code == 0, result.output
    assert "challenger" in result.output
    assert "model card: " in result.output  # the CLI publishes the same card as the asset
    denied = runner.invoke(app, ["promote", "--version", "99", "--approver", "alice"])
    assert denied.exit_code == 2 and "version 99 is not registered" in denied.output
    ok = runner.invoke(app, ["promote", "--version", "1", "--approver", "alice"])
    assert ok.exit_code == 0, ok.output
    assert "v1: challenger → production" in ok.output

    # A second version, approved by a name that is rich markup, with Slack unreachable: the
    # name is printed verbatim, the notification failure is a warning, the promotion stands.
    assert runner.invoke(app, ["train", "--n-customers", "5000", "--seed", "1"]).exit_code == 0
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/unreachable")
    odd = runner.invoke(
        app, ["promote", "--version", "2", "--approver", "[/bold]", "--reason", "[red]x"]
    )
    assert odd.exit_code == 0, odd.output
    assert "by [/bold]: [red]x" in odd.output
    assert "notification not delivered" in odd.output and "127.0.0.1:9" not in odd.output
    assert "v1: production → archived" in odd.output
    nul = runner.invoke(app, ["reject", "--version", "1", "--approver", "a\x00b", "--reason", "r"])
    assert nul.exit_code == 2 and "InvalidActorError" in nul.output

    back = runner.invoke(app, ["rollback", "--approver", "carol", "--reason", "v2 misbehaves"])
    assert back.exit_code == 0, back.output
    assert "states: v1 production, v2 archived" in back.output
    registry = _cli_registry()
    assert assert_lifecycle_consistent(registry) == {1: "production", 2: "archived"}
    gone = runner.invoke(
        app, ["reject", "--version", "2", "--approver", "carol", "--reason", "post-mortem"]
    )
    assert gone.exit_code == 0, gone.output
    assert "states: v1 production, v2 rejected" in gone.output
    assert assert_lifecycle_consistent(registry) == {1: "production", 2: "rejected"}
    ledger = RetrainLedger(pg_url, "cli").read("cli_model")  # both trainings, once each
    assert list(ledger["status"]) == ["success", "success"]
    assert list(ledger["model_version"]) == [1, 2]
    again = runner.invoke(app, ["rollback", "--approver", "carol", "--reason", "again"])
    assert again.exit_code == 2 and "NoPreviousProductionError" in again.output
