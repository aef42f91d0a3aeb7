"""Per-zoom simplification keeps every feature: the tiles, decoded by GDAL's MVT driver, hold
the same feature ids as tiles made from the unsimplified geometries (PostGIS' own
``ST_AsMVTGeom`` of the whole geometry, with no simplification of ours), at low zooms where
simplification removes the most and small polygons (NC counties at z0-z3) are a few tile units
across. A feature may only go when it covers less than one pixel of a tile drawn 512 px wide
(8 x 8 tile units) unsimplified."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from .test_tiles import BASE, decode

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def nc(put_fixture: Any, submit_inline: Any) -> str:
    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_simplify", title="NC counties")
    assert job.status == "completed", job.error
    return "nc_simplify"


PIXEL = 8 * 8  # tile units^2: one pixel of a tile drawn 512 px wide


def _unsimplified(table: str, z: int, x: int, y: int) -> dict[int, float]:
    """id -> area (tile units^2) of each feature in the tile, made from the whole geometry."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, ST_Area(g) FROM (SELECT id, ST_AsMVTGeom(ST_Transform(geom, 3857),"
            f" ST_TileEnvelope(%s, %s, %s), 4096, 64, true) AS g FROM geo.{table}"
            " WHERE geom && ST_Transform(ST_TileEnvelope(%s, %s, %s), 4326) OFFSET 0) AS m WHERE g IS NOT NULL",
            [z, x, y, z, x, y],
        )
        return {int(r[0]): float(r[1]) for r in cur.fetchall()}


# NC (lon -84.3..-75.5, lat 33.9..36.6) at z0-z6: its counties are 1-4 tile units across at z0.
@pytest.mark.parametrize(("z", "x", "y"), [(0, 0, 0), (1, 0, 0), (2, 1, 1), (3, 2, 3), (4, 4, 6), (6, 17, 25)])
def test_simplified_tiles_keep_every_feature(api_client: APIClient, nc: str, z: int, x: int, y: int) -> None:
    resp = api_client.get(f"{BASE}/collections/{nc}/tiles/WebMercatorQuad/{z}/{x}/{y}?properties=name")
    whole = _unsimplified(nc, z, x, y)
    assert whole, "the tile should hold counties"
    assert resp.status_code == 200, resp.content
    got = {int(f["properties"]["mvt_id"]) for f in decode(resp.content, z, x, y)}
    assert got <= set(whole)
    gone = {i: whole[i] for i in set(whole) - got}
    assert all(area < PIXEL for area in gone.values()), gone
