"""Notifications to people: retraining requested, drift detected, promotion awaiting approval.

Everything that alerts a human goes through the :class:`Notifier` interface:

* :class:`SlackWebhookNotifier` posts Slack Block Kit messages to an incoming webhook (production);
* :class:`LogNotifier` writes them to the log (the zero-configuration default);
* :class:`RecordingNotifier` keeps them in a list (tests and the demo).

:func:`notifier_from_env` picks Slack when ``SLACK_WEBHOOK_URL`` is set, the log otherwise.

The webhook URL is a secret (anyone holding it can post to the channel): it never appears in a
message, log record, ``repr`` or exception raised here, including urllib3's debug logging.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args, runtime_checkable
from urllib.parse import urlsplit

import requests

from churn_platform.errors import NotificationError, mask_secrets, safe_text

logger = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)

SLACK_WEBHOOK_ENV = "SLACK_WEBHOOK_URL"

_EMOJI: dict[str, str] = {
    "info": ":information_source:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
}
_LOG_LEVEL: dict[str, int] = {
    "info": logging.INFO,
    "warning": logging.WARNING,
    "critical": logging.ERROR,
}
# Slack Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
_HEADER_MAX = 150
_SECTION_TEXT_MAX = 3000
_FIELD_TEXT_MAX = 2000
_FIELDS_PER_SECTION = 10
_MAX_BLOCKS = 50


@dataclass(frozen=True)
class Notification:
    """A message for the people who run the churn platform.

    ``title`` is the one-line headline, ``text`` the explanation, ``fields`` short facts shown as
    a table (model version, week, C-index, ...), ``link`` where to look (Dagster run, MLflow run).
    """

    title: str
    text: str
    severity: Severity = "info"
    fields: dict[str, str] = field(default_factory=dict)
    link: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        # whatever a caller put in (an error message, a URL), no credential leaves the process
        masked = {
            "title": safe_text(self.title, 500),
            "text": safe_text(self.text),
            "fields": {safe_text(k, 200): safe_text(v, 500) for k, v in self.fields.items()},
            "link": None if self.link is None else mask_secrets(self.link),
        }
        for name, value in masked.items():
            object.__setattr__(self, name, value)  # frozen dataclass


@runtime_checkable
class Notifier(Protocol):
    """Delivers notifications; raises :class:`NotificationError` when it cannot."""

    def send(self, message: Notification) -> None: ...


class RecordingNotifier:
    """Keeps every notification in ``sent`` instead of delivering it (tests, demo)."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, message: Notification) -> None:
        self.sent.append(message)

    def clear(self) -> None:
        self.sent.clear()


class LogNotifier:
    """Writes notifications to the log: INFO, WARNING, or ERROR for critical ones."""

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.log = log or logger

    def send(self, message: Notification) -> None:
        parts = [f"[{message.severity}] {message.title}"]
        if message.text:
            parts.append(message.text)
        if message.fields:
            parts.append(", ".join(f"{k}={v}" for k, v in message.fields.items()))
        if message.link:
            parts.append(message.link)
        self.log.log(_LOG_LEVEL[message.severity], " | ".join(parts))


def _escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(message: Notification) -> dict[str, Any]:
    """The Slack Block Kit JSON for a notification (header, text, fields, link, severity)."""
    headline = f"{_EMOJI[message.severity]} {message.title}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(headline, _HEADER_MAX), "emoji": True},
        }
    ]
    if message.text:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(_escape(message.text), _SECTION_TEXT_MAX)},
            }
        )
    items = list(message.fields.items())
    for start in range(0, len(items), _FIELDS_PER_SECTION):
        chunk = items[start : start + _FIELDS_PER_SECTION]
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": _clip(f"*{_escape(k)}*\n{_escape(v)}", _FIELD_TEXT_MAX),
                    }
                    for k, v in chunk
                ],
            }
        )
    context = [{"type": "mrkdwn", "text": f"severity: *{message.severity}*"}]
    if message.link:
        # A link in text rather than a button: buttons need an app with interactivity enabled.
        context.append({"type": "mrkdwn", "text": f"<{message.link}|Open details>"})
    blocks = blocks[: _MAX_BLOCKS - 1]
    blocks.append({"type": "context", "elements": context})
    return {"text": _clip(f"{headline}: {message.text}", _SECTION_TEXT_MAX), "blocks": blocks}


class _RedactSecrets(logging.Filter):
    """Removes webhook URLs/paths from records of a logger (urllib3 logs request paths at DEBUG)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s)

    def scrub(self, text: str) -> str:
        # longest first, so the full URL is replaced before its path
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "<redacted>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            rendered = record.getMessage()
            scrubbed = self.scrub(rendered)
            if scrubbed != rendered:
                record.msg, record.args = scrubbed, None
        return True


_REDACTOR = _RedactSecrets()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
    logging.getLogger(_name).addFilter(_REDACTOR)


class SlackWebhookNotifier:
    """Posts notifications to a Slack channel through an incoming webhook.

    ``url`` is the webhook (``https://hooks.slack.com/services/...``), a secret: it is kept out of
    every error, log record and ``repr``; errors name the host and the HTTP status only.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotificationError(
                f"The Slack webhook URL (from {SLACK_WEBHOOK_ENV}) is not an http(s) URL; "
                "copy it from the Slack app's 'Incoming Webhooks' page."
            )
        self._url = url
        self.timeout = timeout
        self.host = parts.hostname
        secret_path = parts.path + (f"?{parts.query}" if parts.query else "")
        _REDACTOR.add(url, secret_path if secret_path not in ("", "/") else "")

    def __repr__(self) -> str:
        return f"SlackWebhookNotifier(host={self.host!r}, timeout={self.timeout!r})"

    def send(self, message: Notification) -> None:
        """Post ``message``; raise :class:`NotificationError` naming the HTTP status on failure."""
        payload = slack_payload(message)
        failure: str | None = None
        try:
            response = requests.post(self._url, json=payload, timeout=self.timeout)
        except requests.Timeout:
            failure = f"no answer from {self.host} within {self.timeout:g}s"
        except requests.ConnectionError:
            failure = f"could not connect to {self.host}"
        except requests.RequestException as exc:
            failure = f"request to {self.host} failed ({type(exc).__name__})"
        else:
            if response.ok:
                logger.debug("Slack notification sent: %s", message.title)
                return
            body = _REDACTOR.scrub(response.text.strip())[:200]
            failure = f"{self.host} answered HTTP {response.status_code}" + (
                f" ({body})" if body else ""
            )
            if response.status_code == 429:
                failure += "; Slack is rate limiting this webhook, send fewer messages"
            elif response.status_code in (403, 404, 410):
                failure += (
                    f"; the webhook was revoked or its channel is gone, check {SLACK_WEBHOOK_ENV}"
                )
        # Raised outside the except blocks on purpose: requests' exceptions contain the URL, and
        # an implicitly chained __context__ would print it with the traceback.
        raise NotificationError(
            f"Slack notification {message.title!r} was not delivered: {failure}"
        )


def notifier_from_env(environ: Mapping[str, str] | None = None) -> Notifier:
    """Slack when ``SLACK_WEBHOOK_URL`` is set (non-empty), otherwise the log."""
    env = os.environ if environ is None else environ
    url = (env.get(SLACK_WEBHOOK_ENV) or "").strip()
    if url:
        return SlackWebhookNotifier(url)
    return LogNotifier()
