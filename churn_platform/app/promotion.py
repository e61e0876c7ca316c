"""Promotion use case: a human moves ``production`` to the challenger that passed the gate.

Shared by ``churn-platform promote``, the Dagster ``promote_model_job`` and the weekly-loop
driver. The alias move is the decision (recorded in ``alias_history``); the approval written
on the model card and the notification are documentation, never a reason to fail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from churn_platform.app.model_card import record_approval
from churn_platform.io.notify import Notification, Notifier
from churn_platform.io.registry import ModelRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromotionOutcome:
    """Which version became ``production``, who approved it, and where its card is (None when
    the version has no card, e.g. logged before model cards existed)."""

    model_name: str
    version: int
    approver: str
    reason: str
    model_card_uri: str | None


def approve_challenger(
    registry: ModelRegistry,
    version: int,
    *,
    approver: str,
    reason: str,
    notifier: Notifier | None = None,
) -> PromotionOutcome:
    """Human approval: ``production`` → the challenger, the approval written on its card, and
    (with a ``notifier``) everyone told. Refuses any version that is not the challenger."""
    registry.promote(version, approver=approver, reason=reason)
    run_id = registry.run_id_of(version)
    card_uri: str | None = None
    try:
        card_uri = record_approval(registry, run_id, approver, reason, datetime.now(UTC))
    except Exception as exc:  # the card is optional documentation, never a reason to fail
        log.warning("approval not written on the model card of v%s: %s", version, exc)
    if notifier is not None:
        notifier.send(
            Notification(
                title=f"{registry.model_name} v{version} is now in production",
                text=reason,
                fields={"approver": approver},
            )
        )
    return PromotionOutcome(registry.model_name, int(version), approver, reason, card_uri)
