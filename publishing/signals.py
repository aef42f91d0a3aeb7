"""Groups the review workflow relies on, (re)created after every migrate."""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate
from django.dispatch import receiver

REVIEWER_GROUP = "Reviewer"
PLATFORM_CLIENT_GROUP = "platform-clients"

# A reviewer reviews in the admin; which platforms is narrowed by guardian object
# permissions (`publishing.review_platform` on a Platform).
REVIEWER_PERMS = (
    "publishing.review_release",
    "publishing.view_release",
    "publishing.view_pendingrelease",
    "publishing.view_asset",
    "publishing.view_releaseaudit",
    "publishing.view_platform",
    "ingest.view_job",
    # preview vector collections and raster items awaiting review (hidden from everyone else)
    "features.preview_unpublished",
    "rasters.preview_unpublished",
    "climate.preview_unpublished",
)
# A B2B client (DDH's service account) submits and records its own reviewers' decisions.
PLATFORM_CLIENT_PERMS = (
    "publishing.submit_release",
    "publishing.review_release",
    "publishing.review_platform",
    "ingest.submit_job",
    "features.preview_unpublished",
    "rasters.preview_unpublished",
    "climate.preview_unpublished",
)


class MissingPermission(LookupError):
    """A group names a permission that no installed app defines (a typo or a renamed one)."""


def permissions_ensure(*, using: str = DEFAULT_DB_ALIAS, apps: Any = None) -> None:
    """Create the permissions of every app the groups name, now.

    Django creates an app's permissions in its own post_migrate handler, app by app; this
    module's handler may run before those (it is connected when the admin imports
    publishing, before ``django.contrib.auth`` connects its own), so on a brand-new
    database the groups would be filled from a half-empty permission table.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for label in sorted({perm.split(".")[0] for perm in (*REVIEWER_PERMS, *PLATFORM_CLIENT_PERMS)}):
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using, apps=apps or global_apps)


def groups_ensure(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """(Re)create the groups with all their permissions; a permission that does not exist
    is an error (never a silently smaller group)."""
    from django.contrib.auth.models import Group, Permission

    permissions_ensure(using=using)
    for name, perms in ((REVIEWER_GROUP, REVIEWER_PERMS), (PLATFORM_CLIENT_GROUP, PLATFORM_CLIENT_PERMS)):
        found = {
            f"{p.content_type.app_label}.{p.codename}": p
            for p in Permission.objects.using(using)
            .select_related("content_type")
            .filter(codename__in=[perm.split(".")[1] for perm in perms])
        }
        missing = [perm for perm in perms if perm not in found]
        if missing:
            raise MissingPermission(f"Group {name!r} names permissions that do not exist: {', '.join(missing)}.")
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*(found[perm] for perm in perms))


@receiver(post_migrate)
def _after_migrate(sender: Any, app_config: Any = None, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    if app_config is not None and app_config.label == "publishing":
        groups_ensure(using=using)
