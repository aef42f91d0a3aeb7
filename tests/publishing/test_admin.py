"""Review in the Django admin (test client): queue, filters, confirmation forms, actions, rights."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from guardian.shortcuts import assign_perm

from publishing.models import Platform, Release, ReleaseAudit

from .helpers import submitted

pytestmark = pytest.mark.django_db

PENDING = "/admin/publishing/pendingrelease/"


def make_reviewer(name: str = "rita", *, platform: bool = True) -> Any:
    user = get_user_model().objects.create_user(name, password="pw-for-tests-only", is_staff=True)
    user.groups.add(Group.objects.get(name="Reviewer"))
    if platform:
        assign_perm("publishing.review_platform", user, Platform.objects.get(code="ddh"))
    return user


@pytest.fixture
def reviewer_client(ddh_user: Any) -> Client:
    client = Client()
    client.force_login(make_reviewer())
    return client


def test_pending_queue_lists_completed_releases_with_filters(reviewer_client: Client, ddh_user: Any) -> None:
    done = submitted(ddh_user, resource_id="done")
    running = submitted(ddh_user, resource_id="running", run=False)
    r = reviewer_client.get(PENDING)
    assert r.status_code == 200
    assert done.id in r.content.decode() and running.id not in r.content.decode()
    assert done.id in reviewer_client.get(PENDING + "?data_type__exact=vector&age=1d").content.decode()
    assert done.id not in reviewer_client.get(PENDING + "?data_type__exact=raster").content.decode()
    assert done.id not in reviewer_client.get(PENDING + "?age=old").content.decode()


def test_change_page_shows_metadata_outputs_buttons_and_history(reviewer_client: Client, ddh_user: Any) -> None:
    release = submitted(ddh_user, file_name="warn.geojson")
    page = reviewer_client.get(f"/admin/publishing/release/{release.id}/change/").content.decode()
    for expected in (
        "review-approve",
        "review-reject",
        "feature_count",
        "3 rows without geometry",
        "submitted",
        "Points",
        f"/api/features/collections/{release.table_name}/items?f=html",
    ):
        assert expected in page, expected
    assert "review-revoke" not in page


def test_approve_reject_revoke_through_confirmation_pages(reviewer_client: Client, ddh_user: Any) -> None:
    one = submitted(ddh_user, resource_id="one")
    two = submitted(ddh_user, resource_id="two")
    url = f"/admin/publishing/release/review/approve/?ids={one.id}"
    assert "Confirm approve" in reviewer_client.get(url).content.decode()
    r = reviewer_client.post(
        url, {"ids": one.id, "clearance_state": "public", "version_id": "2024", "notes": "fine"}, follow=True
    )
    assert "Approved 1 release(s)." in r.content.decode()
    one.refresh_from_db()
    assert (one.approval_state, one.clearance_state, one.version_id) == ("approved", "public", "2024")
    # reject needs a reason: the form is shown again
    url = f"/admin/publishing/release/review/reject/?ids={two.id}"
    r = reviewer_client.post(url, {"ids": two.id, "reason": ""})
    assert r.status_code == 200 and "This field is required" in r.content.decode()
    reviewer_client.post(url, {"ids": two.id, "reason": "blurry"})
    two.refresh_from_db()
    assert two.approval_state == "rejected" and two.review_notes == "blurry"
    url = f"/admin/publishing/release/review/revoke/?ids={one.id}"
    reviewer_client.post(url, {"ids": one.id, "reason": "withdrawn"})
    assert Release.objects.get(pk=one.id).approval_state == "revoked"
    audit = list(ReleaseAudit.objects.filter(release=one).values_list("event", "actor"))
    assert audit == [("submitted", "ddh-test"), ("approved", "rita"), ("revoked", "rita")]


def test_bulk_action_goes_through_the_confirmation_page(reviewer_client: Client, ddh_user: Any) -> None:
    a = submitted(ddh_user, resource_id="a")
    b = submitted(ddh_user, resource_id="b")
    r = reviewer_client.post(PENDING, {"action": "approve_selected", "_selected_action": [a.id, b.id]})
    assert r.status_code == 302 and "/review/approve/?ids=" in r["Location"]
    r = reviewer_client.post(r["Location"], {"ids": f"{a.id},{b.id}", "clearance_state": "ouo"}, follow=True)
    assert "Approved 2 release(s)." in r.content.decode()
    assert set(Release.objects.values_list("version_id", flat=True)) == {"v1"}  # each asset its own v1


def test_rights_four_eyes_platform_scope_and_read_only_audit(ddh_user: Any) -> None:
    outsider = make_reviewer("olga", platform=False)
    release = submitted(ddh_user)
    client = Client()
    client.force_login(outsider)
    assert release.id not in client.get(PENDING).content.decode()  # not her platform

    rita = make_reviewer()
    own = submitted(rita, resource_id="mine")
    client.force_login(rita)
    r = client.post(
        f"/admin/publishing/release/review/approve/?ids={own.id}",
        {"ids": own.id, "clearance_state": "ouo"},
        follow=True,
    )
    assert "four-eyes" in r.content.decode()
    assert Release.objects.get(pk=own.id).approval_state == "pending_review"

    row = ReleaseAudit.objects.filter(release=release).first()
    assert client.get(f"/admin/publishing/releaseaudit/{row.pk}/delete/").status_code == 403
    assert client.post(f"/admin/publishing/releaseaudit/{row.pk}/change/", {"reason": "x"}).status_code == 403
    assert client.get(f"/admin/publishing/release/{release.id}/delete/").status_code == 403
