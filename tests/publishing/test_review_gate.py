"""The review gate cannot be bypassed through the generic job API.

Every service account holds ``ingest.submit_job``. Before this gate any token could copy a
release pending review to the external zone (``externalize_release``), replace the data
behind an approved release (``process_*`` with ``overwrite=true``) or delete it
(``unpublish_*``) through ``POST /api/jobs/submit``. Releases here are made through the
real publishing services (with the test job types of conftest.py); the bypass attempts
use the real domain job types by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files import File
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from geoplatform.storage import zone_container, zone_storage
from ingest.models import Job
from publishing import services
from publishing.models import Release

from .helpers import submitted

pytestmark = pytest.mark.django_db

CSV = Path(__file__).resolve().parents[1] / "fixtures" / "features" / "airports.csv"


def _submit(client: APIClient, job_type: str, parameters: dict[str, Any]) -> Any:
    return client.post(f"/api/jobs/submit/{job_type}", {"parameters": parameters}, format="json")


def _refused(resp: Any, *, code: str, route: str) -> dict[str, Any]:
    assert resp.status_code == 403, resp.content
    body: dict[str, Any] = resp.json()
    assert body["code"] == code
    assert route in body["message"], body["message"]
    return body


@pytest.fixture
def csv_in_bronze() -> Any:
    """A real file, so that on main the bypass is accepted (202), not refused by pre-flight."""
    storage = zone_storage("bronze")
    with open(CSV, "rb") as fh:
        name = storage.save("review-gate/airports.csv", File(fh))
    yield name
    storage.delete(name)


def test_externalize_release_is_started_only_by_publishing(ddh_client: APIClient, ddh_user: Any) -> None:
    pending = submitted(ddh_user)
    jobs_before = Job.objects.count()
    resp = _submit(ddh_client, "externalize_release", {"release_id": pending.id})
    body = _refused(resp, code="job_type_not_submittable", route="POST /api/platform/approve")
    assert body["message"].startswith("externalize_release is started by publishing")
    assert Job.objects.count() == jobs_before  # nothing created
    assert Release.objects.get(pk=pending.id).external == {}
    # ... nor for a release cleared only as OUO.
    ouo = services.release_approve(release_id=pending.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    resp = _submit(ddh_client, "externalize_release", {"release_id": ouo.id, "revision": ouo.revision})
    _refused(resp, code="job_type_not_submittable", route="POST /api/platform/approve")
    assert Job.objects.count() == jobs_before


def test_overwrite_of_an_approved_release_s_table_is_refused(
    ddh_client: APIClient, ddh_user: Any, csv_in_bronze: str
) -> None:
    release = submitted(ddh_user)
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    jobs_before = Job.objects.count()
    params = {
        "container_name": zone_container("bronze"),
        "file_name": csv_in_bronze,
        "lat_column": "Latitude",
        "lon_column": "Longitude",
        "table_name": release.table_name,
        "overwrite": True,
    }
    body = _refused(_submit(ddh_client, "process_vector", params), code="protected_output", route="/api/platform/")
    assert release.id in body["message"] and "approved" in body["message"]
    assert Job.objects.count() == jobs_before
    # A table no release serves is the generic API's to overwrite (pre-flight decides the rest),
    # loaded for preview only: a service account may not publish without review.
    other = _submit(ddh_client, "process_vector", {**params, "table_name": "not_a_release_table", "publish": False})
    assert other.status_code == 202, other.content


def test_overwrite_of_a_pending_release_s_table_is_refused(ddh_client: APIClient, ddh_user: Any) -> None:
    """Replacing data under review would make the reviewer approve data they never saw."""
    release = submitted(ddh_user)
    params = {"file_name": "x.csv", "table_name": release.table_name, "overwrite": True}
    _refused(_submit(ddh_client, "process_vector", params), code="protected_output", route="/api/platform/")


def test_overwrite_of_an_approved_raster_item_is_refused(ddh_client: APIClient, ddh_user: Any) -> None:
    release = submitted(ddh_user, dataset_id="ds-r", file_name="dem.tif")
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    params = {
        "container_name": zone_container("bronze"),
        "file_name": "dem.tif",
        "collection_id": release.stac_collection_id,
        "item_id": release.stac_item_id,
        "overwrite": True,
    }
    _refused(_submit(ddh_client, "process_raster", params), code="protected_output", route="/api/platform/")


def test_unpublish_of_an_approved_release_is_refused_but_a_dry_run_is_not(ddh_client: APIClient, ddh_user: Any) -> None:
    vector = submitted(ddh_user)
    raster = submitted(ddh_user, dataset_id="ds-r", file_name="dem.tif")
    for release in (vector, raster):
        services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    route = "POST /api/platform/unpublish"
    _refused(
        _submit(ddh_client, "unpublish_vector", {"collection_id": vector.table_name, "dry_run": False}),
        code="protected_output",
        route=route,
    )
    _refused(
        _submit(
            ddh_client,
            "unpublish_raster",
            {"collection_id": raster.stac_collection_id, "item_id": raster.stac_item_id, "dry_run": False},
        ),
        code="protected_output",
        route=route,
    )
    dry = _submit(ddh_client, "unpublish_vector", {"collection_id": vector.table_name, "dry_run": True})
    assert dry.status_code != 403, dry.content


def test_a_part_of_an_approved_split_release_is_protected_too(ddh_client: APIClient, ddh_user: Any) -> None:
    """A file that mixed geometry types is served as {table}_point/_line/_polygon: each part
    holds the release's data, so unpublishing one part by name is refused like the table."""
    from features.models import VectorDataset

    release = submitted(ddh_user)
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    part = f"{release.table_name}_point"
    VectorDataset.objects.create(collection_id=part, geometry_type="Point", source={"split_of": release.table_name})
    _refused(
        _submit(ddh_client, "unpublish_vector", {"collection_id": part, "dry_run": False}),
        code="protected_output",
        route="POST /api/platform/unpublish",
    )


def test_the_platform_path_still_unpublishes(ddh_client: APIClient, ddh_user: Any) -> None:
    release = submitted(ddh_user)
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    resp = ddh_client.post(
        "/api/platform/unpublish",
        {"release_id": release.id, "dry_run": False, "force_approved": True, "reason": "gone"},
        format="json",
    )
    assert resp.status_code in (200, 202), resp.content
    assert Release.objects.get(pk=release.id).approval_state == "revoked"


def test_an_operator_with_the_override_permission_may(ddh_user: Any) -> None:
    release = submitted(ddh_user)
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    operator = get_user_model().objects.create_user("ops-person")
    operator.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["submit_job", "override_submit_guards"], content_type__app_label="ingest"
        )
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator).key}")
    resp = _submit(client, "unpublish_vector", {"collection_id": release.table_name, "dry_run": False})
    assert resp.status_code != 403, resp.content
    # ... but never externalize_release: it has no generic route at all.
    _refused(
        _submit(client, "externalize_release", {"release_id": release.id}),
        code="job_type_not_submittable",
        route="POST /api/platform/approve",
    )


def test_job_types_say_whether_the_generic_api_takes_them(ddh_client: APIClient) -> None:
    body = ddh_client.get("/api/jobs/types").json()
    assert body["externalize_release"]["api_submit"] is False
    assert "POST /api/platform/approve" in body["externalize_release"]["started_by"]
    assert body["externalize_release"]["submit_permission"] is None
    assert body["process_vector"]["api_submit"] is True
    assert body["process_vector"]["submit_permission"] == "ingest.submit_job"


def test_a_copy_job_started_by_hand_copies_nothing_unless_the_release_is_approved_public(ddh_user: Any) -> None:
    """Started past the API (the admin, a retry, a re-sent message), the job checks itself."""
    from ingest.services import job_submit

    from .conftest import run_job

    pending = submitted(ddh_user)
    job = job_submit(job_type="externalize_release", parameters={"release_id": pending.id}, user=ddh_user).job
    job = run_job(job.id)
    assert job.status == "failed" and job.error["code"] == "release_not_public"
    assert job.stage_index == 0  # nothing transferred
    assert Release.objects.get(pk=pending.id).external == {}
    ouo = services.release_approve(release_id=pending.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    params = {"release_id": ouo.id, "revision": ouo.revision, "action": "copy"}
    job = run_job(job_submit(job_type="externalize_release", parameters=params).job.id)
    assert job.status == "failed" and job.error["code"] == "release_not_public"
    assert Release.objects.get(pk=ouo.id).external == {}


def test_a_retry_that_would_delete_an_approved_release_s_data_is_refused(ddh_user: Any) -> None:
    from ingest.services import job_submit

    raster = submitted(ddh_user, dataset_id="ds-r", file_name="dem.tif")
    services.release_approve(release_id=raster.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    params = {"collection_id": raster.stac_collection_id, "item_id": raster.stac_item_id, "dry_run": False}
    job = job_submit(job_type="unpublish_raster", parameters=params).job  # e.g. from an earlier life
    Job.objects.filter(pk=job.id).update(status="failed")
    operator = get_user_model().objects.create_user("ops-retry")
    operator.user_permissions.add(
        *Permission.objects.filter(codename__in=["operate_job", "view_all_jobs"], content_type__app_label="ingest")
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator).key}")
    _refused(client.post(f"/api/jobs/{job.id}/retry"), code="protected_output", route="POST /api/platform/unpublish")
    assert Job.objects.get(pk=job.id).status == "failed"


# --- publishing without review ---------------------------------------------------------------
#
# process_vector / process_raster / process_raster_collection serve their data at once unless
# `publish` is false. Through /api/jobs that is publishing without a review: only operators
# holding ingest.publish_without_review may; every other account loads for preview only
# (publish=false) or submits through POST /api/platform/submit.


def _token_client(username: str, *, perms: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> APIClient:
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    user.groups.add(*Group.objects.filter(name__in=groups))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _vector_params(csv_in_bronze: str, table: str, **extra: Any) -> dict[str, Any]:
    return {
        "container_name": zone_container("bronze"),
        "file_name": csv_in_bronze,
        "lat_column": "Latitude",
        "lon_column": "Longitude",
        "table_name": table,
        **extra,
    }


def _collection(client: APIClient, table: str) -> int:
    return int(client.get(f"/api/features/collections/{table}/items?limit=1").status_code)


def test_a_service_account_cannot_publish_without_review(
    auth_client: APIClient, ddh_client: APIClient, csv_in_bronze: str
) -> None:
    from features import sql

    jobs_before = Job.objects.count()
    for client in (auth_client, ddh_client):  # any service account, DDH's included
        for publish in ({"publish": True}, {}):  # asked for, or by default
            params = _vector_params(csv_in_bronze, "gate_unreviewed", **publish)
            body = _refused(
                _submit(client, "process_vector", params),
                code="publish_needs_review",
                route="POST /api/platform/submit",
            )
            assert "publish=false" in body["message"] and "ingest.publish_without_review" in body["message"]
            assert body["details"]["preview_parameters"] == {"publish": False}
    bronze = zone_container("bronze")
    raster = {"container_name": bronze, "file_name": "x.tif"}
    _refused(_submit(auth_client, "process_raster", raster), code="publish_needs_review", route="publish=false")
    collection = {"container_name": bronze, "files": ["x.tif"], "collection_id": "gate-c"}
    _refused(
        _submit(auth_client, "process_raster_collection", collection),
        code="publish_needs_review",
        route="publish=false",
    )
    assert Job.objects.count() == jobs_before  # refused before anything was created
    assert not sql.table_exists("gate_unreviewed")


def test_publish_false_loads_for_preview_only(
    auth_client: APIClient, api_client: APIClient, csv_in_bronze: str
) -> None:
    from features.services import dataset_unpublish

    from .conftest import run_job

    reviewer = _token_client("gate-reviewer", groups=("Reviewer",))
    resp = _submit(auth_client, "process_vector", _vector_params(csv_in_bronze, "gate_preview", publish=False))
    assert resp.status_code == 202, resp.content
    try:
        job = run_job(resp.json()["job_id"])
        assert job.status == "completed", job.error
        assert _collection(api_client, "gate_preview") == 404  # not public
        assert _collection(auth_client, "gate_preview") == 404  # nor to the client that loaded it
        assert _collection(reviewer, "gate_preview") == 200  # previewable by a reviewer
    finally:
        dataset_unpublish(collection_id="gate_preview", dry_run=False)


def test_an_operator_with_the_permission_publishes_directly(
    operator_client: APIClient, api_client: APIClient, csv_in_bronze: str
) -> None:
    from features.services import dataset_unpublish

    from .conftest import run_job

    resp = _submit(operator_client, "process_vector", _vector_params(csv_in_bronze, "gate_direct"))
    assert resp.status_code == 202, resp.content
    try:
        assert run_job(resp.json()["job_id"]).status == "completed"
        assert _collection(api_client, "gate_direct") == 200  # served to the public at once
    finally:
        dataset_unpublish(collection_id="gate_direct", dry_run=False)


def test_a_retry_that_would_publish_without_review_is_refused(csv_in_bronze: str) -> None:
    from ingest.services import job_submit

    params = _vector_params(csv_in_bronze, "gate_retry")
    job = job_submit(job_type="process_vector", parameters=params).job  # e.g. an operator's, long ago
    Job.objects.filter(pk=job.id).update(status="failed")
    retrier = _token_client("ops-retry-only", perms=("ingest.operate_job", "ingest.view_all_jobs"))
    resp = retrier.post(f"/api/jobs/{job.id}/retry")
    _refused(resp, code="publish_needs_review", route="POST /api/platform/submit")
    assert Job.objects.get(pk=job.id).status == "failed"
    allowed = _token_client(
        "ops-retry-publish", perms=("ingest.operate_job", "ingest.view_all_jobs", "ingest.publish_without_review")
    )
    assert allowed.post(f"/api/jobs/{job.id}/retry").status_code == 202


def test_job_types_say_which_submissions_publish_without_review(auth_client: APIClient) -> None:
    body = auth_client.get("/api/jobs/types").json()
    for name in ("process_vector", "process_raster", "process_raster_collection"):
        assert body[name]["publishes"] == {
            "permission": "ingest.publish_without_review",
            "preview_parameters": {"publish": False},
            "review_route": "POST /api/platform/submit",
        }
    assert body["unpublish_vector"]["publishes"] is None
    assert body["externalize_release"]["publishes"] is None
