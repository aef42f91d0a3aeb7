"""A blob rewritten under the same name is read anew by a long-lived process (GDAL's /vsiaz/ cache).

GDAL keeps, per process and per path, the size of each /vsiaz/ file it opened and the ranges
it downloaded, beyond the life of the dataset. A bronze file overwritten by a client, or a
silver COG written again by a forced re-run of the same job (the job id, hence the run
folder, comes from the parameters), must not be read from that cache: these tests write A,
read it the way the pipelines do, write B (other content, other size) under the same name in
the same process, and read again.
"""

from __future__ import annotations

import contextlib
import io
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from catalog import selectors as catalog_selectors
from geoplatform.storage import blob_delete, blob_save, is_remote, zone_container
from ingest import messages
from ingest.models import JobStatus
from rasters import cog, gdal, selectors, services, stages
from tests.ingest.inline import submit_inline

pytestmark = pytest.mark.django_db


def _tif(width: int, height: int, value: int) -> bytes:
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:4326",
        "transform": from_origin(-10, 10, 0.1, 0.1),
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(np.full((1, height, width), value, dtype="uint8"))
        return bytes(mem.read())


def _write(container: str, name: str, data: bytes) -> None:
    blob_save(container, name, io.BytesIO(data), size=len(data), overwrite=True)


@pytest.fixture
def blob_name() -> Iterator[str]:
    if not is_remote(zone_container("bronze")):
        pytest.skip("GDAL's /vsiaz/ cache: only with the azure storage backend")
    name = f"vsi-tests/{uuid.uuid4().hex[:10]}.tif"
    yield name
    gdal.pool_clear()
    for zone in ("bronze", "silver"):
        with contextlib.suppress(Exception):  # not written in that zone
            blob_delete(zone_container(zone), name)


def test_a_rewritten_bronze_geotiff_is_read_anew(blob_name: str) -> None:
    bronze = zone_container("bronze")
    _write(bronze, blob_name, _tif(64, 48, 1))
    with gdal.open_blob(bronze, blob_name) as ds:
        assert (ds.width, ds.height) == (64, 48)
        assert int(ds.read(1)[0, 0]) == 1
    _write(bronze, blob_name, _tif(200, 150, 7))  # a client's overwrite: other size, other pixels
    with gdal.open_blob(bronze, blob_name) as ds:
        assert (ds.width, ds.height) == (200, 150)
        assert int(ds.read(1).min()) == 7
    # What pre-flight and the validate stage see (the same opens).
    params = {"container_name": bronze, "file_name": blob_name, "collection_id": "c", "overwrite": True}
    assert stages.check_file(params, catalog=False) == []
    with gdal.open_blob(bronze, blob_name) as ds:
        assert cog.inspect(ds).width == 200


def test_a_rewritten_bronze_geotiff_is_read_anew_with_a_dataset_still_open(blob_name: str) -> None:
    """A windowed job's tasks open the source again and again; one may still be open elsewhere."""
    bronze = zone_container("bronze")
    _write(bronze, blob_name, _tif(64, 48, 1))
    with gdal.open_blob(bronze, blob_name) as first:
        assert first.width == 64
        _write(bronze, blob_name, _tif(200, 150, 7))
    with gdal.open_blob(bronze, blob_name) as ds:
        assert (ds.width, ds.height) == (200, 150)


def test_a_deleted_then_recreated_blob_is_found(blob_name: str) -> None:
    """GDAL also remembers that a path did not exist."""
    bronze = zone_container("bronze")
    with pytest.raises(rasterio.errors.RasterioIOError), gdal.open_blob(bronze, blob_name):
        pass
    _write(bronze, blob_name, _tif(32, 32, 3))
    with gdal.open_blob(bronze, blob_name) as ds:
        assert ds.width == 32


def test_a_rewritten_silver_cog_is_served_anew_by_the_dataset_pool(blob_name: str) -> None:
    """A forced re-run writes the same run folder again; the item's ``updated`` changes."""
    silver = zone_container("silver")
    _write(silver, blob_name, _tif(64, 48, 1))
    with gdal.gdal_env(), gdal.pooled_dataset(silver, blob_name, version="v1") as ds:
        assert ds.width == 64 and int(ds.read(1)[0, 0]) == 1
    _write(silver, blob_name, _tif(200, 150, 7))
    with gdal.gdal_env(), gdal.pooled_dataset(silver, blob_name, version="v2") as ds:
        assert (ds.width, ds.height) == (200, 150)
        assert int(ds.read(1).min()) == 7
    # The worker's one-shot opens (statistics of the registered COG, H3 aggregation) too.
    with gdal.open_blob(silver, blob_name) as ds:
        assert ds.width == 200


def test_a_silver_cog_rewritten_by_another_process_is_served_anew_on_its_new_version(blob_name: str) -> None:
    """The web process learns of a re-run only from the item's new ``updated``: the bytes are
    written elsewhere (a worker), so nothing in this process saw the write."""
    silver = zone_container("silver")
    _write(silver, blob_name, _tif(64, 48, 1))
    with gdal.gdal_env(), gdal.pooled_dataset(silver, blob_name, version="v1") as ds:
        assert ds.width == 64
    # Another process's write: straight through the Azure SDK, no hook of ours runs.
    from geoplatform.storage import get_storage

    data = _tif(200, 150, 7)
    client = get_storage(silver).client.get_blob_client(blob_name)  # type: ignore[attr-defined]
    client.upload_blob(data, length=len(data), overwrite=True)
    with gdal.gdal_env(), gdal.pooled_dataset(silver, blob_name, version="v2") as ds:
        assert (ds.width, ds.height) == (200, 150)
        assert int(ds.read(1).min()) == 7


def _requests(caplog: pytest.LogCaptureFixture) -> list[str]:
    """GDAL's /vsiaz/ requests, from its debug messages (CPL_DEBUG), which rasterio logs."""
    return [r.getMessage() for r in caplog.records if "AZURE: " in r.getMessage()]


def test_the_pool_still_reopens_an_unchanged_cog_without_a_request(
    blob_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What the fix keeps: the read API's datasets of an unchanged COG, closed (pool eviction,
    idle time) and opened again, need no request; a one-shot open reads the blob anew."""
    silver = zone_container("silver")
    _write(silver, blob_name, _tif(64, 48, 1))
    with gdal.gdal_env(), gdal.pooled_dataset(silver, blob_name, version="v1") as ds:
        ds.read(1)
    gdal.pool_clear()  # the dataset is closed
    with caplog.at_level(logging.DEBUG, logger="rasterio"), gdal.gdal_env(CPL_DEBUG="ON"):
        with gdal.pooled_dataset(silver, blob_name, version="v1") as ds:
            assert int(ds.read(1)[0, 0]) == 1
        assert _requests(caplog) == []
        gdal.pool_clear()
        with gdal.open_blob(silver, blob_name) as ds:
            ds.read(1)
        assert any("GetFileSize" in m for m in _requests(caplog)), _requests(caplog)
        caplog.clear()
        # A new version of the item: its blob is read anew.
        with gdal.pooled_dataset(silver, blob_name, version="v2") as ds:
            ds.read(1)
        assert any("GetFileSize" in m for m in _requests(caplog)), _requests(caplog)
    gdal.pool_clear()


def test_a_forced_rerun_over_a_rewritten_source_is_published_and_served_anew(
    blob_name: str, api_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path in one process (as one worker and one web process would each be): the
    client overwrites its bronze file and forces a re-run with the same parameters; the job id,
    hence the silver blob names, are the same; the new item's statistics, info and point values
    are the new file's."""
    bronze = zone_container("bronze")
    _write(bronze, blob_name, _tif(64, 48, 1))
    item_id = f"vsi-{uuid.uuid4().hex[:8]}"
    params = {"container_name": bronze, "file_name": blob_name, "item_id": item_id, "overwrite": True}
    monkeypatch.setattr(messages, "task_messages_send", lambda *args, **kwargs: None)
    first = submit_inline("process_raster", params)
    assert first.status == JobStatus.COMPLETED, first.error
    base = f"/api/raster/system-rasters/{item_id}"
    try:
        assert api_client.get(base + "/info").json()["width"] == 64
        assert api_client.get(base + "/point", {"lon": -9.5, "lat": 9.5}).json()["values"] == [1]
        assert api_client.get(base + "/statistics").json()["b1"]["min"] == 1
        blobs = [a["href"].rsplit("/", 1)[-1] for a in (first.result or {}).get("assets", [])]

        _write(bronze, blob_name, _tif(200, 150, 7))
        again = submit_inline("process_raster", params, force=True)
        assert again.id == first.id and again.status == JobStatus.COMPLETED, again.error
        assert [a["href"].rsplit("/", 1)[-1] for a in (again.result or {}).get("assets", [])] == blobs
        item = catalog_selectors.item_get(collection_id="system-rasters", item_id=item_id)
        assert item is not None
        band = item["assets"]["analysis"]["bands"][0]
        assert band["statistics"]["minimum"] == 7 == band["statistics"]["maximum"], band  # the register stage's read
        selectors.item_cache_clear()  # the web process's item cache expires (RASTER_ITEM_CACHE_SECONDS)
        assert api_client.get(base + "/info").json()["width"] == 200
        assert api_client.get(base + "/point", {"lon": -9.5, "lat": 9.5}).json()["values"] == [7]
        assert api_client.get(base + "/statistics").json()["b1"]["min"] == 7
    finally:
        services.raster_unpublish(collection_id="system-rasters", item_id=item_id, dry_run=False)
        selectors.item_cache_clear()
