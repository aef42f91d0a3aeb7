"""Real clients against a real server: GDAL/OGR's OAPIF driver and OWSLib on ``live_server``,
and process_vector end to end through the broker and a real worker process."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(put_fixture: Any, submit_inline: Any) -> Iterator[str]:
    """nc.gpkg loaded (committed: the live server's thread reads it), removed afterwards."""
    from features.services import dataset_unpublish

    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_live", title="NC counties")
    assert job.status == "completed", job.error
    yield "nc_live"
    dataset_unpublish(collection_id="nc_live", dry_run=False)


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin not installed")
def test_ogrinfo_reads_the_api(live_server: Any, published: str) -> None:
    url = f"OAPIF:{live_server.url}/api/features"
    listing = subprocess.run(["ogrinfo", "-ro", "-q", url], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "nc_live" in listing.stdout
    summary = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", url, "-where", "NAME = 'Ashe'"], capture_output=True, text=True, timeout=60
    )
    assert summary.returncode == 0, summary.stderr
    assert "Feature Count: 1\n" in summary.stdout, summary.stdout + summary.stderr
    full = subprocess.run(["ogrinfo", "-ro", "-al", "-q", url, "nc_live"], capture_output=True, text=True, timeout=60)
    assert full.returncode == 0, full.stderr
    assert full.stdout.count("OGRFeature(nc_live)") == 100  # all pages, through the next links


def test_leaflet_is_served_from_our_static_files(live_server: Any) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{live_server.url}/static/vendor/leaflet/leaflet.js", timeout=30) as resp:
        assert resp.status == 200 and b"Leaflet" in resp.read(2000)


def test_owslib_reads_the_api(live_server: Any, published: str) -> None:
    from owslib.ogcapi.features import Features

    api = Features(f"{live_server.url}/api/features")
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    ids = [c["id"] for c in api.collections()["collections"]]
    assert "nc_live" in ids
    assert api.collection("nc_live")["title"] == "NC counties"
    items = api.collection_items("nc_live", limit=7, bbox=[-84.4, 33.8, -75.4, 36.6])
    assert items["numberReturned"] == 7 and items["numberMatched"] == 100
    one = api.collection_item("nc_live", str(items["features"][0]["id"]))
    assert one["properties"]["name"] == items["features"][0]["properties"]["name"]
    assert "paths" in api.api()


def test_process_vector_end_to_end_through_the_worker(
    live_worker: Any, operator_client: Any, put_fixture: Any, api_client: Any
) -> None:
    from features.services import dataset_unpublish

    name = put_fixture("cities_shp.zip")
    params = {"file_name": name, "table_name": "cities_e2e", "title": "Cities", "create_stac": True, "chunk_rows": 100}
    resp = operator_client.post("/api/jobs/submit/process_vector", {"parameters": params}, format="json")
    assert resp.status_code == 202, resp.content
    try:
        job = wait_for_job(resp.json()["job_id"], timeout=120)
        assert job.status == "completed", job.error
        assert job.result["collection_id"] == "cities_e2e"
        assert job.result["items_url"].endswith("/api/features/collections/cities_e2e/items")
        page = json.loads(b"".join(api_client.get("/api/features/collections/cities_e2e/items").streaming_content))
        assert page["numberMatched"] == 243
        from catalog import selectors as catalog_selectors

        item = catalog_selectors.item_get(collection_id="system-vectors", item_id="cities_e2e")
        assert item is not None and item["assets"]["features"]["type"] == "application/geo+json"
        # Submit-time checks answer 409 / 400 before any job exists.
        again = operator_client.post(
            "/api/jobs/submit/process_vector", {"parameters": {**params, "title": "x"}}, format="json"
        )
        assert again.status_code == 409, again.content
        bad = operator_client.post(
            "/api/jobs/submit/process_vector", {"parameters": {"file_name": "nope.gpkg"}}, format="json"
        )
        assert bad.status_code == 400 and "nope.gpkg" in json.dumps(bad.json())
    finally:
        dataset_unpublish(collection_id="cities_e2e", dry_run=False)


def test_failed_job_cleanup_through_the_worker(live_worker: Any, operator_client: Any, put_file: Any) -> None:
    from features import sql
    from features.models import VectorDataset

    # A feature whose GeometryCollection mixes a point and a polygon fits no one table.
    data = (
        b'{"type":"FeatureCollection","features":['
        b'{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1,2]}},'
        b'{"type":"Feature","properties":{},"geometry":{"type":"GeometryCollection","geometries":['
        b'{"type":"Point","coordinates":[1,2]},'
        b'{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}]}}]}'
    )
    name = put_file("features-tests/mixed-e2e.geojson", data)
    resp = operator_client.post(
        "/api/jobs/submit/process_vector", {"parameters": {"file_name": name, "table_name": "mixed_e2e"}}, format="json"
    )
    assert resp.status_code == 202, resp.content
    job_id = resp.json()["job_id"]
    job = wait_for_job(job_id, timeout=60)
    assert job.status == "failed" and job.error["code"] == "mixed_geometry_collection"
    import time

    from ingest.models import JobEvent

    deadline = time.monotonic() + 20
    while not JobEvent.objects.filter(job_id=job_id, kind="cleaned_up").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert JobEvent.objects.filter(job_id=job_id, kind="cleaned_up").exists()
    assert not sql.table_exists("mixed_e2e") and not sql.table_exists(sql.load_table_name(job_id))
    assert not VectorDataset.objects.filter(pk="mixed_e2e").exists()
