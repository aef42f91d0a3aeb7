"""The release audit log: one row per transition, with a snapshot of the release.

Written by the state machine (services) and the webhook deliveries alike, so it sits
below both.
"""

from __future__ import annotations

from typing import Any

from .models import Release, ReleaseAudit


def actor_name(user: Any, reviewer: str = "") -> str:
    """Who acted, as the audit log names them: the reviewer named by the client, the account, or "system"."""
    name = getattr(user, "username", "") if user is not None and user.is_authenticated else ""
    if reviewer and name and reviewer != name:
        return f"{reviewer} (via {name})"
    return reviewer or name or "system"


def audit_record(*, release: Release, event: str, user: Any = None, actor: str = "", reason: str = "") -> ReleaseAudit:
    """Append one audit row with a snapshot of the release as it is now."""
    return ReleaseAudit.objects.create(
        release=release,
        event=event,
        actor=actor or actor_name(user),
        actor_user=user if user is not None and getattr(user, "is_authenticated", False) else None,
        reason=reason,
        snapshot=release.snapshot(),
    )
