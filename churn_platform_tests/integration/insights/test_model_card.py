"""After promotion the model card names the approver and the reason (escaped)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from churn_platform.app.model_card import APPROVAL_MARKER, with_approval

CARD = f"<html><section><h2>Approval</h2>{APPROVAL_MARKER}<p>Pending</p></section></html>"


def test_approval_replaces_pending_with_approver_and_reason() -> None:
    out = with_approval(CARD, "Jane <ops>", "beats v1", datetime(2025, 7, 8, tzinfo=UTC))
    assert "Pending" not in out
    assert "Jane &lt;ops&gt;" in out and "Reason: beats v1" in out and "2025-07-08" in out
    with pytest.raises(ValueError, match="approval marker"):
        with_approval("<html></html>", "x", "y", datetime(2025, 7, 8, tzinfo=UTC))
