"""process_raster_collection: a manifest of files -> one COG each -> a STAC collection."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from geoplatform.storage import get_storage
from ingest import registry
from rasters import services
from tests.rasters.conftest import run_job_inline

pytestmark = pytest.mark.django_db


def _collection_items(collection_id: str) -> list[str]:
    from catalog.selectors import item_get

    return [i for i in ("lc", "olinda_dem_utm25s", "dem") if item_get(collection_id=collection_id, item_id=i)]


def test_manifest_to_collection_and_cleanup(upload: Callable[..., str], bronze: str, api_client: Any) -> None:
    from catalog.selectors import collection_get, item_get

    lc, dem = upload("lc.tif"), upload("olinda_dem_utm25s.tif")
    manifest = f"tests/manifest-{lc.split('/')[1][:10]}.json"
    get_storage(bronze).save(
        manifest, ContentFile(json.dumps({"files": [lc, {"file_name": dem, "item_id": "dem"}]}).encode())
    )
    try:
        params = {
            "container_name": bronze,
            "manifest": manifest,
            "collection_id": "test-raster-coll",
            "title": "Two rasters",
            "metadata": {"ddh:dataset_id": "DS-9"},
        }
        job_id, result, _ = run_job_inline("process_raster_collection", params)
        lc_id = lc.split("/")[-1].removesuffix(".tif")
        assert result["collection_id"] == "test-raster-coll" and sorted(result["item_ids"]) == sorted([lc_id, "dem"])
        collection = collection_get(collection_id="test-raster-coll")
        assert collection is not None and collection["title"] == "Two rasters"
        assert collection["summaries"]["geoplatform:raster_type"] == ["categorical", "dem"]
        dem_item = item_get(collection_id="test-raster-coll", item_id="dem")
        assert dem_item is not None and dem_item["properties"]["ddh:dataset_id"] == "DS-9"
        assert "title" not in dem_item["properties"]
        tile = api_client.get("/api/raster/test-raster-coll/dem/preview.png")
        assert tile.status_code == 200

        # Cleanup (as after a failure): this run's COGs, items and collection are gone.
        jt = registry.get("process_raster_collection")
        assert jt.cleanup is not None
        jt.cleanup(job_id, jt.clean_params(params))
        assert collection_get(collection_id="test-raster-coll") is None
        assert services._list_blobs(services.zone_container("silver"), "rasters/test-raster-coll") == []
    finally:
        get_storage(bronze).delete(manifest)
        for item_id in ("dem", lc.split("/")[-1].removesuffix(".tif")):
            services.raster_unpublish(collection_id="test-raster-coll", item_id=item_id, dry_run=False)


def test_collection_preflight(upload: Callable[..., str], bronze: str, auth_client: Any) -> None:
    def submit(params: dict[str, Any]) -> Any:
        return auth_client.post("/api/jobs/submit/process_raster_collection", {"parameters": params}, format="json")

    lc = upload("lc.tif")
    nothing = submit({"container_name": bronze, "collection_id": "c1"})
    assert nothing.status_code == 400 and "files" in str(nothing.json()["details"])
    dupes = submit({"container_name": bronze, "collection_id": "c1", "files": [lc, lc]})
    assert dupes.status_code == 400 and "repeat" in str(dupes.json()["details"])
    missing = submit({"container_name": bronze, "collection_id": "c1", "files": [lc, "tests/missing.tif"]})
    assert missing.status_code == 400 and "tests/missing.tif" in str(missing.json()["details"])
    system = submit({"container_name": bronze, "collection_id": "system-rasters", "files": [lc]})
    assert system.status_code == 400 and "own collection" in str(system.json()["details"])
    no_manifest = submit({"container_name": bronze, "collection_id": "c1", "manifest": "tests/none.json"})
    assert no_manifest.status_code == 400


def _half(fixture: str, west: bool, tmp_path: Any) -> bytes:
    import rasterio
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    from tests.conftest import FIXTURES

    with rasterio.open(FIXTURES / fixture) as src:
        half = src.width // 2
        window = Window(0 if west else half, 0, half, src.height)
        profile = {**src.profile, "width": half, "transform": window_transform(window, src.transform)}
        path = tmp_path / f"{'w' if west else 'e'}.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(src.read(window=window))
    return path.read_bytes()


def test_collection_mosaic_tiles(upload: Callable[..., str], bronze: str, api_client: Any, tmp_path: Any) -> None:
    from rasters import mosaic

    west = upload(content=_half("natural_earth_1_downsampled_cog.tif", True, tmp_path))
    east = upload(content=_half("natural_earth_1_downsampled_cog.tif", False, tmp_path))
    files = [{"file_name": west, "item_id": "west"}, {"file_name": east, "item_id": "east"}]
    mosaic.index_clear()
    try:
        run_job_inline(
            "process_raster_collection", {"container_name": bronze, "files": files, "collection_id": "test-mosaic"}
        )
        base = "/api/raster/mosaic/collections/test-mosaic"
        tj = api_client.get(base + "/tilejson.json").json()
        assert tj["bounds"] == pytest.approx([-180, -90, 180, 90], abs=1e-6)
        assert "/mosaic/collections/test-mosaic/tiles/WebMercatorQuad/{z}/{x}/{y}.png" in tj["tiles"][0]
        whole = api_client.get(base + "/tiles/WebMercatorQuad/0/0/0.png")
        assert whole.status_code == 200 and whole["Content-Type"] == "image/png"
        assert sorted(whole["X-Mosaic-Items"].split(",")) == ["east", "west"]
        one = api_client.get(base + "/tiles/WebMercatorQuad/2/0/1.png")  # the west only
        assert one.status_code == 200 and one["X-Mosaic-Items"] == "west"
        assert api_client.get(base + "/tiles/WebMercatorQuad/0/0/0.png?pixel_selection=mean").status_code == 200
        assert api_client.get(base + "/tiles/WebMercatorQuad/0/0/0.png?pixel_selection=best").status_code == 400
        assert api_client.get(base + "/tiles/WebMercatorQuad/1/5/5.png").status_code == 404
        missing = api_client.get("/api/raster/mosaic/collections/no-such/tiles/WebMercatorQuad/0/0/0.png")
        assert missing.status_code == 404
    finally:
        for item_id in ("west", "east"):
            services.raster_unpublish(collection_id="test-mosaic", item_id=item_id, dry_run=False)
        mosaic.index_clear()
