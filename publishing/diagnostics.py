"""Publishing's diagnostics: review webhooks failing or retrying, and the action re-sending
one. Registered from :class:`publishing.apps.PublishingConfig`; see :mod:`geoplatform.diagnostics`.

Webhook attempts are recorded in the release audit log (event ``webhook``), whose reason
reads ``"<event> -> <url>: delivered|<error> (attempt n, delivery <id>, status <code>)"``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from django.conf import settings
from django.utils import timezone

from geoplatform import diagnostics
from geoplatform.diagnostics import Param
from geoplatform.errors import InvalidInput, NotFound
from ingest.messages import actor_send

from .models import Release, ReleaseAudit
from .webhooks import WEBHOOK_ACTOR

_REASON = re.compile(
    r"^(?P<event>\S+) -> (?P<url>\S*): (?P<outcome>.*) \(attempt (?P<attempt>\d+),"
    r" delivery (?P<delivery>[^,]+), status (?P<status>\w+)\)$",
    re.S,
)


def webhooks(window_hours: float, top: int) -> dict[str, Any]:
    since = timezone.now() - dt.timedelta(hours=window_hours)
    max_attempts = int(settings.GEOPLATFORM_CALLBACK_MAX_ATTEMPTS)
    latest: dict[str, dict[str, Any]] = {}
    attempts = 0
    for a in ReleaseAudit.objects.filter(event="webhook", created_at__gte=since).order_by("created_at", "id"):
        attempts += 1
        m = _REASON.match(a.reason)
        if m is None:
            continue
        latest[m["delivery"]] = {
            "delivery_id": m["delivery"],
            "release_id": a.release_id,
            "event": m["event"],
            "url": m["url"],
            "attempt": int(m["attempt"]),
            "status_code": None if m["status"] == "None" else m["status"],
            "error": "" if m["outcome"] == "delivered" else m["outcome"],
            "ok": m["outcome"] == "delivered",
            "at": a.created_at.isoformat(),
        }
    failing = [d for d in latest.values() if not d["ok"]]
    for d in failing:
        d["state"] = "retrying" if d["attempt"] < max_attempts else "failed"
    failing.sort(key=lambda d: d["at"], reverse=True)
    return {"window_hours": window_hours, "attempts": attempts, "deliveries": len(latest), "failing": failing[:top]}


def resend_webhook(*, dry_run: bool, release_id: str, event: str) -> dict[str, Any]:
    """Send a release's review webhook again (a new delivery id, fresh attempts)."""
    if not release_id or not event:
        missing = [n for n, v in (("release_id", release_id), ("event", event)) if not v]
        raise InvalidInput(
            f"{' and '.join(missing)} required.",
            code="invalid_parameter",
            details={n: ["This field is required."] for n in missing},
        )
    release = Release.objects.filter(pk=release_id).first()
    if release is None:
        raise NotFound(f"No release {release_id!r}.", code="unknown_release")
    if not release.callback_url:
        raise InvalidInput(f"Release {release_id!r} has no callback_url to send to.", code="no_callback_url")
    delivery_id = secrets.token_hex(16)
    if not dry_run:
        actor_send(WEBHOOK_ACTOR, release.id, event, 1, delivery_id)
    return {
        "release_id": release.id,
        "event": event,
        "url": release.callback_url,
        "delivery_id": delivery_id if not dry_run else None,
        "sent": not dry_run,
    }


def register() -> None:
    diagnostics.register(
        "deliveries",
        webhooks,
        source="publishing",
        params={
            "window_hours": Param(float, 24.0, "Time window in hours.", 0.01, 24 * 365),
            "top": Param(int, 10, "How many rows each list shows.", 1, 100),
        },
    )
    diagnostics.register_action(
        "resend_webhook",
        resend_webhook,
        source="publishing",
        description="Send a release's review webhook again (new delivery id, fresh attempts).",
        params={
            "release_id": Param(str, "", "The release."),
            "event": Param(str, "", "approved, rejected or revoked."),
        },
    )
