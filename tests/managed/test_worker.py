"""End to end through the broker and a real worker: trigger -> update job -> ingest job ->
watcher actor -> swap. The other tests drive the same code in-process."""

from __future__ import annotations

import time
from typing import Any

import pytest

from managed.models import ManagedSource, SourceVersion, VersionStatus

from .conftest import V1, V2, geojson

PATH = "/data/places.geojson"


def _wait_version(source: ManagedSource, number: int, timeout: float = 90) -> SourceVersion:
    deadline = time.monotonic() + timeout
    version = None
    while time.monotonic() < deadline:
        version = SourceVersion.objects.filter(source=source, number=number).first()
        if version is not None and version.status not in ("checking", "downloading", "ingesting"):
            return version
        time.sleep(0.2)
    raise AssertionError(f"version {number} still {getattr(version, 'status', None)} after {timeout}s")


@pytest.mark.django_db(transaction=True)
def test_update_through_the_worker(live_worker: Any, manager_client: Any, source_server: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    body = {"name": "places", "handler": "http_file", "location": url, "collection_id": "places_e2e"}
    assert manager_client.post("/api/managed/sources", body, format="json").status_code == 201
    source = ManagedSource.objects.get(name="places")
    first = manager_client.post("/api/managed/sources/places/update", {}, format="json")
    assert first.status_code == 202, first.content
    assert _wait_version(source, 1).status == VersionStatus.LIVE
    source_server.put(PATH, geojson(V2))
    assert manager_client.post("/api/managed/sources/places/update", {}, format="json").status_code == 202
    second = _wait_version(source, 2)
    assert second.status == VersionStatus.LIVE, second.error
    assert SourceVersion.objects.get(source=source, number=1).status == VersionStatus.PREVIOUS
    # Leave nothing behind for the next tests (tables live outside the flushed Django tables).
    assert manager_client.delete("/api/managed/sources/places").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_raster_update_through_the_worker(
    live_worker: Any, manager_client: Any, source_server: Any, api_client: Any
) -> None:
    from tests.conftest import FIXTURES

    url = source_server.put("/rasters/lc.tif", (FIXTURES / "lc.tif").read_bytes())
    body = {
        "name": "lc-e2e",
        "handler": "http_file",
        "location": url,
        "target_kind": "raster",
        "collection_id": "lc_e2e",
    }
    assert manager_client.post("/api/managed/sources", body, format="json").status_code == 201
    source = ManagedSource.objects.get(name="lc-e2e")
    assert manager_client.post("/api/managed/sources/lc-e2e/update", {}, format="json").status_code == 202
    first = _wait_version(source, 1)
    assert first.status == VersionStatus.LIVE, first.error
    info = api_client.get("/api/raster/system-rasters/lc_e2e/info")
    assert info.status_code == 200, info.content
    forced = manager_client.post("/api/managed/sources/lc-e2e/update", {"force": True}, format="json")
    assert forced.status_code == 202, forced.content
    second = _wait_version(source, 2)
    assert second.status == VersionStatus.LIVE, second.error
    assert SourceVersion.objects.get(source=source, number=1).status == VersionStatus.PREVIOUS
    assert api_client.get("/api/raster/system-rasters/lc_e2e/info").status_code == 200
    # pgSTAC items and COGs live outside the flushed Django tables.
    assert manager_client.delete("/api/managed/sources/lc-e2e").status_code == 200
    assert api_client.get("/api/raster/system-rasters/lc_e2e/info").status_code == 404
