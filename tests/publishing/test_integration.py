"""With the real domain job types: DDH submit -> process_vector / process_raster -> review ->
served only once approved -> withdrawn on revoke."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from django.core.files import File

from geoplatform.storage import zone_container, zone_storage
from ingest import registry

from .conftest import run_job, use_job_types

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "features"


@pytest.fixture
def real_job_types(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "process_vector" in registry.all_types()
    use_job_types(monkeypatch, "vector", "process_vector", "unpublish_vector")


def test_real_process_vector_release(real_job_types: None, ddh_client: Any, api_client: Any) -> None:
    source = FIXTURE / "nc.gpkg"
    with open(source, "rb") as fh:
        name = zone_storage("bronze").save(f"publishing-it/{source.name}", File(fh))
    body = {
        "dataset_id": "it",
        "resource_id": "counties",
        "container_name": zone_container("bronze"),
        "file_name": name,
    }
    r = ddh_client.post("/api/platform/submit", body, format="json")
    assert r.status_code == 202, r.json()
    job = run_job(r.json()["job_id"])
    assert job.status == "completed", job.error
    status = ddh_client.get(r.json()["monitor_url"]).json()
    assert status["outputs"]["table_name"] == "it_counties_v1"
    items = "/api/features/collections/it_counties_v1/items"
    # Loaded but awaiting review: not served to the public, and no services URLs yet; DDH
    # (platform-clients may preview) sees it for its reviewers.
    assert api_client.get(items).status_code == 404
    assert ddh_client.get(items).status_code == 200
    assert "services" not in status
    r = ddh_client.post(
        "/api/platform/approve",
        {"request_id": status["request_id"], "reviewer": "alice", "clearance_state": "ouo"},
        format="json",
    )
    assert r.status_code == 200, r.json()
    served = api_client.get(r.json()["services"]["service_url"])
    assert served.status_code == 200
    content = b"".join(served.streaming_content) if served.streaming else served.content
    assert json.loads(content)["features"]
    r = ddh_client.post(
        "/api/platform/revoke",
        {"request_id": status["request_id"], "reviewer": "alice", "reason": "wrong vintage"},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert api_client.get(items).status_code == 404  # withdrawn at once
    r = ddh_client.post(
        "/api/platform/unpublish",
        {"request_id": status["request_id"], "dry_run": False, "force_approved": True},
        format="json",
    )
    assert r.status_code == 202, r.json()
    assert run_job(r.json()["job_id"]).status == "completed"
    assert ddh_client.get(items).status_code == 404


def test_real_process_raster_release(monkeypatch: pytest.MonkeyPatch, ddh_client: Any, api_client: Any) -> None:
    from catalog import selectors as catalog_selectors

    use_job_types(monkeypatch, "raster", "process_raster")
    source = FIXTURE.parent / "lc.tif"
    with open(source, "rb") as fh:
        name = zone_storage("bronze").save(f"publishing-it/{source.name}", File(fh))
    body = {
        "dataset_id": "it",
        "resource_id": "landcover",
        "container_name": zone_container("bronze"),
        "file_name": name,
    }
    r = ddh_client.post("/api/platform/submit", body, format="json")
    assert r.status_code == 202, r.json()
    job = run_job(r.json()["job_id"])
    assert job.status == "completed", job.error
    # Processed, awaiting review: no STAC item in the public catalogue yet.
    assert catalog_selectors.item_get(collection_id="system-rasters", item_id="it-landcover-v1") is None
    assert api_client.get("/api/stac/collections/system-rasters/items/it-landcover-v1").status_code == 404
    r = ddh_client.post(
        "/api/platform/approve",
        {"job_id": job.id, "reviewer": "alice", "clearance_state": "public"},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert r.json()["services"]["stac_item"].endswith("/api/stac/collections/system-rasters/items/it-landcover-v1")
    assert catalog_selectors.item_get(collection_id="system-rasters", item_id="it-landcover-v1") is not None
    assert api_client.get("/api/stac/collections/system-rasters/items/it-landcover-v1").status_code == 200
    status = ddh_client.get(f"/api/platform/status/{job.id}").json()
    external = run_job(status["external"]["job_id"])
    assert external.status == "completed", external.error
    copies = ddh_client.get(f"/api/platform/status/{job.id}").json()["external"]["copies"]
    assert copies and all(c["blob"].endswith(".tif") for c in copies)
    r = ddh_client.post("/api/platform/revoke", {"job_id": job.id, "reviewer": "bob", "reason": "test"}, format="json")
    assert r.status_code == 200
    assert catalog_selectors.item_get(collection_id="system-rasters", item_id="it-landcover-v1") is None


def test_real_raster_collection_release(monkeypatch: pytest.MonkeyPatch, ddh_client: Any, api_client: Any) -> None:
    """A list of GeoTIFFs: hidden until approved (collection, items, mosaic), copied out, revoked, unpublished."""
    from catalog import selectors as catalog_selectors
    from rasters import mosaic

    use_job_types(monkeypatch, "raster_collection", "process_raster_collection", "unpublish_raster_collection")
    names = []
    for fixture in ("lc.tif", "olinda_dem_utm25s.tif"):
        with open(FIXTURE.parent / fixture, "rb") as fh:
            names.append(zone_storage("bronze").save(f"publishing-it/{fixture}", File(fh)))
    body = {"dataset_id": "it", "resource_id": "tiles", "container_name": zone_container("bronze"), "file_name": names}
    r = ddh_client.post("/api/platform/submit", body, format="json")
    assert r.status_code == 202, r.json()
    job = run_job(r.json()["job_id"])
    assert job.status == "completed", job.error
    collection = "it-tiles-v1"
    mosaic_url = job.result["mosaic_tilejson_url"]
    mosaic.index_clear()
    # Awaiting review: nothing public, not even through the (already stable) mosaic URL.
    assert catalog_selectors.collection_get(collection_id=collection) is None
    assert api_client.get(f"/api/stac/collections/{collection}").status_code == 404
    assert api_client.get(mosaic_url).status_code == 404
    r = ddh_client.post(
        "/api/platform/approve", {"job_id": job.id, "reviewer": "alice", "clearance_state": "public"}, format="json"
    )
    assert r.status_code == 200, r.json()
    items = catalog_selectors.collection_item_ids_list(collection_id=collection)
    assert len(items) == 2 and api_client.get(f"/api/stac/collections/{collection}/items").status_code == 200
    assert api_client.get(mosaic_url).status_code == 200
    status = ddh_client.get(f"/api/platform/status/{job.id}").json()
    assert status["services"]["service_url"].endswith(mosaic_url)
    assert unquote(status["services"]["tiles"]).endswith(job.result["mosaic_tile_url_template"])
    external = run_job(status["external"]["job_id"])
    assert external.status == "completed", external.error
    copies = ddh_client.get(f"/api/platform/status/{job.id}").json()["external"]["copies"]
    assert len(copies) == 2 and all(c["blob"].endswith("/analysis.tif") for c in copies)
    r = ddh_client.post("/api/platform/revoke", {"job_id": job.id, "reviewer": "bob", "reason": "test"}, format="json")
    assert r.status_code == 200, r.json()
    assert catalog_selectors.collection_get(collection_id=collection) is None  # withdrawn at once
    r = ddh_client.post(
        "/api/platform/unpublish", {"job_id": job.id, "dry_run": False, "force_approved": True}, format="json"
    )
    assert r.status_code == 202, r.json()
    unpublished = run_job(r.json()["job_id"])
    assert unpublished.status == "completed", unpublished.error
    assert len(unpublished.result["blobs"]) == 2 and job.result["search_id"] in unpublished.result["searches"]
    mosaic.index_clear()
    assert api_client.get(mosaic_url).status_code == 404


def test_split_vector_release_is_approved_and_revoked_as_all_its_collections(
    real_job_types: None, ddh_client: Any, api_client: Any
) -> None:
    """A file mixing geometry types: one release, one collection per type, shown and hidden together."""
    with open(FIXTURE / "mixed_geometries.geojson", "rb") as fh:
        name = zone_storage("bronze").save("publishing-it/mixed_geometries.geojson", File(fh))
    body = {"dataset_id": "it", "resource_id": "mixed", "container_name": zone_container("bronze"), "file_name": name}
    r = ddh_client.post("/api/platform/submit", body, format="json")
    assert r.status_code == 202, r.json()
    job = run_job(r.json()["job_id"])
    assert job.status == "completed", job.error
    tables = ["it_mixed_v1_point", "it_mixed_v1_line", "it_mixed_v1_polygon"]
    status = ddh_client.get(r.json()["monitor_url"]).json()
    assert [c["collection_id"] for c in status["outputs"]["collections"]] == tables
    assert any(w.startswith("GEOMETRY_TYPE_SPLIT:") for w in status["warnings"])
    r = ddh_client.post(
        "/api/platform/approve",
        {"request_id": status["request_id"], "reviewer": "alice", "clearance_state": "ouo"},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert [s["collection_id"] for s in r.json()["services"]["collections"]] == tables
    assert all(api_client.get(f"/api/features/collections/{t}/items").status_code == 200 for t in tables)
    approvals = ddh_client.get(f"/api/platform/approvals/status?table_names={tables[1]}").json()
    assert approvals["tables"][tables[1]]["is_public"] is True
    r = ddh_client.post(
        "/api/platform/revoke",
        {"request_id": status["request_id"], "reviewer": "alice", "reason": "wrong vintage"},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert all(api_client.get(f"/api/features/collections/{t}/items").status_code == 404 for t in tables)
