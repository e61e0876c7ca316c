"""Notifiers: the real Slack webhook client against a local HTTP server; the URL never leaks."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from churn_platform.entry.stack import free_port
from churn_platform.errors import NotificationError
from churn_platform.io.notify import (
    LogNotifier,
    Notification,
    Notifier,
    RecordingNotifier,
    SlackWebhookNotifier,
    notifier_from_env,
    slack_payload,
)

SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxSECRETtoken123"


@dataclass
class FakeSlack:
    """A local HTTP server standing in for hooks.slack.com; records what it receives."""

    server: ThreadingHTTPServer
    status: int = 200
    body: str = "ok"
    delay_s: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{SECRET_PATH}"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    state: FakeSlack

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            state.paths.append(self.path)
            state.content_types.append(self.headers.get("Content-Type", ""))
            state.received.append(json.loads(raw))
            if state.delay_s:
                time.sleep(state.delay_s)
            body = state.body.encode()
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = FakeSlack(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _assert_no_secret(exc: BaseException, url: str) -> None:
    for text in (str(exc), repr(exc)):
        assert url not in text
        assert "SECRET" not in text
    # no chained requests/urllib3 exception (their messages contain the URL) in the traceback
    assert exc.__cause__ is None
    assert exc.__context__ is None


ALERT = Notification(
    title="Retraining requested",
    text="c_index 0.71 < 0.75 for 2 consecutive weeks (2025-03-03, 2025-03-10)",
    severity="warning",
    fields={"model": "churn_model v3", "run_key": "retrain:c_index:2025-03-03:1"},
    link="http://dagster.local/runs/abc",
)


def test_slack_notifier_posts_block_kit_json(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SlackWebhookNotifier(fake_slack.url, timeout=5)
    assert isinstance(notifier, Notifier)
    with caplog.at_level(logging.DEBUG):
        notifier.send(ALERT)

    assert fake_slack.paths == [SECRET_PATH]
    assert fake_slack.content_types == ["application/json"]
    (payload,) = fake_slack.received
    assert payload == slack_payload(ALERT)
    assert "Retraining requested" in payload["text"]
    header, section, fields, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": ":warning: Retraining requested", "emoji": True},
    }
    assert section["text"]["type"] == "mrkdwn"
    assert "c_index 0.71 &lt; 0.75" in section["text"]["text"]  # mrkdwn-escaped
    assert [f["text"] for f in fields["fields"]] == [
        "*model*\nchurn_model v3",
        "*run_key*\nretrain:c_index:2025-03-03:1",
    ]
    assert context["type"] == "context"
    assert {"type": "mrkdwn", "text": "<http://dagster.local/runs/abc|Open details>"} in context[
        "elements"
    ]
    # urllib3 logs request lines at DEBUG: the secret path must be redacted there too
    assert "SECRET" not in caplog.text
    assert "SECRET" not in repr(notifier)


def test_slack_payload_respects_block_kit_limits() -> None:
    many = Notification(
        "t" * 500, "x" * 5000, "critical", {f"k{i}": "v" * 3000 for i in range(25)}, None
    )
    payload = slack_payload(many)
    blocks = payload["blocks"]
    assert len(blocks[0]["text"]["text"]) <= 150
    assert len(blocks[1]["text"]["text"]) <= 3000
    field_sections = [b for b in blocks if "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 10, 5]
    assert all(len(f["text"]) <= 2000 for b in field_sections for f in b["fields"])
    assert blocks[-1]["type"] == "context"


def test_http_500_raises_notification_error_without_the_url(fake_slack: FakeSlack) -> None:
    fake_slack.status = 500
    fake_slack.body = f"internal error while posting to {SECRET_PATH}"
    with pytest.raises(NotificationError, match="HTTP 500") as info:
        SlackWebhookNotifier(fake_slack.url).send(ALERT)
    _assert_no_secret(info.value, fake_slack.url)
    assert "Retraining requested" in str(info.value)


def test_revoked_webhook_says_what_to_check(fake_slack: FakeSlack) -> None:
    fake_slack.status = 404
    fake_slack.body = "no_service"
    with pytest.raises(NotificationError, match=r"HTTP 404 \(no_service\).*SLACK_WEBHOOK_URL"):
        SlackWebhookNotifier(fake_slack.url).send(ALERT)


def test_connection_refused_raises_notification_error_without_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    with pytest.raises(NotificationError, match=r"could not connect to 127\.0\.0\.1") as info:
        SlackWebhookNotifier(url, timeout=2).send(ALERT)
    _assert_no_secret(info.value, url)


def test_timeout_raises_notification_error_without_the_url(fake_slack: FakeSlack) -> None:
    # The webhook answers 200 after 1 s: only a notifier that honours its 0.2 s timeout raises.
    fake_slack.delay_s = 1.0
    with pytest.raises(NotificationError, match=r"within 0\.2s") as info:
        SlackWebhookNotifier(fake_slack.url, timeout=0.2).send(ALERT)
    _assert_no_secret(info.value, fake_slack.url)


def test_invalid_webhook_url_is_rejected_without_echoing_it() -> None:
    with pytest.raises(NotificationError, match="not an http") as info:
        SlackWebhookNotifier("hooks.slack.com/services/T0SECRET")
    assert "SECRET" not in str(info.value)


def test_recording_notifier_keeps_messages() -> None:
    notifier = RecordingNotifier()
    assert isinstance(notifier, Notifier)
    notifier.send(ALERT)
    assert notifier.sent == [ALERT]
    notifier.clear()
    assert notifier.sent == []


def test_log_notifier_maps_severity_to_log_level(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("churn_platform_tests.notify")
    with caplog.at_level(logging.INFO, logger=log.name):
        LogNotifier(log).send(ALERT)
        LogNotifier(log).send(Notification("Scores written", "week 2025-03-03"))
        LogNotifier(log).send(Notification("Scoring failed", "boom", "critical"))
    levels = [(r.levelno, r.getMessage().split(" | ")[0]) for r in caplog.records]
    assert levels == [
        (logging.WARNING, "[warning] Retraining requested"),
        (logging.INFO, "[info] Scores written"),
        (logging.ERROR, "[critical] Scoring failed"),
    ]
    assert "run_key=retrain:c_index:2025-03-03:1" in caplog.records[0].getMessage()


def test_notification_rejects_unknown_severity() -> None:
    with pytest.raises(ValueError, match="severity"):
        Notification("t", "x", "fatal")  # type: ignore[arg-type]


def test_notifier_from_env() -> None:
    assert isinstance(notifier_from_env({}), LogNotifier)
    assert isinstance(notifier_from_env({"SLACK_WEBHOOK_URL": "  "}), LogNotifier)
    slack = notifier_from_env({"SLACK_WEBHOOK_URL": "https://hooks.slack.com" + SECRET_PATH})
    assert isinstance(slack, SlackWebhookNotifier)
    assert "SECRET" not in repr(slack)


def test_notifier_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    assert isinstance(notifier_from_env(), LogNotifier)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com" + SECRET_PATH)
    assert isinstance(notifier_from_env(), SlackWebhookNotifier)
