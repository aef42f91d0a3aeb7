"""Signed review webhooks: approve / reject / revoke events POSTed to the submitter's callback_url.

Same scheme as ingest's job callbacks: ``X-GeoPlatform-Signature: sha256=<hex>`` is
HMAC-SHA256 of the exact body with the submitting service account's webhook secret.
Each attempt is recorded in the release's audit log (event ``webhook``).
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlparse

import requests
from django.conf import settings
from django.utils import timezone

from ingest.callbacks import SIGNATURE_HEADER, host_allowed, sign
from ingest.models import ApiClient
from ingest.services import retry_delay_seconds

from .models import Release


def webhook_schedule(*, release_id: str, event: str) -> None:
    from .actors import release_webhook_actor

    release_webhook_actor.send(release_id, event, 1, secrets.token_hex(16))


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
    from .services import audit_record

    release = Release.objects.select_related("asset", "submitted_by", "job").get(pk=release_id)
    client = ApiClient.objects.filter(user=release.submitted_by).first() if release.submitted_by else None
    body = json.dumps(webhook_payload(release, event, delivery_id), separators=(",", ":"), default=str).encode()
    error, ok, status = "", False, None
    if not host_allowed(urlparse(release.callback_url).hostname or ""):
        error = "host not in GEOPLATFORM_CALLBACK_ALLOWED_HOSTS"
    elif client is None:
        error = "the submitting account has no webhook secret"
    else:
        headers = {
            "Content-Type": "application/json",
            "X-GeoPlatform-Event": event,
            "X-GeoPlatform-Delivery": delivery_id,
            SIGNATURE_HEADER: sign(client.webhook_secret, body),
        }
        try:
            response = requests.post(
                release.callback_url,
                data=body,
                headers=headers,
                timeout=settings.GEOPLATFORM_CALLBACK_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
            status, ok = response.status_code, 200 <= response.status_code < 300
            error = "" if ok else f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
    audit_record(
        release=release,
        event="webhook",
        actor="webhooks",
        reason=f"{event} -> {release.callback_url}: {'delivered' if ok else error} "
        f"(attempt {attempt}, delivery {delivery_id}, status {status})",
    )
    if ok or client is None or attempt >= settings.GEOPLATFORM_CALLBACK_MAX_ATTEMPTS:
        return None
    return retry_delay_seconds(attempt)
