"""The /api/xarray routes: point series, area statistics, aggregates, climatology, anomaly,
tiles + TileJSON + legend, and the viewer page."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.io import MemoryFile

from tests.climate_read.conftest import open_fixture

pytestmark = pytest.mark.usefixtures("registered")


def png(content: bytes) -> np.ndarray:
    """A PNG's pixels as (bands, rows, cols), read with GDAL."""
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    with MemoryFile(content) as mem, mem.open() as src:
        return src.read()


A1B = "tests/a1b"
OBS = "tests/obs"


def test_point_series_units_and_statistics(client: Any) -> None:
    body = client.get(f"/api/xarray/point/{A1B}", {"location": "-75,35"}).json()
    assert body["units"] == "K" and body["calendar"] == "360_day"
    assert len(body["series"]) == 240 and body["series"][0]["datetime"] == "1860-06-01T00:00:00Z"
    assert body["location"]["cell"][0] == pytest.approx(-75.0, abs=1.0)
    values = [p["value"] for p in body["series"]]
    assert body["statistics"]["mean"] == pytest.approx(np.mean(values), rel=1e-5)
    assert body["statistics"]["count"] == 240
    some = client.get(
        f"/api/xarray/point/{A1B}", {"location": "-75,35", "start_time": "2000-01-01", "end_time": "2009-12-30"}
    ).json()
    assert len(some["series"]) == 10


def test_point_yearly_aggregation_standard_calendar(client: Any) -> None:
    body = client.get(
        f"/api/xarray/point/{OBS}", {"location": "-80,35", "variable": "tas", "aggregation": "yearly"}
    ).json()
    assert len(body["series"]) == 1 and body["series"][0]["datetime"].startswith("1999-01-01")
    monthly = client.get(f"/api/xarray/point/{OBS}", {"location": "-80,35", "variable": "tas"}).json()
    assert body["series"][0]["value"] == pytest.approx(np.mean([p["value"] for p in monthly["series"]]), rel=1e-4)


def test_statistics_area_weighted_per_step(client: Any) -> None:
    body = client.get(
        f"/api/xarray/statistics/{A1B}", {"bbox": "-95,30,-80,40", "start_time": "2000-01-01", "end_time": "2001-12-30"}
    ).json()
    assert body["area_weighted"] and len(body["steps"]) == 2
    step = body["steps"][0]
    assert step["min"] <= step["p10"] <= step["p50"] <= step["p90"] <= step["max"]
    ds = open_fixture("a1b_small.nc")
    sub = ds.air_temperature.sel(longitude=slice(265, 280), latitude=slice(30, 40)).isel(time=140)
    weights = np.cos(np.deg2rad(sub.latitude))
    assert step["mean"] == pytest.approx(float(sub.weighted(weights).mean()), rel=1e-5)


def test_aggregate_formats(client: Any) -> None:
    path = f"/api/xarray/aggregate/{OBS}"
    params = {"bbox": "-82,34,-78,36", "aggregation": "max", "variable": "pr"}
    body = client.get(path, params).json()
    assert body["aggregation"] == "max" and body["steps"] == 12 and body["units"]
    assert len(body["values"]) == body["shape"][0] and len(body["longitude"]) == body["shape"][1]
    tif = client.get(path, {**params, "format": "tif"})
    with rasterio.open(io.BytesIO(tif.content)) as src:
        assert src.crs.to_epsg() == 4326 and (src.height, src.width) == tuple(body["shape"])
        assert np.nanmax(src.read(1)) == pytest.approx(body["statistics"]["max"], rel=1e-5)
    image = client.get(path, {**params, "format": "png"})
    assert image["Content-Type"] == "image/png"
    assert png(image.content).shape[1:] == tuple(body["shape"])
    npy = np.load(io.BytesIO(client.get(path, {**params, "format": "npy"}).content))
    assert npy.shape == tuple(body["shape"])


def test_climatology_and_anomaly(client: Any) -> None:
    clim = client.get(f"/api/xarray/climatology/{A1B}", {"location": "-75,35", "baseline": "1961/1990"}).json()
    assert clim["baseline"] == [1961, 1990] and clim["climatology"][0]["count"] == 30
    anomaly = client.get(
        f"/api/xarray/anomaly/{A1B}", {"location": "-75,35", "baseline": "1961/1990", "start_time": "2090-01-01"}
    ).json()
    assert len(anomaly["series"]) == 10
    first = anomaly["series"][0]
    assert first["anomaly"] == pytest.approx(first["value"] - clim["climatology"][0]["mean"], abs=1e-4)
    assert anomaly["statistics"]["mean"] > 0  # A1B warms by the 2090s
    area = client.get(
        f"/api/xarray/anomaly/{OBS}", {"bbox": "-82,34,-78,36", "baseline": "1999/1999", "variable": "tas"}
    ).json()
    assert all(abs(p["anomaly"]) < 1e-3 for p in area["series"])


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        ("point", {}, "location: required"),
        ("point", {"location": "abc"}, "not lon,lat"),
        ("point", {"location": "10,10"}, "outside this collection's extent"),
        ("point", {"location": "-75,35", "aggregation": "weekly"}, "not one of none, daily"),
        ("point", {"location": "-75,35", "variable": "pr"}, "unknown parameter"),
        ("statistics", {"bbox": "a,b,c,d"}, "bbox"),
        ("aggregate", {"bbox": "-95,30,-80,40", "aggregation": "median"}, "not one of mean, max"),
        ("aggregate", {"bbox": "-95,30,-80,40", "format": "gif"}, "format"),
        ("climatology", {"location": "-75,35"}, "baseline: required"),
        ("climatology", {"location": "-75,35", "baseline": "1700/1750"}, "no time step in 1700-1750"),
    ],
)
def test_bad_parameters_are_400(client: Any, path: str, params: dict[str, str], words: str) -> None:
    response = client.get(f"/api/xarray/{path}/{A1B}", params)
    assert response.status_code == 400, response.content
    assert words in response.json()["message"]


def test_unknown_item_is_404(client: Any) -> None:
    assert client.get("/api/xarray/point/tests/nope", {"location": "0,0"}).status_code == 404


def test_tiles_tilejson_and_legend(client: Any) -> None:
    doc = client.get(f"/api/xarray/{A1B}/WebMercatorQuad/tilejson.json", {"variable": "air_temperature"}).json()
    assert doc["tilejson"] == "3.0.0" and doc["legend"]["units"] == "K"
    west, _, east, _ = doc["bounds"]
    assert -99 < west < east < -68  # rolled from 0-360
    assert len(doc["times"]) == 240 and doc["calendar"] == "360_day"
    tile_url = doc["tiles"][0].replace("{z}/{x}/{y}", "4/4/6")
    response = client.get(tile_url.split("testserver")[-1])
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    pixels = png(response.content)
    assert pixels.shape == (4, 256, 256)
    alpha = pixels[3]
    assert alpha.max() == 255 and alpha.min() == 0  # data and outside-the-grid both present
    other = client.get(
        f"/api/xarray/{A1B}/tiles/WebMercatorQuad/4/4/6.png",
        {"datetime": "2099-06-01", "colormap_name": "magma", "rescale": "250,310"},
    )
    assert other.status_code == 200 and other.content != response.content
    legend = client.get("/api/xarray/legend.png", {"colormap_name": "rdbu_r"})
    assert png(legend.content).shape[1:] == (16, 256)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"variable": "nope"}, 400),
        ({"colormap_name": "rainbowish"}, 400),
        ({"rescale": "1"}, 400),
        ({"datetime": "3000-01-01"}, 400),
    ],
)
def test_bad_tile_parameters(client: Any, params: dict[str, str], status: int) -> None:
    response = client.get(f"/api/xarray/{A1B}/tiles/WebMercatorQuad/4/4/6.png", params)
    assert response.status_code == status, response.content


def test_tile_outside_extent_and_bad_tms(client: Any) -> None:
    assert client.get(f"/api/xarray/{A1B}/tiles/WebMercatorQuad/4/12/3.png").status_code == 400
    assert client.get(f"/api/xarray/{A1B}/tiles/NoSuchTMS/4/4/6.png").status_code == 400


def test_viewer_page(client: Any) -> None:
    page = client.get(f"/api/xarray/{A1B}/viewer")
    assert page.status_code == 200
    html = page.content.decode()
    assert "vendor/uplot/uPlot.iife.min.js" in html and "vendor/leaflet/leaflet.js" in html
    assert "time-slider" in html and "air_temperature" in html
    assert "unpkg" not in html and "cdn" not in html.lower()


def test_curvilinear_grid_nearest_cell_and_no_tiles() -> None:
    from django.http import QueryDict

    from climate.read import cube, tiles
    from climate.read.errors import InvalidQuery

    lon2d, lat2d = np.meshgrid(np.arange(280.0, 290.0), np.arange(40.0, 30.0, -1.0))
    ds = xr.Dataset(
        {"t": (("y", "x"), np.arange(100.0).reshape(10, 10), {"units": "K"})},
        coords={
            "lon": (("y", "x"), lon2d, {"standard_name": "longitude"}),
            "lat": (("y", "x"), lat2d, {"standard_name": "latitude"}),
        },
    )
    axes = cube.axes_of(ds)
    cell = cube.select_point(ds, axes, -75.2, 35.1)
    assert float(cell.lon.values.ravel()[0]) == 285.0 and float(cell.lat.values.ravel()[0]) == 35.0
    with pytest.raises(InvalidQuery, match="curvilinear"):
        tiles.layer(ds, QueryDict(""))


def test_descending_latitude_bbox_and_point() -> None:
    from climate.read import cube

    ds = open_fixture("bcsd_obs_1999.nc").isel(latitude=slice(None, None, -1))
    axes = cube.axes_of(ds)
    sub = cube.select_bbox(ds, axes, (-80, 34, -78, 36))
    assert float(sub.latitude.min()) >= 34 and float(sub.latitude.max()) <= 36 and sub.sizes["latitude"] > 10
    cell = cube.select_point(ds, axes, -80.0, 35.0)
    assert abs(float(cell.latitude.values[0]) - 35.0) < 0.07
