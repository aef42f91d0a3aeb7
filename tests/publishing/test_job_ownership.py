"""Jobs publishing starts on behalf of a platform client belong to that client."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from ingest.models import Job
from publishing import services
from publishing.signals import REVIEWER_GROUP

from .helpers import submitted

pytestmark = pytest.mark.django_db


def test_release_jobs_belong_to_the_platform_client(
    ddh_client: APIClient, ddh_user: Any, auth_client: APIClient
) -> None:
    release = submitted(ddh_user)
    assert release.job.submitted_by == ddh_user
    # A reviewer in the admin approves as public: the copy job is still DDH's.
    reviewer = get_user_model().objects.create_user("rita")
    reviewer.groups.add(Group.objects.get(name=REVIEWER_GROUP))
    from guardian.shortcuts import assign_perm

    assign_perm("publishing.review_platform", reviewer, release.asset.platform)
    approved = services.release_approve(release_id=release.id, user=reviewer, clearance_state="public")
    copy_job = Job.objects.get(pk=approved.external["job_id"])
    assert copy_job.submitted_by == ddh_user
    for job_id in (release.job.id, copy_job.id):
        assert ddh_client.get(f"/api/jobs/status/{job_id}").status_code == 200
        assert auth_client.get(f"/api/jobs/status/{job_id}").status_code == 404  # another client
    unpublished = services.release_unpublish(
        release_id=release.id, user=reviewer, dry_run=False, force_approved=True, reason="x"
    )
    assert unpublished.job is not None and unpublished.job.submitted_by == ddh_user
