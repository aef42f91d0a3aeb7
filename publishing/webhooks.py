"""Signed review webhooks: approve / reject / revoke events POSTed to the submitter's callback_url.

Same scheme as ingest's job callbacks: ``X-GeoPlatform-Signature: sha256=<hex>`` is
HMAC-SHA256 of the exact body with the submitting service account's webhook secret.
Each attempt is recorded in the release's audit log (event ``webhook``).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.utils import timezone

from ingest.callbacks import signed_post
from ingest.messages import actor_send

from .audit import audit_record
from .models import Release

# The actor delivering one webhook attempt (declared in actors.py).
WEBHOOK_ACTOR = "publishing.webhook"


def webhook_schedule(*, release_id: str, event: str) -> None:
    actor_send(WEBHOOK_ACTOR, release_id, event, 1, secrets.token_hex(16))


def webhook_payload(release: Release, event: str, delivery_id: str) -> dict[str, Any]:
    return {
        "event": event,
        "delivery_id": delivery_id,
        "request_id": release.request_id,
        "release_id": release.id,
        "asset_id": release.asset_id,
        "dataset_id": release.asset.dataset_id,
        "resource_id": release.asset.resource_id,
        "version_id": release.version_id,
        "version_ordinal": release.version_ordinal,
        "approval_state": release.approval_state,
        "clearance_state": release.clearance_state,
        "reviewer": release.reviewer,
        "notes": release.review_notes,
        "timestamp": timezone.now().isoformat(),
    }


def webhook_deliver(*, release_id: str, event: str, attempt: int, delivery_id: str) -> float | None:
    """POST one attempt; returns the delay before the next attempt, or None when done."""
    release = Release.objects.select_related("asset", "submitted_by", "job").get(pk=release_id)
    outcome = signed_post(
        url=release.callback_url,
        user=release.submitted_by,
        event=event,
        delivery_id=delivery_id,
        payload=webhook_payload(release, event, delivery_id),
        attempt=attempt,
    )
    audit_record(
        release=release,
        event="webhook",
        actor="webhooks",
        reason=f"{event} -> {release.callback_url}: {'delivered' if outcome.ok else outcome.error} "
        f"(attempt {attempt}, delivery {delivery_id}, status {outcome.status_code})",
    )
    return outcome.retry_in
