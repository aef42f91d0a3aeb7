"""Groups the review workflow relies on, (re)created after every migrate."""

from __future__ import annotations

from typing import Any

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
)
# A B2B client (DDH's service account) submits and records its own reviewers' decisions.
PLATFORM_CLIENT_PERMS = (
    "publishing.submit_release",
    "publishing.review_release",
    "publishing.review_platform",
    "ingest.submit_job",
    "features.preview_unpublished",
    "rasters.preview_unpublished",
)


def groups_ensure() -> None:
    from django.contrib.auth.models import Group, Permission

    for name, perms in ((REVIEWER_GROUP, REVIEWER_PERMS), (PLATFORM_CLIENT_GROUP, PLATFORM_CLIENT_PERMS)):
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if found is not None:
                group.permissions.add(found)


@receiver(post_migrate)
def _after_migrate(sender: Any, app_config: Any = None, **kwargs: Any) -> None:
    if app_config is not None and app_config.label == "publishing":
        groups_ensure()
