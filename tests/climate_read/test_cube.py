"""climate.read.cube on edge cases of real climate data: packed values, calendars, longitudes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cftime
import numpy as np
import pytest
import xarray as xr

from climate.read import cube, sources
from climate.read.errors import InvalidQuery


def test_scale_offset_and_fill_are_decoded(client: Any, db: Any, tmp_path: Path) -> None:
    times = [cftime.DatetimeNoLeap(2001, m, 15) for m in range(1, 4)]
    values = np.array([[[280.5, 281.0], [np.nan, 282.25]]] * 3, dtype="float64")
    ds = xr.Dataset(
        {"tas": (("time", "lat", "lon"), values, {"units": "K", "standard_name": "air_temperature"})},
        coords={"time": times, "lat": [10.0, 11.0], "lon": [350.0, 351.0]},
    )
    path = tmp_path / "packed.nc"
    encoding = {"tas": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 273.15, "_FillValue": -32768}}
    ds.to_netcdf(path, encoding=encoding, engine="netcdf4")
    packed = xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))
    assert packed.tas.encoding["scale_factor"] == 0.01
    sources.register("tests", "packed", lambda: packed)
    try:
        doc = client.get("/api/edr/collections/tests~packed/cube", {"bbox": "-11,9,-8,12"}).json()
        got = doc["ranges"]["tas"]["values"][:4]
        assert got[0] == pytest.approx(280.5, abs=0.01) and got[2] is None and got[3] == pytest.approx(282.25, abs=0.01)
        assert doc["domain"]["axes"]["x"]["values"] == [-10.0, -9.0]  # 350/351 answered in -180..180
        assert doc["domain"]["axes"]["t"]["values"][0] == "2001-01-15T00:00:00Z"
        assert doc["domain"]["referencing"][1]["system"]["calendar"].endswith("noleap")
        one = client.get("/api/edr/collections/tests~packed/position", {"coords": "POINT(-10 11)"}).json()
        assert one["ranges"]["tas"]["values"] == [None, None, None]  # the fill value cell
    finally:
        sources.unregister("tests", "packed")


def test_calendars() -> None:
    assert cube.parse_instant("2001-02-30", "360_day").day == 30
    with pytest.raises(InvalidQuery, match="noleap"):
        cube.parse_instant("2000-02-29", "noleap")
    assert cube.parse_instant("2000-02-29", "standard").day == 29
    start, end = cube.parse_datetime("2000-02/2000-02", "360_day")
    assert (start.day, end.day) == (1, 30)
    start, end = cube.parse_datetime("2001-02/2001-02", "noleap")
    assert end.day == 28


def test_longitude_conventions() -> None:
    assert cube.lon_to_dataset(-75.0, True) == 285.0
    assert cube.lon_to_dataset(285.0, False) == -75.0
    assert cube.lon_to_dataset(-75.0, False) == -75.0
    assert list(cube.lon_to_wgs84(np.array([0.0, 180.0, 181.0, 359.0]))) == [0.0, 180.0, -179.0, -1.0]
