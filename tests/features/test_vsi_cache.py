"""A vector file rewritten under the same name is read anew by pyogrio's GDAL in a long-lived process.

Pre-flight reads a GeoPackage or a zipped Shapefile in place through /vsiaz/ with pyogrio,
whose GDAL (not rasterio's) keeps per path the file's size and the ranges it downloaded. A
client overwriting its upload and submitting again must be checked against the new file.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from features.sources import SourceParams, preflight_inspect
from geoplatform.storage import blob_delete, blob_save, is_remote, zone_container
from publishing.kinds.vector import gpkg_layer_check
from tests.features.conftest import make_zip

pytestmark = pytest.mark.django_db


def _vector(tmp_path: Path, driver: str, layer: str, count: int) -> Path:
    import geopandas as gpd
    from shapely.geometry import Point

    frame = gpd.GeoDataFrame(
        {"n": list(range(count)), "label": [f"feature {i} " * 20 for i in range(count)]},
        geometry=[Point(i, i / 2) for i in range(count)],
        crs="EPSG:4326",
    )
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    path = folder / ("data.gpkg" if driver == "GPKG" else "data.shp")
    frame.to_file(path, driver=driver, layer=layer, engine="pyogrio")
    return path


def _gpkg(tmp_path: Path, layer: str, count: int) -> bytes:
    return _vector(tmp_path, "GPKG", layer, count).read_bytes()


def _shapefile_zip(tmp_path: Path, count: int) -> bytes:
    shp = _vector(tmp_path, "ESRI Shapefile", "data", count)
    return make_zip({f"data{ext}": shp.with_suffix(ext).read_bytes() for ext in (".shp", ".shx", ".dbf", ".prj")})


def _write(container: str, name: str, data: bytes) -> None:
    blob_save(container, name, io.BytesIO(data), size=len(data), overwrite=True)


@pytest.fixture
def blob() -> Iterator[tuple[str, str]]:
    bronze = zone_container("bronze")
    if not is_remote(bronze):
        pytest.skip("GDAL's /vsiaz/ cache: only with the azure storage backend")
    name = f"vsi-tests/{uuid.uuid4().hex[:10]}"
    yield bronze, name
    for suffix in (".gpkg", ".zip"):
        with contextlib.suppress(Exception):  # not written
            blob_delete(bronze, name + suffix)


def test_a_rewritten_geopackage_is_inspected_anew(blob: tuple[str, str], tmp_path: Path) -> None:
    bronze, stem = blob
    name = stem + ".gpkg"
    _write(bronze, name, _gpkg(tmp_path, "first", 3))
    info = preflight_inspect(SourceParams(container=bronze, file_name=name))
    assert info is not None and (info.layer, info.feature_count) == ("first", 3)
    _write(bronze, name, _gpkg(tmp_path, "second", 500))  # the client's overwrite: larger, another layer
    info = preflight_inspect(SourceParams(container=bronze, file_name=name))
    assert info is not None and (info.layer, info.feature_count) == ("second", 500)
    # The publishing pre-flight's layer check reads the same way.
    gpkg_layer_check(container=bronze, file_name=name, layer_name="second")


def test_a_rewritten_zipped_shapefile_is_inspected_anew(blob: tuple[str, str], tmp_path: Path) -> None:
    bronze, stem = blob
    name = stem + ".zip"
    _write(bronze, name, _shapefile_zip(tmp_path, 4))
    info = preflight_inspect(SourceParams(container=bronze, file_name=name))
    assert info is not None and info.feature_count == 4
    _write(bronze, name, _shapefile_zip(tmp_path, 300))
    info = preflight_inspect(SourceParams(container=bronze, file_name=name))
    assert info is not None and info.feature_count == 300


def test_a_geopackage_deleted_and_recreated_is_found(blob: tuple[str, str], tmp_path: Path) -> None:
    bronze, stem = blob
    name = stem + ".gpkg"
    _write(bronze, name, _gpkg(tmp_path, "first", 3))
    assert preflight_inspect(SourceParams(container=bronze, file_name=name)) is not None
    blob_delete(bronze, name)
    _write(bronze, name, _gpkg(tmp_path, "again", 7))
    info = preflight_inspect(SourceParams(container=bronze, file_name=name))
    assert info is not None and (info.layer, info.feature_count) == ("again", 7)
