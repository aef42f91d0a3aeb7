"""GDAL's OGC API driver reads the vector tilesets of a collection.

Two GDALs are on this machine: the system one (3.6.2, ``ogrinfo``) and the one inside pyogrio's
wheel (3.12). GDAL up to 3.6 only reads the TMS 1.0 JSON encoding of a tile matrix set
(``gcore/tilematrixset.cpp``: "Invalid tiling matrix set name" on a TMS 2.0 document);
:func:`features.tiles.tms_document` serves the 1.0 names beside the 2.0 ones, and 3.6's parser
accepts every served set (checked through the COG driver's TILING_SCHEME, the same parser).
Debian's 3.6.2 build cannot list vector tiles through OGCAPI at all: its ``InitWithTilesAPI``
builds vector tile layers only ``#ifdef OGR_ENABLE_DRIVER_GML``, which that build did not define
(the binary has no ``vectorType`` string; the open fails silently after reading the tile matrix
set). The whole path — collection, tilesets, tileset, tile matrix set, MVT tiles — is therefore
read end to end with GDAL 3.12 through pyogrio.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from features import tiles

BASE = "/api/features"
_READ = """
import json, math, sys
import pyogrio
url = sys.argv[1]
out = {"layers": [name for name, _ in pyogrio.list_layers(url)]}
# GDAL's vector tile layers cover the collection's CRS84 bbox taken as coordinates of the tile
# matrix set's CRS (GDAL <= 3.12 does not project it, as it does for raster tiles): for
# WebMercatorQuad the client passes the box in metres (MINX..MAXY open options).
r = 20037508.342789244
x = lambda lon: lon * r / 180
y = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * r / math.pi
for tms_id, zoom, box in (("WorldCRS84Quad", 5, {}),
                          ("WebMercatorQuad", 6, {"MINX": x(-84.4), "MINY": y(33.8), "MAXX": x(-75.4), "MAXY": y(36.7)})):
    df = pyogrio.read_dataframe(url, layer=f"Zoom level {zoom}", API="TILES", TILEMATRIXSET=tms_id, **box)
    out[tms_id] = {"names": sorted(set(df["name"])), "columns": list(df.columns),
                   "types": sorted(set(df.geometry.geom_type)), "bounds": list(df.to_crs(4326).total_bounds)}
print(json.dumps(out))
"""


@pytest.mark.django_db
@pytest.mark.parametrize("tms_id", tiles.TILE_MATRIX_SETS)
def test_gdal_36_reads_every_tile_matrix_set(api_client: APIClient, tms_id: str, tmp_path: Path) -> None:
    doc = api_client.get(f"{BASE}/tileMatrixSets/{tms_id}").json()
    assert doc["id"] == tms_id and doc["crs"] and doc["tileMatrices"][0]["pointOfOrigin"]  # TMS 2.0
    assert doc["identifier"] == tms_id and doc["supportedCRS"] == doc["crs"]  # TMS 1.0, for GDAL <= 3.6
    definition = tmp_path / "tms.json"
    definition.write_text(json.dumps(doc))
    source = tmp_path / "in.tif"
    subprocess.run(["gdal_create", "-q", "-of", "GTiff", "-outsize", "64", "64", "-bands", "1", "-burn", "1",
                    "-a_srs", "EPSG:4326", "-a_ullr", "10", "50", "11", "49", str(source)], check=True)  # fmt: skip
    # The COG driver reads a custom tiling scheme with the parser the OGCAPI driver calls.
    proc = subprocess.run(
        ["gdal_translate", "-q", "-of", "COG", "-co", f"TILING_SCHEME={definition}", str(source), str(tmp_path / "out.tif")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr


@pytest.mark.django_db(transaction=True)
def test_gdal_ogcapi_reads_the_vector_tiles(live_server: Any, put_fixture: Any, submit_inline: Any) -> None:
    from features.services import dataset_unpublish

    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_gdal", title="NC counties")
    assert job.status == "completed", job.error
    url = f"OGCAPI:{live_server.url}/api/features/collections/nc_gdal"
    try:
        # GDAL 3.6: the tile matrix set is read (no "Invalid tiling matrix set name"); see the docstring.
        proc = subprocess.run(["ogrinfo", "-ro", "-q", "-oo", "API=TILES", url],
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert "ERROR" not in proc.stderr, proc.stderr
        # GDAL 3.12 (pyogrio), in its own process: the live server runs in this one and GDAL's
        # HTTP calls would hold the GIL it needs. One layer per zoom level of the preferred set
        # (WorldCRS84Quad) and of WebMercatorQuad; features read from the MVT tiles.
        read = subprocess.run([sys.executable, "-c", _READ, url], capture_output=True, text=True, timeout=300)
        assert read.returncode == 0, read.stderr[-3000:]
        found = json.loads(read.stdout.splitlines()[-1])
        assert "Zoom level 0" in found["layers"] and "Zoom level 5" in found["layers"], found
        for tms_id in ("WorldCRS84Quad", "WebMercatorQuad"):
            got = found[tms_id]
            assert 90 <= len(got["names"]) <= 100 and {"fips", "cnty_id"} <= set(got["columns"]), got
            assert set(got["types"]) <= {"Polygon", "MultiPolygon"}, got
            west, _, _, north = got["bounds"]
            assert west == pytest.approx(-84.3, abs=0.2) and north == pytest.approx(36.6, abs=0.2)
    finally:
        dataset_unpublish(collection_id="nc_gdal", dry_run=False)
