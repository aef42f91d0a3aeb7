"""process_raster_collection: a manifest of files -> one COG each -> a STAC collection."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from geoplatform import storage
from geoplatform.storage import get_storage
from ingest import registry
from rasters import services
from tests.rasters.conftest import run_job_inline

pytestmark = pytest.mark.django_db


def _collection_items(collection_id: str) -> list[str]:
    from catalog.selectors import item_get

    return [i for i in ("lc", "olinda_dem_utm25s", "dem") if item_get(collection_id=collection_id, item_id=i)]


def test_manifest_to_collection_and_cleanup(
    upload: Callable[..., str], bronze: str, api_client: Any, settings: Any
) -> None:
    from catalog.selectors import collection_get, item_get

    # The DEM (50 kB) is "large" here: one collection mixes a file converted whole and one by windows.
    settings.GEOPLATFORM_RASTER_LARGE_BYTES = 20_000
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
            "window_size": 256,
        }
        job_id, result, _ = run_job_inline("process_raster_collection", params)
        silver_blobs = storage.blob_list(services.zone_container("silver"), "rasters/test-raster-coll")
        assert len(silver_blobs) == 2 and not [b for b in silver_blobs if "/parts/" in b]
        lc_id = lc.split("/")[-1].removesuffix(".tif")
        assert result["collection_id"] == "test-raster-coll" and sorted(result["item_ids"]) == sorted([lc_id, "dem"])
        sid = result["search_id"]
        assert result["mosaic_tilejson_url"] == f"/api/raster/mosaic/{sid}/tilejson.json"
        assert (
            result["mosaic_tile_url_template"]
            == f"/api/raster/mosaic/{sid}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png"
        )
        assert 0 <= result["mosaic_minzoom"] <= result["mosaic_maxzoom"]
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
        assert storage.blob_list(services.zone_container("silver"), "rasters/test-raster-coll") == []
    finally:
        get_storage(bronze).delete(manifest)
        for item_id in ("dem", lc.split("/")[-1].removesuffix(".tif")):
            services.raster_unpublish(collection_id="test-raster-coll", item_id=item_id, dry_run=False)


def test_collection_preflight(upload: Callable[..., str], bronze: str, operator_client: Any) -> None:
    def submit(params: dict[str, Any]) -> Any:
        return operator_client.post("/api/jobs/submit/process_raster_collection", {"parameters": params}, format="json")

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
    zooms = submit({"container_name": bronze, "collection_id": "c1", "files": [lc], "minzoom": 5, "maxzoom": 2})
    assert zooms.status_code == 400 and "minzoom 5 is above maxzoom 2" in str(zooms.json()["details"])
    system_unpublish = operator_client.post(
        "/api/jobs/submit/unpublish_raster_collection",
        {"parameters": {"collection_id": "system-rasters"}},
        format="json",
    )
    assert system_unpublish.status_code == 400 and "unpublish_raster" in str(system_unpublish.json()["details"])


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
        params = {"container_name": bronze, "files": files, "collection_id": "test-mosaic"}
        result = run_job_inline("process_raster_collection", params)[1]
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

        # The registered search's mosaic: same pixels as the collection mosaic, stable id, zoom range.
        again = run_job_inline("process_raster_collection", {**params, "overwrite": True})[1]
        assert again["search_id"] == result["search_id"]
        sid, lo, hi = result["search_id"], result["mosaic_minzoom"], result["mosaic_maxzoom"]
        assert (lo, hi) == (0, 2)
        stj = api_client.get(result["mosaic_tilejson_url"]).json()
        assert (stj["minzoom"], stj["maxzoom"]) == (lo, hi) and stj["name"] == "test-mosaic"
        assert stj["bounds"] == pytest.approx([-180, -90, 180, 90], abs=1e-6)
        assert stj["tiles"][0].endswith(f"/api/raster/mosaic/{sid}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png")
        for zxy in ("0/0/0", "2/0/1"):
            by_search = api_client.get(f"/api/raster/mosaic/{sid}/tiles/WebMercatorQuad/{zxy}.png")
            by_collection = api_client.get(base + f"/tiles/WebMercatorQuad/{zxy}.png")
            assert by_search.status_code == 200 and by_search["Content-Type"] == "image/png"
            assert by_search.content == by_collection.content and by_search["ETag"] == by_collection["ETag"]
            assert by_search["Cache-Control"] == by_collection["Cache-Control"]
            assert sorted(by_search["X-Mosaic-Items"].split(",")) == sorted(by_collection["X-Mosaic-Items"].split(","))
        etag = by_search["ETag"]
        cached = api_client.get(f"/api/raster/mosaic/{sid}/tiles/WebMercatorQuad/2/0/1.png", HTTP_IF_NONE_MATCH=etag)
        assert cached.status_code == 304
        too_deep = api_client.get(f"/api/raster/mosaic/{sid}/tiles/WebMercatorQuad/{hi + 1}/0/0.png")
        assert too_deep.status_code == 400 and f"{lo}..{hi}" in too_deep.json()["message"]

        # A narrower registered zoom range is enforced at the low end too.
        from catalog.services import search_register

        narrow = search_register(search={"collections": ["test-mosaic"]}, metadata={"minzoom": 1, "maxzoom": 3})
        too_far = api_client.get(f"/api/raster/mosaic/{narrow}/tiles/WebMercatorQuad/0/0/0.png")
        assert too_far.status_code == 400 and too_far.json()["details"] == {"z": 0, "minzoom": 1, "maxzoom": 3}
        assert api_client.get(f"/api/raster/mosaic/{narrow}/tiles/WebMercatorQuad/1/0/0.png").status_code == 200
        unknown = api_client.get(f"/api/raster/mosaic/{'0' * 32}/tiles/WebMercatorQuad/1/0/0.png")
        assert unknown.status_code == 404 and "search" in unknown.json()["message"]
        assert api_client.get(f"/api/raster/mosaic/{'0' * 32}/tilejson.json").status_code == 404

        # The whole collection unpublished: a dry run lists, the live run removes, the mosaic URLs go.
        from catalog.selectors import collection_get

        silver = services.zone_container("silver")
        listed = run_job_inline("unpublish_raster_collection", {"collection_id": "test-mosaic"})[1]
        assert listed["dry_run"] and listed["stac_collection"] == "test-mosaic"
        assert listed["stac_items"] == ["test-mosaic/east", "test-mosaic/west"]
        # (pgSTAC's search() also stores the searches the collection mosaic ran: they go too.)
        assert {sid, narrow} <= set(listed["searches"]) and len(listed["blobs"]) == 2
        assert api_client.get(f"/api/raster/mosaic/{sid}/tiles/WebMercatorQuad/1/0/0.png").status_code == 200
        removed = run_job_inline("unpublish_raster_collection", {"collection_id": "test-mosaic", "dry_run": False})[1]
        assert removed["blobs"] == listed["blobs"] and removed["searches"] == listed["searches"]
        assert collection_get(collection_id="test-mosaic") is None
        assert storage.blob_list(silver, "rasters/test-mosaic") == []
        mosaic.index_clear()
        assert api_client.get(f"/api/raster/mosaic/{sid}/tilejson.json").status_code == 404
        assert api_client.get(f"/api/raster/mosaic/{sid}/tiles/WebMercatorQuad/1/0/0.png").status_code == 404
        assert api_client.get(base + "/tiles/WebMercatorQuad/0/0/0.png").status_code == 404
        assert api_client.get("/api/stac/collections/test-mosaic").status_code == 404
        twice = run_job_inline(
            "unpublish_raster_collection", {"collection_id": "test-mosaic", "dry_run": False, "run_tag": "again"}
        )[1]
        assert (twice["blobs"], twice["stac_items"], twice["searches"], twice["stac_collection"]) == ([], [], [], None)
    finally:
        for item_id in ("west", "east"):
            services.raster_unpublish(collection_id="test-mosaic", item_id=item_id, dry_run=False)
        mosaic.index_clear()
