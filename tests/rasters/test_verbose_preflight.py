"""Verbose pre-flight of process_raster on a real GeoTIFF: bands, dimensions, CRS (issue 12)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_verbose_raster_preflight_reports_bands_dimensions_crs(
    auth_client: Any, bronze: str, upload: Callable[..., str]
) -> None:
    name = upload("olinda_dem_utm25s.tif")
    params = {"container_name": bronze, "file_name": name, "publish": False}
    resp = auth_client.post("/api/jobs/submit/process_raster", {"parameters": params, "verbose": True}, format="json")
    assert resp.status_code == 202, resp.content
    [check] = [c for c in resp.json()["preflight"] if c["name"] == "preflight"]
    saw = check["saw"]
    assert check["ok"] and saw["bands"] == 1 and len(saw["dimensions"]) == 2 and str(saw["crs"]).startswith("EPSG:")
    assert saw["format"] == "GTiff" and saw["size"] > 0 and saw["windowed"] is False
