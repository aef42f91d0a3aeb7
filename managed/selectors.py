"""Reads of managed datasets: sources, versions, freshness."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from . import cron
from .errors import SourceNotFound, VersionNotFound
from .models import ManagedSource, SourceVersion, VersionStatus


def source_list() -> QuerySet[ManagedSource]:
    return ManagedSource.objects.order_by("name")


def source_get(*, name: str) -> ManagedSource:
    source = ManagedSource.objects.filter(name=name).first()
    if source is None:
        raise SourceNotFound(f"No managed source {name!r}.", remediation="GET /api/managed/sources lists them.")
    return source


def version_list(*, source: ManagedSource) -> QuerySet[SourceVersion]:
    return SourceVersion.objects.filter(source=source).order_by("-number")


def version_get(*, source: ManagedSource, number: int) -> SourceVersion:
    version = SourceVersion.objects.select_related("source").filter(source=source, number=number).first()
    if version is None:
        raise VersionNotFound(f"Source {source.name!r} has no version {number}.")
    return version


def version_live(*, source: ManagedSource) -> SourceVersion | None:
    return SourceVersion.objects.filter(source=source, status=VersionStatus.LIVE).first()


def expected_cadence(source: ManagedSource) -> dt.timedelta:
    """The source's own cadence, else twice its cron period (one missed run is not stale)."""
    if source.expected_cadence:
        return source.expected_cadence
    return 2 * cron.cron_period(source.schedule)


def freshness(source: ManagedSource, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Stale when the live data was last confirmed current (published, or found unchanged
    by a check) longer ago than the expected cadence, or never."""
    now = now or timezone.now()
    cadence = expected_cadence(source)
    confirmed = source.last_success_at
    age = (now - confirmed) if confirmed else None
    stale = age is None or age > cadence
    return {
        "stale": stale,
        "last_success_at": confirmed.isoformat() if confirmed else None,
        "age_seconds": round(age.total_seconds()) if age is not None else None,
        "expected_cadence_seconds": round(cadence.total_seconds()),
    }


def stale_sources(*, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Enabled sources whose data is stale, with why."""
    out = []
    for source in ManagedSource.objects.filter(enabled=True).order_by("name"):
        fresh = freshness(source, now=now)
        if fresh["stale"]:
            out.append({"source": source.name, **fresh, "last_error": source.last_error})
    return out
