"""A release's artifacts are named once per data kind (publishing.kinds): the unpublish dry run
lists exactly what the live run then removes, and the external copy takes its blobs from the
same listing. Through HTTP and the real worker, for a vector release whose file mixes geometry
types (one release, three collections) and a raster release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.db import connection
from rest_framework.test import APIClient

from features.models import VectorDataset
from geoplatform.storage import zone_container, zone_storage
from tests.conftest import wait_for_job
from tests.publishing.conftest import poll_status

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
P = "/api/platform"


def _upload(path: Path) -> str:
    with open(path, "rb") as fh:
        return zone_storage("bronze").save(f"publishing-artifacts/{path.name}", File(fh))


def _blobs(zone: str) -> set[str]:
    storage = zone_storage(zone)
    client = getattr(storage, "client", None)
    if client is not None:  # Azure (Azurite in tests)
        return {b.name for b in client.list_blobs()}
    root = Path(storage.location)  # type: ignore[attr-defined]
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _state() -> dict[str, set[str]]:
    """Everything a release can leave behind, by kind of place."""
    with connection.cursor() as cur:
        cur.execute("SELECT 'geo.' || tablename FROM pg_tables WHERE schemaname = 'geo'")
        tables = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT collection || '/' || id FROM pgstac.items")
        items = {r[0] for r in cur.fetchall()}
    return {
        "tables": tables,
        "collections": set(VectorDataset.objects.values_list("collection_id", flat=True)),
        "stac_items": items,
        "silver_blobs": _blobs("silver"),
        "external_blobs": _blobs("external"),
    }


def _approve_public_and_copy(client: APIClient, status: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(
        f"{P}/approve",
        {"request_id": status["request_id"], "reviewer": "alice", "clearance_state": "public"},
        format="json",
    )
    assert resp.status_code == 200, resp.json()
    external = client.get(f"{P}/status/{status['request_id']}").json()["external"]
    job = wait_for_job(external["job_id"], timeout=60)
    assert job.status == "completed", job.error
    return dict(client.get(f"{P}/status/{status['request_id']}").json())


def _unpublish_matches_dry_run(client: APIClient, status: dict[str, Any]) -> dict[str, Any]:
    """Dry run, then the live run; what disappeared is exactly what the dry run listed."""
    dry = client.post(f"{P}/unpublish", {"request_id": status["request_id"], "force_approved": True}, format="json")
    assert dry.status_code == 200 and dry.json()["dry_run"] is True, dry.json()
    listed = dry.json()["would_delete"]
    before = _state()
    live = client.post(
        f"{P}/unpublish", {"request_id": status["request_id"], "dry_run": False, "force_approved": True}, format="json"
    )
    assert live.status_code == 202, live.json()
    assert wait_for_job(live.json()["job_id"], timeout=60).status == "completed"
    external_job = client.get(f"{P}/status/{status['request_id']}").json().get("external", {}).get("job_id")
    if listed["external_blobs"]:
        assert wait_for_job(external_job, timeout=60).status == "completed"
    after = _state()
    for kind, now in before.items():
        assert before[kind] - after[kind] == set(listed[kind]), kind
        assert set(listed[kind]) <= now, kind  # it listed only what existed
    return dict(listed)


def test_dry_run_lists_exactly_what_the_live_unpublish_removes(
    live_worker: Any, ddh_client: APIClient, api_client: APIClient
) -> None:
    bronze = zone_container("bronze")
    bodies = {
        "mixed": {
            "file_name": _upload(FIXTURES / "features" / "mixed_geometries.geojson"),
            "processing_options": {"create_stac": True},
        },
        "landcover": {"file_name": _upload(FIXTURES / "lc.tif")},
    }
    submitted = {}
    for resource, extra in bodies.items():
        body = {"dataset_id": "kinds", "resource_id": resource, "container_name": bronze, **extra}
        resp = ddh_client.post(f"{P}/submit", body, format="json")
        assert resp.status_code == 202, resp.json()
        submitted[resource] = resp.json()
    done = {name: poll_status(ddh_client, s["monitor_url"]) for name, s in submitted.items()}
    for status in done.values():
        assert status["release"]["processing_status"] == "completed", status

    # One vector release, three collections (one per geometry type), each its own service.
    vector = done["mixed"]
    tables = ["kinds_mixed_v1_point", "kinds_mixed_v1_line", "kinds_mixed_v1_polygon"]
    assert [c["collection_id"] for c in vector["outputs"]["collections"]] == tables
    assert any(w.startswith("GEOMETRY_TYPE_SPLIT:") for w in vector["warnings"]), vector["warnings"]
    assert any(w.startswith("NULL_GEOMETRY_DROPPED: 3 ") for w in vector["warnings"])
    for table in tables:  # awaiting review: none is public
        assert api_client.get(f"/api/features/collections/{table}/items").status_code == 404
    vector = _approve_public_and_copy(ddh_client, vector)
    services = vector["services"]["collections"]
    assert [s["collection_id"] for s in services] == tables
    for service in services:
        assert api_client.get(service["service_url"]).status_code == 200
        assert service["stac_item"].endswith(f"/api/stac/collections/system-vectors/items/{service['collection_id']}")
    lookup = ddh_client.get(f"{P}/catalog/lookup?dataset_id=kinds&resource_id=mixed").json()
    assert [s["collection_id"] for s in lookup["services"]["collections"]] == tables
    copies = sorted(c["blob"] for c in vector["external"]["copies"])
    assert copies == sorted(f"exports/{t}.parquet" for t in tables)

    listed = _unpublish_matches_dry_run(ddh_client, vector)
    assert sorted(listed["tables"]) == sorted(f"geo.{t}" for t in tables)
    assert sorted(listed["stac_items"]) == sorted(f"system-vectors/{t}" for t in tables)
    assert sorted(listed["silver_blobs"]) == sorted(listed["external_blobs"]) == copies  # the GeoParquet exports
    for table in tables:
        assert ddh_client.get(f"/api/features/collections/{table}/items").status_code == 404

    raster = _approve_public_and_copy(ddh_client, done["landcover"])
    cogs = sorted(c["blob"] for c in raster["external"]["copies"])
    assert cogs and all(b.startswith("rasters/system-rasters/kinds-landcover-v1/") for b in cogs)
    listed = _unpublish_matches_dry_run(ddh_client, raster)
    assert listed["external_blobs"] == cogs
    # Silver also holds what earlier runs of the same item left (listed and removed too).
    assert set(cogs) <= set(listed["silver_blobs"])
    assert all(b.startswith("rasters/system-rasters/kinds-landcover-v1/") for b in listed["silver_blobs"])
    assert listed["stac_items"] == ["system-rasters/kinds-landcover-v1"] and listed["tables"] == []
