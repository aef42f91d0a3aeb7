"""Cell geometries in CRS84 for exports and vector overlays (zonal.lonlat_geometries): cut at the
antimeridian, the pole cells closed at the pole, so that the cells of a resolution tile the
globe exactly (no gap, no overlap) and a feature on either side of 180° meets its cells."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from h3grid import vector_agg, zonal

_EQUAL_AREA = Transformer.from_crs("EPSG:4326", "EPSG:6933", always_xy=True)
# The area of the WGS84 ellipsoid (EPSG:6933 is equal-area on it), m².
EARTH_M2 = 510_065_621.724e6


def _area(geoms: np.ndarray) -> np.ndarray:
    return np.asarray(
        shapely.area(shapely.transform(geoms, lambda c: np.column_stack(_EQUAL_AREA.transform(c[:, 0], c[:, 1]))))
    )


@pytest.mark.parametrize("res", [0, 2])
def test_the_cells_of_a_resolution_tile_the_globe(res: int) -> None:
    cells = np.array(
        sorted(h3.str_to_int(c) for base in h3.get_res0_cells() for c in h3.cell_to_children(base, res)),
        dtype=np.int64,
    )
    geoms = zonal.lonlat_geometries(cells)
    assert shapely.is_valid(geoms).all()
    bounds = shapely.bounds(geoms)
    assert bounds[:, 0].min() >= -180 and bounds[:, 2].max() <= 180  # GeoParquet/GeoJSON CRS84 range
    types = set(shapely.get_type_id(geoms).tolist())
    assert types == {3, 6}  # Polygons, and MultiPolygons for the cells across the antimeridian
    total = _area(geoms).sum()
    assert total == pytest.approx(EARTH_M2, rel=1e-6)  # no gap
    assert _area(np.array([shapely.union_all(geoms)]))[0] == pytest.approx(total, rel=1e-6)  # no overlap
    for lat in (90.0, -90.0):  # each pole lies in its own cell's geometry
        pole = h3.str_to_int(h3.latlng_to_cell(lat, 0.0, res))
        (geom,) = zonal.lonlat_geometries(np.array([pole], dtype=np.int64))
        assert shapely.covers(geom, shapely.Point(0.0, lat))


@pytest.mark.parametrize(
    "feature",
    [
        # Fiji-like: one polygon on each side of the antimeridian
        shapely.MultiPolygon([shapely.box(179.2, -17.5, 180.0, -16.0), shapely.box(-180.0, -17.5, -179.3, -16.0)]),
        # Antarctica-like: a cap round the south pole
        shapely.box(-180.0, -90.0, 180.0, -84.0),
    ],
    ids=["antimeridian", "south-pole"],
)
def test_polygon_area_per_cell_adds_up_across_the_antimeridian_and_at_the_pole(feature: shapely.Geometry) -> None:
    geoms = np.array([feature])
    for res in (3, 4):
        cells, _, amount = vector_agg._lines_or_polygons(geoms, np.array([-1]), res, "polygon")
        assert len(cells) > 0
        expected = vector_agg._measure(geoms, "polygon")[0]
        assert amount.sum() == pytest.approx(expected, rel=1e-6), res


def test_geojson_of_the_cells_api_cuts_at_the_antimeridian_and_closes_at_the_pole() -> None:
    from h3grid import cellids

    across = h3.latlng_to_cell(-16.5, 179.99, 3)
    pole = h3.latlng_to_cell(-90.0, 0.0, 3)
    plain = h3.latlng_to_cell(49.6, 6.1, 3)
    texts = cellids.boundaries_geojson([across, pole, plain])
    geoms = [shapely.from_geojson(t) for t in texts]
    assert [g.geom_type for g in geoms] == ["MultiPolygon", "Polygon", "Polygon"]
    for geom in geoms:
        minx, _, maxx, _ = geom.bounds
        assert geom.is_valid and -180 <= minx and maxx <= 180
    assert geoms[0].covers(shapely.Point(179.99, -16.5)) and geoms[0].covers(shapely.Point(-179.99, -16.5 + 0.0))
    assert geoms[1].covers(shapely.Point(0.0, -90.0))
    assert geoms[2].covers(shapely.Point(6.1, 49.6))
