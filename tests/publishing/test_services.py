"""The release state machine and the submit decision matrix, against the real database."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from geoplatform.errors import InvalidInput
from publishing import services
from publishing.errors import (
    InvalidTransition,
    ProcessingUnavailable,
    ReleaseExistsError,
    ReviewForbidden,
    VersionConflict,
    ZarrNotAvailable,
)
from publishing.models import Asset, Release, ReleaseAudit

from .conftest import run_job, submit_body
from .helpers import submitted

pytestmark = pytest.mark.django_db


def _events(release: Release) -> list[str]:
    return list(ReleaseAudit.objects.filter(release=release).values_list("event", flat=True))


def test_submit_creates_asset_release_job_and_audit(ddh_user: Any) -> None:
    result = services.release_submit(data=submit_body(version_id="2024"), user=ddh_user)
    release = result.release
    assert result.data_type == "vector" and result.job_type == "test_process_vector"
    assert release.version_ordinal == 1 and release.revision == 1 and release.suggested_version_id == "2024"
    assert release.version_id is None and release.approval_state == "pending_review"
    assert release.processing_status == "pending"
    assert release.table_name == "ds_1_res_1_v1"
    assert release.job.parameters["table_name"] == "ds_1_res_1_v1"
    assert _events(release) == ["submitted"]
    run_job(result.job.id)
    release.refresh_from_db()
    assert release.processing_status == "completed"
    assert release.outputs["feature_count"] == 3


def test_dry_run_writes_nothing(ddh_user: Any) -> None:
    result = services.release_submit(data=submit_body(), user=ddh_user, dry_run=True)
    assert result.dry_run and result.job_type == "test_process_vector"
    assert not Asset.objects.exists() and not Release.objects.exists()


def test_decision_matrix(ddh_user: Any) -> None:
    first = submitted(ddh_user, version_id="v-a")
    # exists, no overwrite, same version -> 409 with the existing release
    with pytest.raises(ReleaseExistsError) as err:
        services.release_submit(data=submit_body(version_id="v-a"), user=ddh_user)
    assert err.value.details["existing_release"]["release_id"] == first.id
    # new version while the current one still awaits review -> 409
    with pytest.raises(ReleaseExistsError, match="still in progress"):
        services.release_submit(data=submit_body(version_id="v-b"), user=ddh_user)
    # overwrite a completed, unapproved release -> same ordinal, revision + 1
    over = services.release_submit(
        data=submit_body(version_id="v-a", processing_options={"overwrite": True}), user=ddh_user
    )
    assert over.release.id == first.id and over.release.revision == 2 and over.release.version_ordinal == 1
    # overwrite while processing -> 409
    with pytest.raises(ReleaseExistsError, match="still processing"):
        services.release_submit(
            data=submit_body(version_id="v-a", processing_options={"overwrite": True}), user=ddh_user
        )
    run_job(over.job.id)
    services.release_approve(release_id=first.id, user=ddh_user, reviewer="alice", clearance_state="ouo")
    # overwrite an approved release -> 409 "revoke first"
    with pytest.raises(ReleaseExistsError, match="revoke first"):
        services.release_submit(
            data=submit_body(version_id="v-a", processing_options={"overwrite": True}), user=ddh_user
        )
    # new version after approval -> new ordinal; previous_version_id must match the approved one
    with pytest.raises(VersionConflict):
        services.release_submit(data=submit_body(version_id="v-b", previous_version_id="nope"), user=ddh_user)
    second = services.release_submit(data=submit_body(version_id="v-b", previous_version_id="v1"), user=ddh_user)
    assert second.release.version_ordinal == 2 and second.release.table_name == "ds_1_res_1_v2"


def test_invalid_submissions_leave_nothing(ddh_user: Any) -> None:
    with pytest.raises(InvalidInput, match="Unknown processing option"):
        services.release_submit(data=submit_body(processing_options={"tabel_name": "x"}), user=ddh_user)
    with pytest.raises(InvalidInput, match="extension"):
        services.release_submit(data=submit_body(file_name="data.xyz"), user=ddh_user)
    with pytest.raises(ZarrNotAvailable, match="zarr processing is not available yet"):
        services.release_submit(data=submit_body(file_name="cube.nc"), user=ddh_user)
    with pytest.raises(ProcessingUnavailable, match="not available"):
        services.release_submit(data=submit_body(file_name=["a.tif", "b.tif"]), user=ddh_user)
    assert not Release.objects.exists() and not Asset.objects.exists()


def test_approve_reject_revoke_transitions(ddh_user: Any) -> None:
    pending = submitted(ddh_user, run=False)
    with pytest.raises(InvalidTransition, match="only a completed release"):
        services.release_approve(release_id=pending.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    run_job(pending.job_id)
    dry = services.release_approve(
        release_id=pending.id, user=ddh_user, reviewer="a", clearance_state="public", dry_run=True
    )
    assert dry.approval_state == "pending_review"
    assert Release.objects.get(pk=pending.id).approval_state == "pending_review"
    approved = services.release_approve(
        release_id=pending.id, user=ddh_user, reviewer="alice", clearance_state="public", notes="ok"
    )
    assert (approved.approval_state, approved.clearance_state, approved.version_id) == ("approved", "public", "v1")
    with pytest.raises(InvalidTransition):
        services.release_reject(release_id=pending.id, user=ddh_user, reviewer="a", reason="late")
    with pytest.raises(InvalidInput, match="reason"):
        services.release_revoke(release_id=pending.id, user=ddh_user, reviewer="a", reason=" ")
    revoked = services.release_revoke(release_id=pending.id, user=ddh_user, reviewer="bob", reason="wrong data")
    assert revoked.approval_state == "revoked"
    with pytest.raises(InvalidTransition):  # revoked is terminal
        services.release_approve(release_id=pending.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    assert _events(pending) == ["submitted", "approved", "revoked"]
    audit = ReleaseAudit.objects.filter(release=pending, event="approved").get()
    assert audit.actor == "alice (via ddh-test)" and audit.snapshot["clearance_state"] == "public"

    other = submitted(ddh_user, resource_id="res-2")
    rejected = services.release_reject(release_id=other.id, user=ddh_user, reviewer="carol", reason="blurry")
    assert rejected.approval_state == "rejected" and _events(other) == ["submitted", "rejected"]


def test_approved_version_id_is_unique_per_asset(ddh_user: Any) -> None:
    first = submitted(ddh_user, version_id="a")
    services.release_approve(release_id=first.id, user=ddh_user, reviewer="x", clearance_state="ouo", version_id="2024")
    second = submitted(ddh_user, version_id="b")
    with pytest.raises(VersionConflict):
        services.release_approve(
            release_id=second.id, user=ddh_user, reviewer="x", clearance_state="ouo", version_id="2024"
        )
    services.release_approve(release_id=second.id, user=ddh_user, reviewer="x", clearance_state="ouo")
    assert Release.objects.get(pk=second.id).version_id == "v2"


def test_review_permissions_and_four_eyes(ddh_user: Any, settings: Any) -> None:
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm

    from publishing.models import Platform

    users = get_user_model().objects
    reviewer = users.create_user("rita", password="x")
    reviewer.groups.add(Group.objects.get(name="Reviewer"))
    release = submitted(ddh_user)
    # In the Reviewer group but without the platform's object permission: refused.
    with pytest.raises(ReviewForbidden, match="platform"):
        services.release_approve(release_id=release.id, user=reviewer, clearance_state="ouo")
    assign_perm("publishing.review_platform", reviewer, Platform.objects.get(code="ddh"))
    reviewer = users.get(pk=reviewer.pk)  # fresh permission cache
    # Four eyes: a reviewer cannot approve what they submitted themselves.
    own = submitted(reviewer, resource_id="mine")
    with pytest.raises(ReviewForbidden, match="four-eyes"):
        services.release_approve(release_id=own.id, user=reviewer, clearance_state="ouo")
    settings.GEOPLATFORM_ALLOW_SELF_APPROVAL = True
    assert (
        services.release_approve(release_id=own.id, user=reviewer, clearance_state="ouo").approval_state == "approved"
    )
    settings.GEOPLATFORM_ALLOW_SELF_APPROVAL = False
    assert services.release_approve(release_id=release.id, user=reviewer, clearance_state="ouo").approval_state == (
        "approved"
    )


def test_raster_approval_publishes_stac_item_and_revoke_removes_it(ddh_user: Any) -> None:
    pytest.importorskip("catalog.services")
    from catalog import selectors as catalog_selectors

    release = submitted(ddh_user, dataset_id="ds-r", file_name="dem.tif")
    item_id = "ds-r-res-1-v1"
    assert (release.stac_collection_id, release.stac_item_id) == ("system-rasters", item_id)
    assert release.job.parameters["metadata"]["ddh:dataset_id"] == "ds-r"
    assert catalog_selectors.item_get(collection_id="system-rasters", item_id=item_id) is None
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    assert catalog_selectors.item_get(collection_id="system-rasters", item_id=item_id) is not None
    services.release_revoke(release_id=release.id, user=ddh_user, reviewer="a", reason="withdrawn")
    assert catalog_selectors.item_get(collection_id="system-rasters", item_id=item_id) is None


def test_failed_stac_publication_rolls_back_the_approval(ddh_user: Any) -> None:
    from publishing.errors import PublicationFailed

    # The job reported no STAC item (and the catalogue has none): nothing to publish.
    release = submitted(ddh_user, dataset_id="ds-none", file_name="nostac.tif")
    with pytest.raises(PublicationFailed, match="rolled back"):
        services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    release.refresh_from_db()
    assert release.approval_state == "pending_review" and release.version_id is None
    assert _events(release) == ["submitted"]


def test_unpublish_dry_run_live_and_idempotent(ddh_user: Any) -> None:
    release = submitted(ddh_user)
    dry = services.release_unpublish(release_id=release.id, user=ddh_user)
    assert dry.dry_run and dry.would_delete["collections"] == ["ds_1_res_1_v1"] and dry.job is None
    assert Release.objects.get(pk=release.id).unpublish_job_id is None
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    with pytest.raises(InvalidTransition, match="force_approved"):
        services.release_unpublish(release_id=release.id, user=ddh_user, dry_run=False)
    live = services.release_unpublish(release_id=release.id, user=ddh_user, dry_run=False, force_approved=True)
    assert live.created and live.job.job_type == "test_unpublish_vector"
    assert live.job.parameters == {"collection_id": "ds_1_res_1_v1", "dry_run": False}
    again = services.release_unpublish(release_id=release.id, user=ddh_user, dry_run=False, force_approved=True)
    assert not again.created and again.job.id == live.job.id
    assert Release.objects.get(pk=release.id).approval_state == "revoked"
    assert _events(release) == ["submitted", "approved", "unpublished"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_exactly_one_wins(ddh_user: Any) -> None:
    release = submitted(ddh_user)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            services.release_approve(release_id=release.id, user=None, reviewer=name, clearance_state="ouo")
            outcomes.append("ok")
        except InvalidTransition:
            outcomes.append("409")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(f"r{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["409", "ok"]
    assert ReleaseAudit.objects.filter(release=release, event="approved").count() == 1


def test_multi_layer_geopackage_needs_layer_name(ddh_user: Any, tmp_path: Any) -> None:
    import geopandas as gpd
    from django.core.files import File
    from shapely.geometry import Point

    from geoplatform.storage import zone_container, zone_storage

    path = tmp_path / "two.gpkg"
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(0, 0)], crs="EPSG:4326")
    frame.to_file(path, layer="roads", driver="GPKG")
    frame.to_file(path, layer="rivers", driver="GPKG")
    with open(path, "rb") as fh:
        name = zone_storage("bronze").save("publishing-tests/two.gpkg", File(fh))
    body = {"container_name": zone_container("bronze"), "file_name": name}
    with pytest.raises(InvalidInput, match="layer_name") as err:
        services.release_submit(data=submit_body(**body), user=ddh_user, dry_run=True)
    assert sorted(err.value.details["layers"]) == ["rivers", "roads"]
    with pytest.raises(InvalidInput, match="not in"):
        services.release_submit(
            data=submit_body(**body, processing_options={"layer_name": "lakes"}), user=ddh_user, dry_run=True
        )
    ok = services.release_submit(
        data=submit_body(**body, processing_options={"layer_name": "rivers"}), user=ddh_user, dry_run=True
    )
    assert ok.dry_run and ok.data_type == "vector"


def test_management_command_uses_the_same_services(ddh_user: Any) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    release = submitted(ddh_user)
    with pytest.raises(CommandError, match="reason"):
        call_command("release_review", "reject", release.id, "--reviewer", "ops")
    out = StringIO()
    call_command("release_review", "approve", release.id, "--reviewer", "ops", "--clearance", "ouo", stdout=out)
    assert "approved (ouo, v1)" in out.getvalue()
    assert ReleaseAudit.objects.filter(release=release, event="approved", actor="ops").exists()


def test_job_parameters_per_data_type() -> None:
    from publishing import kinds
    from publishing.kinds.vector import table_name_default

    data = {"dataset_id": "D.1", "resource_id": "R 2", "container_name": "c", "title": "T"}
    params, where = kinds.KINDS["raster_collection"].job_parameters(
        kinds.Submission(
            data={**data, "file_name": ["a.tif", "b.tif"]},
            options={"output_tier": "all", "processing": "windows"},
            ordinal=2,
            release_meta={"dataset_id": "D.1"},
        )
    )
    assert where == {"stac_collection_id": "D.1-R-2-v2", "stac_item_id": ""}
    assert params["files"] == ["a.tif", "b.tif"] and params["metadata"] == {"ddh:dataset_id": "D.1"}
    assert params["processing"] == "windows" and params["publish"] is False
    params, where = kinds.KINDS["vector"].job_parameters(
        kinds.Submission(data={**data, "file_name": "x.csv"}, options={"wkt_column": "wkt"}, ordinal=1, release_meta={})
    )
    assert where == {"table_name": "d_1_r_2_v1"} and params["wkt_column"] == "wkt"
    assert table_name_default("9lives", "r", 3) == "t_9lives_r_v3"
    assert len(table_name_default("x" * 100, "y", 12)) == 63
