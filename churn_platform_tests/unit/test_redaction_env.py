"""Which environment values are masked everywhere (not only inside URLs)."""

from __future__ import annotations

import pytest

from churn_platform.errors import mask_secrets


def test_plain_url_user_is_not_masked_outside_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql+psycopg2://postgres@127.0.0.1:5432/ml")
    text = "only valid for kind postgres, not csv"
    assert mask_secrets(text) == text
    assert "postgres@" not in mask_secrets("see postgresql://postgres@127.0.0.1/x")


def test_token_like_url_user_and_any_password_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "tok-9f8e7d6c5b4a"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://{token}@127.0.0.1:5000")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cr3t-pw@db/churn")
    out = mask_secrets(f"token {token} and password s3cr3t-pw in a message")
    assert token not in out and "s3cr3t-pw" not in out
