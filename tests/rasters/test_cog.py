"""COG creation per tier (validated), type detection and input checks, without the database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from rasters import cog
from rasters.errors import InvalidRaster
from tests.conftest import FIXTURES

EXPECTED_TYPES = {
    "L7_ETMs.tif": "multispectral",
    "olinda_dem_utm25s.tif": "dem",
    "lc.tif": "categorical",
    "natural_earth_1_downsampled_cog.tif": "rgb",
}


@pytest.mark.parametrize(("fixture", "expected"), sorted(EXPECTED_TYPES.items()))
def test_type_detection(fixture: str, expected: str) -> None:
    with rasterio.open(FIXTURES / fixture) as ds:
        assert cog.detect_type(ds, name=fixture) == expected


def test_dem_detected_from_values_not_only_the_name(tmp_path: Path) -> None:
    with rasterio.open(FIXTURES / "olinda_dem_utm25s.tif") as ds:
        assert cog.detect_type(ds, name="surface.tif") == "dem"


@pytest.mark.parametrize(
    ("fixture", "tier", "profile", "compression"),
    [
        ("natural_earth_1_downsampled_cog.tif", "visualization", "jpeg", "jpeg"),
        ("natural_earth_1_downsampled_cog.tif", "analysis", "deflate", "deflate"),
        ("natural_earth_1_downsampled_cog.tif", "archive", "zstd", "zstd"),
        ("olinda_dem_utm25s.tif", "analysis", "deflate", "deflate"),
        ("olinda_dem_utm25s.tif", "archive", "zstd", "zstd"),
        ("L7_ETMs.tif", "analysis", "deflate", "deflate"),
    ],
)
def test_each_tier_writes_a_valid_cog(tmp_path: Path, fixture: str, tier: str, profile: str, compression: str) -> None:
    with rasterio.open(FIXTURES / fixture) as ds:
        raster_type = cog.detect_type(ds, name=fixture)
        source = ds.read()
    out = cog.create_cog(FIXTURES / fixture, tmp_path / "out.tif", tier=tier, raster_type=raster_type)
    assert out.profile == profile and out.warnings == []
    is_valid, errors, _ = cog_validate(str(out.path), quiet=True)
    assert is_valid, errors
    with rasterio.open(out.path) as ds:
        assert ds.compression.value.lower() == compression
        assert ds.block_shapes[0] == (256, 256)
        if max(ds.width, ds.height) > 256:  # one overview per halving above a block
            assert ds.overviews(1)
        if compression in {"deflate", "zstd"}:
            expected_predictor = 3 if ds.dtypes[0].startswith("float") else 2
            assert int(ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR", expected_predictor)) == expected_predictor
            np.testing.assert_array_equal(ds.read(), source)  # lossless
        if profile == "jpeg":
            assert ds.photometric.name.lower() == "ycbcr"


def test_visualization_falls_back_to_lossless_for_non_rgb(tmp_path: Path) -> None:
    out = cog.create_cog(
        FIXTURES / "olinda_dem_utm25s.tif", tmp_path / "v.tif", tier="visualization", raster_type="dem"
    )
    assert out.profile == "deflate"
    assert out.warnings and "visualization tier" in out.warnings[0]
    with rasterio.open(out.path) as ds:
        assert ds.dtypes[0] == "float32"


def test_categorical_keeps_its_colormap(tmp_path: Path) -> None:
    out = cog.create_cog(FIXTURES / "lc.tif", tmp_path / "lc.tif", tier="analysis", raster_type="categorical")
    with rasterio.open(FIXTURES / "lc.tif") as src, rasterio.open(out.path) as ds:
        assert ds.colormap(1) == src.colormap(1)


def test_crs_parameter_assigns_a_crs_to_a_file_without_one(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.tif"
    data = np.arange(64 * 64, dtype="uint16").reshape(1, 64, 64)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="uint16",
        transform=from_origin(10, 50, 0.01, 0.01),
    ) as dst:
        dst.write(data)
    ds, facts = cog.open_checked(path)
    ds.close()
    assert any("no CRS" in p for p in facts.problems)
    ds, facts = cog.open_checked(path, crs="EPSG:4326")
    ds.close()
    assert facts.problems == [] and facts.crs == "EPSG:4326"
    out = cog.create_cog(path, tmp_path / "out.tif", tier="analysis", raster_type="continuous", crs="EPSG:4326")
    with rasterio.open(out.path) as result:
        assert result.crs.to_epsg() == 4326
        np.testing.assert_array_equal(result.read(), data)


def test_not_a_raster_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("this is not a GeoTIFF")
    with pytest.raises(InvalidRaster, match="not a readable raster"):
        cog.open_checked(path)


def test_nodata_that_does_not_fit_the_data_type_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad-nodata.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_origin(0, 8, 1, 1),
    ) as dst:
        dst.write(np.ones((1, 8, 8), dtype="uint8"))
    with rasterio.open(path) as ds:
        facts = cog.inspect(ds)
    assert facts.problems == []
    assert cog.nodata_problem(-9999, "uint8") is not None
    assert cog.nodata_problem(float("nan"), "int16") is not None
    assert cog.nodata_problem(float("nan"), "float32") is None


def test_huge_dimensions_are_refused(tmp_path: Path, settings: object) -> None:
    settings.GEOPLATFORM_RASTER_MAX_PIXELS = 1000  # type: ignore[attr-defined]
    with rasterio.open(FIXTURES / "L7_ETMs.tif") as ds:
        facts = cog.inspect(ds)
    assert any("above the limit" in p for p in facts.problems)
