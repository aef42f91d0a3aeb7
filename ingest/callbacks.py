"""Signed callbacks to clients when their job ends.

The body is JSON; ``X-GeoPlatform-Signature: sha256=<hex>`` is HMAC-SHA256 of the exact
body bytes with the receiving client's webhook secret (printed by
``manage.py createserviceaccount``): every client that submitted the job (the first, and
any that submitted the same job later and joined it) gets its own callback. Deliveries run
on the ``webhooks`` queue, are retried with backoff, and every attempt is stored (admin,
and the job's events).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import requests
from django.conf import settings
from django.utils import timezone

from geoplatform import metrics, tracing
from geoplatform.errors import InvalidInput
from geoplatform.logging import log_context

from .backoff import retry_delay_seconds
from .events import event_record
from .messages import actor_send
from .models import ApiClient, CallbackDelivery, Job, JobSubscriber

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-GeoPlatform-Signature"
# The actor delivering one callback attempt (declared in actors.py).
CALLBACK_ACTOR = "ingest.callback"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def host_allowed(host: str) -> bool:
    patterns = settings.GEOPLATFORM_CALLBACK_ALLOWED_HOSTS
    return any(fnmatch.fnmatch(host.lower(), pattern.lower()) for pattern in patterns)


def callback_url_check(url: str, user: Any) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise InvalidInput(f"callback_url {url!r} must be an absolute http(s) URL.", code="invalid_callback_url")
    if not host_allowed(parsed.hostname):
        raise InvalidInput(
            f"callback_url host {parsed.hostname!r} is not in the allow-list.",
            code="callback_host_not_allowed",
            remediation="Ask an operator to add the host to GEOPLATFORM_CALLBACK_ALLOWED_HOSTS.",
        )
    if user is None or not user.is_authenticated or not ApiClient.objects.filter(user=user).exists():
        raise InvalidInput(
            "callback_url needs a service account with a webhook secret to sign callbacks.",
            code="callback_needs_client",
            remediation="Submit with a token from `manage.py createserviceaccount`.",
        )


def client_secret_new() -> str:
    return secrets.token_urlsafe(32)


def callback_schedule(*, job_id: str, event: str) -> None:
    """One delivery per subscriber with a callback_url (each signed with its own secret)."""
    for subscriber_id in (
        JobSubscriber.objects.filter(job_id=job_id).exclude(callback_url="").values_list("id", flat=True)
    ):
        actor_send(CALLBACK_ACTOR, job_id, event, 1, secrets.token_hex(16), subscriber_id)


def callback_payload(job: Job, event: str, delivery_id: str) -> dict[str, Any]:
    return {
        "event": event,
        "delivery_id": delivery_id,
        "job_id": job.id,
        "job_type": job.job_type,
        "status": job.status,
        "result": job.result,
        "error": job.error,
        "warnings": job.warnings,
        "timestamp": timezone.now().isoformat(),
    }


@dataclass
class Delivery:
    """The outcome of one signed POST; ``retry_in`` is None when there is nothing to retry."""

    ok: bool
    status_code: int | None
    error: str
    retry_in: float | None


def signed_post(
    *,
    url: str,
    user: Any,
    event: str,
    delivery_id: str,
    payload: dict[str, Any],
    attempt: int,
    request_id: str = "",
) -> Delivery:
    """POST ``payload`` signed with ``user``'s webhook secret: the one delivery mechanism for
    job callbacks and every other client notification (publishing's review webhooks).
    ``request_id``: the request that started the work, sent as ``X-Request-Id``."""
    client = ApiClient.objects.filter(user=user).first() if user is not None else None
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    status_code: int | None = None
    ok = False
    if not host_allowed(urlparse(url).hostname or ""):
        error = "host not in GEOPLATFORM_CALLBACK_ALLOWED_HOSTS"
    elif client is None:
        error = "the submitting account has no webhook secret"
    else:
        headers = {
            "Content-Type": "application/json",
            "X-GeoPlatform-Event": event,
            "X-GeoPlatform-Delivery": delivery_id,
            "User-Agent": "GeoPlatform-Callbacks/1",
            SIGNATURE_HEADER: sign(client.webhook_secret, body),
        }
        if request_id:
            headers["X-Request-Id"] = request_id
        try:
            response = requests.post(
                url,
                data=body,
                headers=headers,
                timeout=settings.GEOPLATFORM_CALLBACK_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
            status_code = response.status_code
            ok = 200 <= response.status_code < 300
            error = "" if ok else f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
    done = ok or client is None or attempt >= settings.GEOPLATFORM_CALLBACK_MAX_ATTEMPTS
    metrics.callback_event(event, ok)
    return Delivery(ok, status_code, error[:2000], None if done else retry_delay_seconds(attempt))


def callback_deliver(
    *, job_id: str, event: str, attempt: int, delivery_id: str, subscriber_id: int | None = None
) -> float | None:
    """POST one attempt of a job callback to one subscriber and record it; returns the delay
    before the next. (A message without ``subscriber_id``, sent before subscribers existed,
    goes to the job's first submitter.)"""
    job = Job.objects.select_related("submitted_by").get(pk=job_id)
    with (
        log_context(job_id=job.id, request_id=job.request_id or None),
        tracing.span(f"callback {event}", traceparent=job.traceparent, attributes={"geoplatform.job_id": job.id}),
    ):
        return _deliver(job, event, attempt, delivery_id, subscriber_id)


def _deliver(job: Job, event: str, attempt: int, delivery_id: str, subscriber_id: int | None) -> float | None:
    subscriber = None
    url, user = job.callback_url, job.submitted_by
    if subscriber_id is not None:
        subscriber = JobSubscriber.objects.select_related("user").filter(pk=subscriber_id).first()
        if subscriber is None:
            return None  # its user was deleted
        url, user = subscriber.callback_url, subscriber.user
    outcome = signed_post(
        url=url,
        user=user,
        event=event,
        delivery_id=delivery_id,
        payload=callback_payload(job, event, delivery_id),
        attempt=attempt,
        request_id=job.request_id,
    )
    CallbackDelivery.objects.create(
        job=job,
        subscriber=subscriber,
        event=event,
        url=url,
        attempt=attempt,
        delivery_id=delivery_id,
        status_code=outcome.status_code,
        ok=outcome.ok,
        error=outcome.error,
    )
    # The event is shown to that client only (see selectors.job_events): its URL is its own.
    event_record(
        job.id,
        "callback",
        f"{event} -> {url}: {'delivered' if outcome.ok else outcome.error} (attempt {attempt})",
        delivery_id=delivery_id,
        attempt=attempt,
        status_code=outcome.status_code,
        ok=outcome.ok,
        user_id=getattr(user, "pk", None),
    )
    return outcome.retry_in
