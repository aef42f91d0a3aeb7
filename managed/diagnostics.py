"""Freshness of managed sources in health (component ``managed``) and diagnostics
(section ``managed``). Registered from :class:`managed.apps.ManagedConfig`."""

from __future__ import annotations

from typing import Any

from geoplatform import diagnostics
from geoplatform.diagnostics import Param

from .models import IN_PROGRESS, ManagedSource, SourceVersion, VersionStatus
from .selectors import freshness, stale_sources


def health_check() -> dict[str, Any]:
    """Stale sources are listed with a warning, the component stays ``ok``: old external data
    does not make the platform unhealthy (a 503 from /api/health/details, or DDH's health,
    would page people for a data portal's delay). Not a readiness probe either."""
    stale = stale_sources()
    info: dict[str, Any] = {
        "sources": ManagedSource.objects.filter(enabled=True).count(),
        "stale": [s["source"] for s in stale],
    }
    if stale:
        info["warning"] = f"stale managed sources: {', '.join(info['stale'])} (see /api/diagnostics/managed/)"
    return info


def managed_section(top: int) -> dict[str, Any]:
    sources = []
    for source in ManagedSource.objects.order_by("name")[:top]:
        live = SourceVersion.objects.filter(source=source, status=VersionStatus.LIVE).first()
        sources.append(
            {
                "source": source.name,
                "enabled": source.enabled,
                "collection_id": source.collection_id,
                "live_version": live.number if live else None,
                "live_label": live.label if live else None,
                "last_checked_at": source.last_checked_at.isoformat() if source.last_checked_at else None,
                "next_run_at": source.next_run_at.isoformat() if source.next_run_at else None,
                "last_error": source.last_error,
                **freshness(source),
            }
        )
    return {
        "stale": [s for s in sources if s["stale"] and s["enabled"]],
        "held": list(
            SourceVersion.objects.filter(status=VersionStatus.HELD).values("source__name", "number", "label", "diff")
        ),
        "in_progress": list(
            SourceVersion.objects.filter(status__in=IN_PROGRESS).values("source__name", "number", "status", "job_ids")
        ),
        "sources": sources,
    }


def advance_updates(*, dry_run: bool) -> dict[str, Any]:
    """Versions waiting for their ingest job (e.g. a watch message lost in a broker restart):
    list them (dry run) or advance each one now (gate + swap, or fail)."""
    from .actors import watch_all

    waiting = list(
        SourceVersion.objects.filter(status=VersionStatus.INGESTING).values("pk", "source__name", "number", "job_ids")
    )
    if dry_run:
        return {"dry_run": True, "would_advance": waiting}
    return {"dry_run": False, "advanced": [{"version_id": pk, "now": status} for pk, status in watch_all()]}


def register() -> None:
    diagnostics.register_action(
        "managed_advance_updates",
        advance_updates,
        source="managed",
        description="Advance managed versions waiting for their ingest job (gate and swap, or fail them).",
    )
    diagnostics.register(
        "managed",
        managed_section,
        source="managed",
        params={"top": Param(int, 100, "How many sources to list.", 1, 1000)},
        description="Managed sources: freshness, held versions, updates in progress.",
    )
