"""The publishing adapters (publishing.kinds): one declaration per data kind, and a state
machine that only asks them. The proof: a kind declared only here goes through the whole
DDH cycle over /api/platform/* with nothing in publishing knowing it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from geoplatform.storage import check_blob_name, zone_container, zone_storage
from ingest import registry
from publishing import kinds
from publishing.kinds.base import container_required, existing_silver, external_copies
from publishing.kinds.raster import RASTER
from publishing.kinds.raster_collection import RASTER_COLLECTION
from publishing.kinds.vector import VECTOR
from publishing.models import DataType, Release

from .conftest import run_job

P = "/api/platform"


def test_every_data_type_declares_its_kind_once() -> None:
    assert set(kinds.KINDS) == set(DataType.values)
    assert all(kind.data_type == name for name, kind in kinds.KINDS.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        kinds.KINDS[DataType.VECTOR].artifacts = kinds.KINDS[DataType.RASTER].artifacts  # type: ignore[misc]


def test_artifacts_name_both_zones() -> None:
    listed = kinds.Artifacts(silver_blobs=("a.tif",), external_blobs=("a.tif",)).as_dict()
    assert listed["silver_blobs"] == listed["external_blobs"] == ["a.tif"]
    assert listed["blobs"] == [f"{listed['silver_container']}/a.tif", f"{listed['external_container']}/a.tif"]


@pytest.mark.parametrize("kind", [VECTOR, RASTER, RASTER_COLLECTION], ids=lambda k: k.data_type)
def test_submit_options_are_the_processing_job_types_own_params(kind: kinds.DataKind) -> None:
    """Options are names only: type, choices and bounds come from the real job type's Param
    (the declarations as shipped: the autouse fixture swaps the kinds' job types)."""
    data_type = kind.data_type
    job_type = registry.get(kind.process_job_type)
    params = {p.name: p for p in job_type.params}
    assert set(kind.options) <= set(params), f"{data_type} offers options its job type does not take"
    with_choices = [name for name in kind.options if params[name].choices]
    for name in with_choices:
        with pytest.raises(Exception, match=f"Processing option {name!r} must be one of"):
            kinds.options_clean(kind, job_type, {name: "no-such-choice"})
    assert kinds.options_clean(kind, job_type, {"overwrite": True}) == {"overwrite": True}


STATE_MACHINE = ("services.py", "selectors.py", "jobtypes.py", "externalize.py", "api.py")


def test_the_state_machine_never_branches_on_the_data_type() -> None:
    root = Path(kinds.__file__).resolve().parents[1]
    for name in STATE_MACHINE:
        text = (root / name).read_text()
        found = re.findall(r"DataType\.|data_type\s*(?:==|!=|in\b|not in\b)", text)
        assert not found, f"publishing/{name} branches on the data type: {found}"
    assert not (root / "jobs.py").exists()  # its per-type tables are the kinds now


# --- the proof: a "document" kind that exists only in this test module ---------------------------

DOCUMENT_PARAMS = [
    registry.Param("container_name", str, required=True),
    registry.Param("file_name", str, required=True),
    registry.Param("blob_name", str, required=True),
    registry.Param("title", str),
    registry.Param("description", str),
    registry.Param("overwrite", bool, default=False),
    registry.Param("encoding", str, default="utf-8", choices=("utf-8", "latin-1")),
]


def _copy_document(ctx: registry.TaskContext) -> dict[str, Any]:
    """The whole "processing": the submitted text file, copied to the silver zone."""
    p = ctx.params
    with zone_storage("bronze").open(check_blob_name(p["file_name"]), "rb") as fh:
        body = fh.read()
    silver = zone_storage("silver")
    silver.delete(p["blob_name"])
    silver.save(p["blob_name"], ContentFile(body))
    return {"document_blob": p["blob_name"], "bytes": len(body)}


def _delete_document(ctx: registry.TaskContext) -> dict[str, Any]:
    zone_storage("silver").delete(ctx.params["blob_name"])
    return {"deleted": ctx.params["blob_name"]}


def _first(ctx: registry.FinalizeContext) -> dict[str, Any]:
    return dict(ctx.stage_results[0][0])


registry.register(
    registry.JobType(
        "test_process_document", [registry.Stage("copy", _copy_document)], params=DOCUMENT_PARAMS, finalize=_first
    )
)
registry.register(
    registry.JobType(
        "test_unpublish_document",
        [registry.Stage("delete", _delete_document)],
        params=[registry.Param("blob_name", str, required=True), registry.Param("dry_run", bool, default=True)],
    )
)

SHOWN: set[str] = set()  # releases whose document is "served" (publish / withdraw are the kind's)


def _document_blob(release: Release) -> str:
    return str(release.job_parameters["blob_name"])


DOCUMENT = kinds.DataKind(
    data_type="document",
    process_job_type="test_process_document",
    unpublish_job_type="test_unpublish_document",
    options=("overwrite", "encoding"),
    check=container_required,
    job_parameters=lambda sub: (
        {
            "container_name": sub.data["container_name"],
            "file_name": sub.file_name,
            "blob_name": f"documents/{sub.release_meta['asset_id']}-v{sub.ordinal}.txt",
            **sub.options,
        },
        {},
    ),
    unpublish_parameters=lambda release: {"blob_name": _document_blob(release), "dry_run": False},
    publish=lambda release: SHOWN.add(release.id),
    withdraw=lambda release: SHOWN.discard(release.id),
    artifacts=lambda release: kinds.Artifacts(
        silver_blobs=tuple(existing_silver([_document_blob(release)])),
        copy_blobs=tuple(existing_silver(kinds.reported_blobs(release, ("document_blob",)))),
        external_blobs=external_copies(release),
    ),
    services=lambda release: {"service_url": f"/documents/{_document_blob(release)}"},
    result_keys=("document_blob",),
    extensions=("txt",),
)


@pytest.fixture
def document_kind(monkeypatch: pytest.MonkeyPatch) -> kinds.DataKind:
    monkeypatch.setitem(kinds.KINDS, DOCUMENT.data_type, DOCUMENT)
    return DOCUMENT


@pytest.mark.django_db
def test_a_kind_declared_only_in_the_tests_goes_through_the_whole_cycle(
    document_kind: kinds.DataKind, ddh_client: APIClient
) -> None:
    source = zone_storage("bronze").save("publishing-tests/notes.txt", ContentFile(b"minutes of the meeting\n"))
    body = {
        "dataset_id": "docs",
        "resource_id": "minutes",
        "container_name": zone_container("bronze"),
        "file_name": source,
        "processing_options": {"encoding": "latin-1"},
    }
    # Its options are its job type's Params: a wrong choice is refused before anything is written.
    bad = ddh_client.post(f"{P}/submit", {**body, "processing_options": {"encoding": "ebcdic"}}, format="json")
    assert bad.status_code == 400 and "encoding" in bad.json()["error"], bad.content
    assert not Release.objects.exists()

    sub = ddh_client.post(f"{P}/submit", body, format="json")
    assert sub.status_code == 202, sub.content
    submitted = sub.json()
    release = Release.objects.get(pk=submitted["release_id"])
    assert release.data_type == "document" and release.job_type == "test_process_document"
    assert release.job_parameters["encoding"] == "latin-1"
    job = run_job(submitted["job_id"])
    assert job.status == "completed", job.error
    blob = _document_blob(release)
    silver, external = zone_storage("silver"), zone_storage("external")
    assert silver.exists(blob)

    status = ddh_client.get(submitted["monitor_url"]).json()
    assert status["release"]["processing_status"] == "completed" and "services" not in status
    dry = ddh_client.post(f"{P}/unpublish", {"release_id": release.id}, format="json").json()
    assert dry["would_delete"]["silver_blobs"] == [blob]
    assert dry["would_delete"]["job_type"] == "test_unpublish_document"

    approve = {"release_id": release.id, "reviewer": "r", "clearance_state": "public"}
    assert ddh_client.post(f"{P}/approve", approve, format="json").status_code == 200
    assert release.id in SHOWN
    status = ddh_client.get(submitted["monitor_url"]).json()
    assert status["services"]["service_url"].endswith(f"/documents/{blob}")  # the kind's links (made absolute)
    release.refresh_from_db()
    assert run_job(release.external["job_id"]).status == "completed"  # externalize: the copy out
    release.refresh_from_db()
    assert [c["blob"] for c in release.external["copies"]] == [blob] and external.exists(blob)

    revoke = {"release_id": release.id, "reviewer": "r", "reason": "superseded"}
    assert ddh_client.post(f"{P}/revoke", revoke, format="json").status_code == 200
    assert release.id not in SHOWN
    release.refresh_from_db()
    assert run_job(release.external["job_id"]).status == "completed"  # the copies removed
    assert not external.exists(blob)

    live = ddh_client.post(f"{P}/unpublish", {"release_id": release.id, "dry_run": False}, format="json")
    assert live.status_code == 202, live.content
    assert run_job(live.json()["job_id"]).status == "completed"
    assert not silver.exists(blob)
    status = ddh_client.get(submitted["monitor_url"]).json()
    assert status["release"]["approval_state"] == "revoked" and status["unpublish_job_id"] == live.json()["job_id"]


def test_result_keys_name_keys_the_jobs_write() -> None:
    """A kind's ``result_keys`` are read from its job's result: each must be a key of that
    result's TypedDict (raster and vector once named keys their jobs never wrote)."""
    from features.results import VectorJobResult
    from publishing.kinds import KINDS
    from rasters.results import RasterCollectionJobResult, RasterJobResult

    written = {"vector": VectorJobResult, "raster": RasterJobResult, "raster_collection": RasterCollectionJobResult}
    for data_type, result in written.items():
        assert set(KINDS[data_type].result_keys) <= set(result.__annotations__), data_type
