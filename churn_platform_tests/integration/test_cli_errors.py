"""Every CLI error a user can cause is one line naming the cause and the fix, exit status 2,
no traceback: bad counts, blank or hostile approvers (empty, huge, rich markup, control
characters), an unwritable ``--json`` path, an HTTP tracking server that is down."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from churn_platform.cli import app
from churn_platform.entry.stack import free_port

runner = CliRunner()


def _refused_uri() -> str:
    return f"http://127.0.0.1:{free_port()}"


def _one_line_exit_2(
    args: list[str], must: tuple[str, ...], env: dict[str, str] | None = None
) -> None:
    result = runner.invoke(app, args, env=env)
    text = result.output
    lines = [line for line in text.splitlines() if line.strip()]
    assert result.exit_code == 2, (args, text, result.exception)
    assert len(lines) == 1, (args, text)
    assert "Traceback" not in text
    for word in must:
        assert word in text, (args, text)


@pytest.mark.parametrize(
    ("args", "must"),
    [
        (["demo", "--weeks", "0"], ("--weeks", "at least 1", "got 0")),
        (["demo", "--n-customers", "0"], ("--n-customers", "at least 1")),
        (["demo", "--weeks", "-5"], ("--weeks",)),
        (["train", "--n-customers", "0"], ("--n-customers", "at least 1")),
    ],
)
def test_bad_counts_are_one_line(args: list[str], must: tuple[str, ...]) -> None:
    _one_line_exit_2(args, must)


HOSTILE = ["", "   ", "[/bold]", "a\x00b", "line\nbreak", "\x1b[31mred", "x" * 100_000]


@pytest.mark.parametrize("command", ["promote", "reject", "rollback"])
@pytest.mark.parametrize("approver", HOSTILE, ids=lambda a: repr(a)[:12])
def test_hostile_approvers_are_one_line(command: str, approver: str) -> None:
    args = {
        "promote": ["promote", "--version", "1", "--approver", approver],
        "reject": ["reject", "--version", "1", "--approver", approver, "--reason", "r"],
        "rollback": ["rollback", "--approver", approver, "--reason", "r"],
    }[command]
    # a refused tracking server: a printable approver gets past the check and fails on the
    # store, a hostile one is refused first; either way one line, exit 2
    result = runner.invoke(app, args, env={"MLFLOW_TRACKING_URI": _refused_uri()})
    text = result.output
    assert result.exit_code == 2, (text, result.exception)
    assert len([line for line in text.splitlines() if line.strip()]) == 1, text
    assert "Traceback" not in text and len(text) < 6_000
    assert "--approver" in text or "unreachable" in text, text


def test_unwritable_json_path_fails_before_the_work(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id,t,e,x\n1,5,1,0.1\n")
    # (a read-only folder cannot be made here: the tests run as root, who may write anywhere)
    for target in (tmp_path / "missing" / "m.json", tmp_path):
        _one_line_exit_2(
            [
                "backtest",
                "--data",
                str(data),
                "--id-column",
                "id",
                "--duration-column",
                "t",
                "--event-column",
                "e",
                "--json",
                str(target),
            ],
            ("--json", "choose a writable path"),
        )


@pytest.mark.parametrize(
    ("database_url", "must"),
    [
        # refused: nothing listens on port 1
        (
            "postgresql://postgres:s3cr3tpw@127.0.0.1:1/x",
            ("StorageError", "127.0.0.1:1/x", "Connection refused", "DATABASE_URL"),
        ),
        # SQLAlchemy's bare ValueError when parsing the port, before this fix
        (
            "postgresql://postgres:s3cr3tpw@127.0.0.1:notaport/x",
            ("StorageError", "DATABASE_URL", "not a valid database URL", "notaport"),
        ),
    ],
    ids=["refused-port", "non-numeric-port"],
)
def test_a_bad_database_url_is_one_line(
    database_url: str, must: tuple[str, ...], tmp_path: Path
) -> None:
    # a tracking URI that is configured (so no embedded server starts) but never reached:
    # the warehouse is opened first
    env = {"DATABASE_URL": database_url, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"}
    for args in (
        ["promote", "--version", "1", "--approver", "alice"],
        ["rollback", "--approver", "alice", "--reason", "r"],
    ):
        result = runner.invoke(app, args, env=env)
        text = result.output
        assert result.exit_code == 2, (args, text, result.exception)
        assert len([line for line in text.splitlines() if line.strip()]) == 1, text
        assert "Traceback" not in text and "s3cr3tpw" not in text, text
        for word in must:
            assert word in text, (args, word, text)
