"""OGC API Tiles (vector) through HTTP: tilesets, TileJSON, tile matrix sets, MVT tiles
(decoded by GDAL's own MVT driver, a real client of the format), the per-tile cap, ETags,
empty and out-of-range tiles, and reviewers' preview."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from features import tiles

pytestmark = [pytest.mark.django_db]

BASE = "/api/features"
# z4 tile 4/6 holds all of North Carolina (lon -84.3..-75.5, lat 33.9..36.6).
NC_TILE = "WebMercatorQuad/4/4/6"


@pytest.fixture
def nc(put_fixture: Any, submit_inline: Any) -> str:
    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_tiles", title="NC counties")
    assert job.status == "completed", job.error
    return "nc_tiles"


def decode(data: bytes, z: int, x: int, y: int) -> list[dict[str, Any]]:
    """The tile's features as GeoJSON in CRS84, read by GDAL's MVT driver."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tile.mvt"
        path.write_bytes(data)
        out = subprocess.run(
            ["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", "-t_srs", "EPSG:4326",
             "-oo", f"X={x}", "-oo", f"Y={y}", "-oo", f"Z={z}", f"MVT:{path}"],
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip
    return list(json.loads(out.stdout)["features"])


def test_documents(api_client: APIClient, nc: str) -> None:
    landing = api_client.get(f"{BASE}/", HTTP_ACCEPT="application/json").json()
    assert any(x["rel"] == tiles.REL_TILING_SCHEMES for x in landing["links"])
    oas = json.loads(api_client.get(f"{BASE}/api").content)
    assert "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileCol}/{tileRow}" in oas["paths"]
    from drf_spectacular.validation import validate_schema

    validate_schema(oas)
    conformance = api_client.get(f"{BASE}/conformance").json()["conformsTo"]
    assert set(tiles.CONFORMANCE) <= set(conformance)
    collection = api_client.get(f"{BASE}/collections/{nc}", HTTP_ACCEPT="application/json").json()
    (link,) = [x for x in collection["links"] if x["rel"] == tiles.REL_TILESETS_VECTOR]
    sets = api_client.get(link["href"]).json()["tilesets"]
    assert [s["tileMatrixSetURI"].rsplit("/", 1)[1] for s in sets] == list(tiles.TILE_MATRIX_SETS)
    tileset = api_client.get(f"{BASE}/collections/{nc}/tiles/WebMercatorQuad").json()
    assert tileset["dataType"] == "vector" and tileset["crs"].endswith("/3857")
    (layer,) = tileset["layers"]
    assert layer["id"] == nc and layer["geometryDimension"] == 2 and "name" in layer["propertiesSchema"]["properties"]
    (item,) = [x for x in tileset["links"] if x["rel"] == "item"]
    assert (
        item["templated"] and item["type"] == tiles.MVT and item["href"].endswith("/{tileMatrix}/{tileCol}/{tileRow}")
    )
    tilejson = api_client.get(f"{BASE}/collections/{nc}/tiles/WebMercatorQuad?f=tilejson&properties=name").json()
    assert tilejson["tilejson"] == "3.0.0" and tilejson["vector_layers"][0]["id"] == nc
    assert tilejson["tiles"][0].endswith(f"/collections/{nc}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}?properties=name")
    assert tilejson["bounds"][0] == pytest.approx(-84.32, abs=0.01)
    listed = api_client.get(f"{BASE}/tileMatrixSets").json()["tileMatrixSets"]
    assert [t["id"] for t in listed] == list(tiles.TILE_MATRIX_SETS)
    wmq = api_client.get(f"{BASE}/tileMatrixSets/WebMercatorQuad").json()
    assert wmq["id"] == "WebMercatorQuad" and len(wmq["tileMatrices"]) == 25
    assert api_client.get(f"{BASE}/tileMatrixSets/NoSuchGrid").status_code == 404
    assert api_client.get(f"{BASE}/collections/{nc}/tiles/WebMercatorQuad?f=xml").status_code == 400
    assert api_client.get(f"{BASE}/collections/nope/tiles").status_code == 404


def test_tile_is_mvt_with_every_feature_and_cache_headers(api_client: APIClient, nc: str) -> None:
    resp = api_client.get(f"{BASE}/collections/{nc}/tiles/{NC_TILE}")
    assert resp.status_code == 200 and resp["Content-Type"] == tiles.MVT
    assert resp["X-Features-Limit"] == str(tiles.max_features()) and resp["X-Features-Dropped"] == "0"
    assert resp["Cache-Control"].startswith("public, max-age=") and resp["ETag"]
    assert "X-Features-Dropped" in resp["Access-Control-Expose-Headers"]
    features = decode(resp.content, 4, 4, 6)
    assert len(features) == 100
    assert {"name", "fips"} <= set(features[0]["properties"])
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    lons = [pt[0] for f in features for pt in _ring(f["geometry"])]
    assert -84.5 < min(lons) < -84.0 and -75.8 < max(lons) < -75.2  # in place, not shifted
    # The same tile again, with its ETag: 304 without making the tile.
    again = api_client.get(f"{BASE}/collections/{nc}/tiles/{NC_TILE}", HTTP_IF_NONE_MATCH=resp["ETag"])
    assert again.status_code == 304 and again["ETag"] == resp["ETag"]
    # Chosen properties only.
    some = api_client.get(f"{BASE}/collections/{nc}/tiles/{NC_TILE}?properties=name")
    assert set(decode(some.content, 4, 4, 6)[0]["properties"]) == {"name", "mvt_id"}  # mvt_id: the feature id


def _ring(geometry: dict[str, Any]) -> list[list[float]]:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return [pt for polygon in polygons for pt in polygon[0]]


def test_cap_says_what_was_dropped(api_client: APIClient, nc: str) -> None:
    resp = api_client.get(f"{BASE}/collections/{nc}/tiles/{NC_TILE}?limit=10")
    assert resp.status_code == 200
    assert resp["X-Features-Limit"] == "10" and resp["X-Features-Dropped"] == "90"
    assert resp["X-Features-Dropped-Type"] == "exact"
    assert len(decode(resp.content, 4, 4, 6)) == 10


def test_zooms_simplify_and_clip(api_client: APIClient, nc: str) -> None:
    """A low zoom holds fewer vertices than a high one over the same ground; a high-zoom tile
    holds only the features that reach it, clipped to it (plus its buffer)."""
    low = api_client.get(f"{BASE}/collections/{nc}/tiles/WebMercatorQuad/2/1/1?properties=")
    high = api_client.get(f"{BASE}/collections/{nc}/tiles/{NC_TILE}?properties=")
    assert low.status_code == high.status_code == 200
    assert len(low.content) < 0.8 * len(high.content)
    # z8 tile 72/101 (lon -78.75..-77.34): a few counties, clipped to it and its buffer (64/4096 of it).
    part = api_client.get(f"{BASE}/collections/{nc}/tiles/WebMercatorQuad/8/72/101")
    assert part.status_code == 200
    features = decode(part.content, 8, 72, 101)
    assert 1 <= len(features) < 20
    lons = [pt[0] for f in features for pt in _ring(f["geometry"])]
    margin = 1.40625 * 64 / 4096 + 1e-6
    assert -78.75 - margin <= min(lons) and max(lons) <= -77.34375 + margin


@pytest.mark.parametrize(
    ("tms_id", "tile", "expect"),
    [
        ("WorldCRS84Quad", "1/1/0", 100),  # 90x90 degree tiles: the NW-of-centre one holds NC
        ("WGS1984Quad", "1/1/0", 100),
        ("WorldMercatorWGS84Quad", "4/4/6", 100),
        ("EuropeanETRS89_LAEAQuad", "0/0/0", 0),  # Europe only: nothing of NC
    ],
)
def test_other_tile_matrix_sets(api_client: APIClient, nc: str, tms_id: str, tile: str, expect: int) -> None:
    resp = api_client.get(f"{BASE}/collections/{nc}/tiles/{tms_id}/{tile}")
    if not expect:
        assert resp.status_code == 204 and resp["ETag"] and not resp.content
        return
    assert resp.status_code == 200, resp.content
    assert int(resp["X-Features-Dropped"]) == 0
    if tms_id != "WorldMercatorWGS84Quad":  # GDAL's MVT driver georeferences WebMercator-like grids only
        return
    assert len(decode(resp.content, *map(int, tile.split("/")))) == expect


def test_empty_and_bad_tiles(api_client: APIClient, nc: str) -> None:
    empty = api_client.get(f"{BASE}/collections/{nc}/tiles/WebMercatorQuad/4/0/0")
    assert empty.status_code == 204 and empty["ETag"] and "max-age" in empty["Cache-Control"]
    cases = {
        "WebMercatorQuad/25/0/0": (404, "zoom levels are 0..24"),
        "WebMercatorQuad/4/16/0": (404, "x is 0..15"),
        "WebMercatorQuad/4/0/-1": (404, "y is 0..15"),
        "WebMercatorQuad/4/a/0": (400, "must be an integer"),
        "NoSuchGrid/0/0/0": (404, "WebMercatorQuad"),
        f"{NC_TILE}?bbox=1,2,3,4": (400, "Unknown query parameter"),
        f"{NC_TILE}?properties=nope": (400, "nope"),
        f"{NC_TILE}?limit=0": (400, "at least 1"),
        f"{NC_TILE}?f=png": (400, "MVT"),
    }
    for path, (status, text) in cases.items():
        resp = api_client.get(f"{BASE}/collections/{nc}/tiles/{path}")
        assert resp.status_code == status, (path, resp.content)
        assert text in resp.json()["description"], (path, resp.json())
    assert api_client.get(f"{BASE}/collections/nope/tiles/{NC_TILE}").status_code == 404


def test_filter_is_the_items_cql2(api_client: APIClient, nc: str) -> None:
    """The same CQL2 ``filter`` as items (features.cql2): applied in the tile's statement."""
    resp = api_client.get(f"{BASE}/collections/{nc}/tiles/{NC_TILE}", {"filter": "name = 'Wake'"})
    assert resp.status_code == 200, resp.content
    (wake,) = decode(resp.content, 4, 4, 6)
    assert wake["properties"]["name"] == "Wake"
    spatial = api_client.get(
        f"{BASE}/collections/{nc}/tiles/{NC_TILE}",
        {"filter": "S_INTERSECTS(geom, POINT(-78.64 35.78)) OR area > 0.2", "properties": "name"},
    )
    names = {f["properties"]["name"] for f in decode(spatial.content, 4, 4, 6)}
    assert "Wake" in names and 1 < len(names) < 100
    items = api_client.get(
        f"{BASE}/collections/{nc}/items",
        {"filter": "S_INTERSECTS(geom, POINT(-78.64 35.78)) OR area > 0.2", "limit": "100"},
        HTTP_ACCEPT="application/geo+json",
    )
    assert {f["properties"]["name"] for f in json.loads(b"".join(items.streaming_content))["features"]} == names
    for bad in ("nope = 1", "name = ", "area * 1e308 * 1e308 > 1"):
        resp = api_client.get(f"{BASE}/collections/{nc}/tiles/{NC_TILE}", {"filter": bad})
        assert resp.status_code == 400, (bad, resp.content)
    empty = api_client.get(f"{BASE}/collections/{nc}/tiles/{NC_TILE}", {"filter": "name = 'Nowhere'"})
    assert empty.status_code == 204


def test_reviewers_preview_unpublished_tiles(put_fixture: Any, submit_inline: Any, api_client: APIClient) -> None:
    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_tiles_hidden", publish=False)
    assert job.status == "completed", job.error
    path = f"{BASE}/collections/nc_tiles_hidden/tiles/{NC_TILE}"
    assert api_client.get(path).status_code == 404
    assert api_client.get(f"{BASE}/collections/nc_tiles_hidden/tiles").status_code == 404
    user = get_user_model().objects.create_user("tile-reviewer", password="x")
    user.user_permissions.add(
        Permission.objects.get(codename="preview_unpublished", content_type__app_label="features")
    )
    reviewer = APIClient()
    reviewer.force_authenticate(user)
    preview = reviewer.get(path)
    assert preview.status_code == 200 and preview["Cache-Control"].startswith("private")
    assert len(decode(preview.content, 4, 4, 6)) == 100


def test_cached_tiles_follow_the_data_version(api_client: APIClient, nc: str, settings: Any) -> None:
    """Tiles are kept per process by data version: an unpublished collection is never served
    from the cache, and a changed metadata row makes a new tile."""
    from features import services

    assert tiles.tile_cache() is not None
    path = f"{BASE}/collections/{nc}/tiles/{NC_TILE}"
    first = api_client.get(path)
    again = api_client.get(path)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert first["ETag"] == again["ETag"]
    services.dataset_publish_set(collection_id=nc, published=False)
    assert api_client.get(path).status_code == 404
    services.dataset_publish_set(collection_id=nc, published=True)
    after = api_client.get(path)
    assert after.status_code == 200 and after["ETag"] != first["ETag"] and after.content == first.content
    settings.GEOPLATFORM_FEATURES_TILE_CACHE_MB = 0
    assert tiles.tile_cache() is None and api_client.get(path).content == first.content
