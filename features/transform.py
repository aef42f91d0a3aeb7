"""Vectorised clean-up of one chunk: reproject to EPSG:4326, repair, promote to Multi,
drop null geometries, and write the chunk as CSV for PostgreSQL's COPY.

All of it works on whole arrays (shapely 2, pyproj, pyarrow); no per-feature Python loop.
"""

from __future__ import annotations

import binascii
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from pyproj import CRS, Transformer

from .errors import InvalidSource

# shapely type ids -> family
_FAMILY = {0: "Point", 4: "Point", 1: "LineString", 2: "LineString", 5: "LineString", 3: "Polygon", 6: "Polygon"}
_MULTI = {"Point": "MultiPoint", "LineString": "MultiLineString", "Polygon": "MultiPolygon"}


def pg_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type (anything exotic is kept as text)."""
    t = arrow_type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "bigint"
    if pa.types.is_uint64(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_float64(t):
        return "double precision"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t) or pa.types.is_map(t):
        return "jsonb"
    return "text"


FAMILIES = ("Point", "LineString", "Polygon")  # a table per family when a file mixes them
_NO_FAMILY = -1  # null or empty geometry


def row_families(wkb: pa.Array) -> np.ndarray:
    """Each row's geometry family as an index into :data:`FAMILIES` (-1: null or empty).

    A Multi* geometry joins its single type's family; a GeometryCollection joins the family
    of its parts when they share one. A collection that mixes families cannot go into any
    one table without losing part of the feature: refused, naming how many.
    """
    if isinstance(wkb, pa.ChunkedArray):
        wkb = wkb.combine_chunks()
    fast = _fast_points(wkb)
    if fast is not None:
        return np.where(fast[0], 0, _NO_FAMILY).astype(np.int8)
    geoms = _from_wkb(wkb)
    ids = shapely.get_type_id(geoms)
    out = np.full(len(geoms), _NO_FAMILY, dtype=np.int8)
    for index, family in enumerate(FAMILIES):
        out[np.isin(ids, [k for k, v in _FAMILY.items() if v == family])] = index
    out[shapely.is_empty(geoms) & (ids >= 0)] = _NO_FAMILY
    mixed = 0
    for row in np.nonzero(ids == 7)[0]:  # GeometryCollection
        found = {_FAMILY.get(int(t)) for t in shapely.get_type_id(shapely.get_parts(geoms[row]))}
        found.discard(None)
        if len(found) == 1:
            out[row] = FAMILIES.index(found.pop())
        elif found:
            mixed += 1
    if mixed:
        raise InvalidSource(
            f"{mixed} feature(s) are GeometryCollections that mix points, lines and polygons; "
            "one feature cannot be split over several tables.",
            code="mixed_geometry_collection",
            remediation="Split those collections into separate features (one geometry type each).",
        )
    return out


def geometry_families(wkb: pa.Array) -> tuple[dict[str, int], int]:
    """({family: number of features} of the families present, in :data:`FAMILIES` order;
    number of null/empty geometries)."""
    codes = row_families(wkb)
    present = sorted(int(c) for c in np.unique(codes) if c != _NO_FAMILY)
    return {FAMILIES[c]: int((codes == c).sum()) for c in present}, int((codes == _NO_FAMILY).sum())


def _from_wkb(wkb: pa.Array) -> np.ndarray:
    if isinstance(wkb, pa.ChunkedArray):
        wkb = wkb.combine_chunks()
    if pa.types.is_string(wkb.type) or pa.types.is_large_string(wkb.type):
        raise InvalidSource("Text geometries are not supported here.")
    values = np.asarray(wkb.to_numpy(zero_copy_only=False), dtype=object)
    try:
        return np.asarray(shapely.from_wkb(values, on_invalid="raise"))
    except shapely.errors.GEOSException as exc:
        raise InvalidSource(f"Invalid geometry in the file: {exc}", code="invalid_geometry") from exc


@dataclass
class CleanChunk:
    csv: bytes
    rows: int
    dropped_null: int  # null or empty geometries
    repaired: int
    dropped_invalid: int = 0  # invalid geometries of which repair left nothing of their family
    bbox: list[float] | None = None
    single_points: bool = False


def _is_lonlat(src: CRS) -> bool:
    """EPSG:4326 in either axis order, or CRS84: nothing to reproject."""
    return bool(src.equals(CRS.from_epsg(4326), ignore_axis_order=True) or src.equals(CRS.from_user_input("OGC:CRS84")))


def _reproject(geoms: np.ndarray, crs: str) -> np.ndarray:
    src = CRS.from_user_input(crs)
    if _is_lonlat(src):
        return geoms
    transformer = Transformer.from_crs(src, "EPSG:4326", always_xy=True)

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    out = shapely.transform(geoms, fn)
    if not np.isfinite(shapely.bounds(out)).all():
        raise InvalidSource(
            f"Coordinates cannot be reprojected from {src.name} to EPSG:4326 (out of the CRS's area?).",
            code="reprojection_failed",
            remediation="Check the crs parameter names the file's real CRS.",
        )
    return np.asarray(out)


def _promote(geoms: np.ndarray, family: str) -> np.ndarray:
    ids = shapely.get_type_id(geoms)
    single = {"Point": 0, "LineString": 1, "Polygon": 3}[family]
    out = geoms.copy()
    idx = np.nonzero(ids == single)[0]
    if idx.size:
        maker = {
            "Point": shapely.multipoints,
            "LineString": shapely.multilinestrings,
            "Polygon": shapely.multipolygons,
        }[family]
        out[idx] = maker(geoms[idx], indices=np.arange(idx.size))
    return out


def _repair(geoms: np.ndarray, family: str) -> tuple[np.ndarray, int]:
    if family == "Point":
        return geoms, 0
    invalid = ~shapely.is_valid(geoms)
    count = int(invalid.sum())
    if count:
        fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        # make_valid can hand back a collection; keep only the parts of the layer's family.
        fixed = np.asarray([_only_family(g, family) for g in fixed], dtype=object)
        geoms = geoms.copy()
        geoms[invalid] = fixed
    return geoms, count


def _only_family(geom: Any, family: str) -> Any:
    if geom is None or _FAMILY.get(int(shapely.get_type_id(geom))) == family:
        return geom
    parts = [g for g in shapely.get_parts(geom) if _FAMILY.get(int(shapely.get_type_id(g))) == family]
    if not parts:
        return None
    maker = {"Point": shapely.multipoints, "LineString": shapely.multilinestrings, "Polygon": shapely.multipolygons}[
        family
    ]
    return maker(shapely.get_parts(np.asarray(parts, dtype=object)))


def _attribute_column(array: pa.ChunkedArray | pa.Array, pgtype: str) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pgtype == "jsonb":
        return pa.array([None if v is None else json.dumps(v, default=str) for v in array.to_pylist()], pa.string())
    if pgtype == "text" and not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        try:
            return pc.cast(array, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
    if pa.types.is_timestamp(array.type):
        # ISO text with microseconds; PostgreSQL reads it for timestamp/timestamptz.
        return pc.strftime(array, format="%Y-%m-%dT%H:%M:%S" + ("%z" if array.type.tz else ""))
    return array


def clean_chunk(
    *,
    attributes: pa.Table,
    wkb: pa.Array,
    first_id: int,
    batch_id: str,
    crs: str,
    family: str,
    columns: list[dict[str, Any]],
    ids: np.ndarray | None = None,
) -> CleanChunk:
    """The COPY-ready CSV of one chunk: ``id, etl_batch_id, geom (EWKB hex), attributes...``.

    ``ids``: the rows' feature ids when they are not ``first_id, first_id + 1, ...`` (the rows
    of one geometry family picked out of a chunk that mixes them).
    """
    if isinstance(wkb, pa.ChunkedArray):
        wkb = wkb.combine_chunks()
    n = len(wkb)
    fast = _fast_points(wkb) if family == "Point" else None
    if fast is not None:
        mask, x, y = fast
        lon, lat = _points_lonlat(x, y, crs)
        hexes, bbox = _points_ewkb(lon, lat)
        enc = _Encoded(mask=mask, hexes=hexes, bbox=bbox, repaired=0, collapsed=0, x=lon, y=lat, single_points=True)
    else:
        enc = _generic_ewkb(wkb, crs, family)
    mask, hexes, bbox = enc.mask, enc.hexes, enc.bbox
    _check_lonlat(bbox)
    dropped = int(n - mask.sum()) - enc.collapsed
    if ids is None:
        ids = np.arange(first_id, first_id + n, dtype=np.int64)
    selection = pa.array(mask)
    arrays: list[pa.Array] = [pa.array(ids[mask]), pa.array([batch_id] * int(mask.sum()), pa.string()), hexes]
    names = ["id", "etl_batch_id", "geom"]
    for col in columns:
        column = _source_column(attributes, col, n)
        arrays.append(_attribute_column(pc.filter(column, selection), col["type"]))
        names.append(col["name"])
    # Rows go to COPY in spatial order (ids keep the source order): see hilbert_keys().
    table = pa.Table.from_arrays(arrays, names=names).take(
        pa.array(np.argsort(hilbert_keys(enc.x, enc.y), kind="stable"))
    )
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return CleanChunk(
        csv=buf.getvalue(),
        rows=int(mask.sum()),
        dropped_null=dropped,
        repaired=enc.repaired,
        dropped_invalid=enc.collapsed,
        bbox=bbox,
        single_points=enc.single_points,
    )


def _source_column(attributes: pa.Table, col: dict[str, Any], n: int) -> pa.ChunkedArray | pa.Array:
    """The attribute column a planned column reads, by POSITION: a header may repeat a name
    (a CSV's ``x,x``), and Arrow's lookup by name refuses a name it holds twice. Plans made
    before positions were recorded fall back to the name."""
    index = col.get("source_index")
    if isinstance(index, int) and 0 <= index < attributes.num_columns:
        return attributes.column(index)
    source = col["source_name"]
    if attributes.column_names.count(source) == 1:
        return attributes.column(source)
    return pa.nulls(n)


def _check_lonlat(bbox: list[float] | None) -> None:
    if bbox is None:
        return
    minx, miny, maxx, maxy = bbox
    if miny < -90.000001 or maxy > 90.000001 or minx < -180.000001 or maxx > 180.000001:
        raise InvalidSource(
            f"Coordinates fall outside longitude -180..180 / latitude -90..90 after reprojection "
            f"(extent {minx:.3f}, {miny:.3f}, {maxx:.3f}, {maxy:.3f}).",
            code="coordinates_out_of_range",
            remediation="Check the crs parameter, or whether lat_column and lon_column are swapped.",
        )


def hilbert_keys(x: np.ndarray, y: np.ndarray, order: int = 16) -> np.ndarray:
    """Position of each lon/lat point on a Hilbert curve over the world (2^order cells a side).

    Each chunk is written in this order, so the table is a few long runs in which features
    near each other on the map share pages: a small bbox reads few pages through the GiST
    index (``features.sql`` chooses that plan). Sorting per chunk, in the parallel load tasks,
    replaced a rewrite of the whole table (``ORDER BY geom``) in finalise: for boxes holding
    more than a few features per chunk the pages read are the same.
    """
    side = (1 << order) - 1
    xi = np.clip((np.nan_to_num(x) + 180.0) * ((side + 1) / 360.0), 0, side).astype(np.int64)
    yi = np.clip((np.nan_to_num(y) + 90.0) * ((side + 1) / 180.0), 0, side).astype(np.int64)
    d = np.zeros(len(xi), dtype=np.int64)
    s = 1 << (order - 1)
    while s > 0:
        rx = (xi & s) > 0
        ry = (yi & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = ~ry & rx
        xi = np.where(flip, side - xi, xi)
        yi = np.where(flip, side - yi, yi)
        xi, yi = np.where(ry, xi, yi), np.where(ry, yi, xi)
        s >>= 1
    return d


@dataclass
class _Encoded:
    mask: np.ndarray  # the rows kept (a usable geometry)
    hexes: pa.Array  # their EWKB as hex text
    bbox: list[float] | None
    repaired: int
    collapsed: int  # repaired into nothing of the layer's family: dropped
    x: np.ndarray  # longitude and latitude of each kept geometry's box centre
    y: np.ndarray
    single_points: bool  # every geometry is a MultiPoint of one point


def _generic_ewkb(wkb: pa.Array, crs: str, family: str) -> _Encoded:
    """Any geometry type, through GEOS."""
    geoms = _from_wkb(wkb)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms = geoms[keep]
    collections = shapely.get_type_id(geoms) == 7
    if collections.any():  # a GeometryCollection of one family becomes that family's Multi*
        geoms = geoms.copy()
        geoms[collections] = [_only_family(g, family) for g in geoms[collections]]
        if shapely.is_missing(geoms).any():
            raise InvalidSource(f"A GeometryCollection holds no {family} part.", code="mixed_geometry_types")
    families = {_FAMILY.get(int(i), "GeometryCollection") for i in np.unique(shapely.get_type_id(geoms))}
    if families - {family}:
        raise InvalidSource(
            f"Mixed geometry types: found {', '.join(sorted(families))} in a {family} layer.",
            code="mixed_geometry_types",
            remediation="Split the data into one file (or layer) per geometry type.",
        )
    geoms = _reproject(geoms, crs)
    geoms, repaired = _repair(geoms, family)
    still = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms = _promote(geoms[still], family)
    mask = np.zeros(len(keep), dtype=bool)
    mask[np.nonzero(keep)[0][still]] = True
    bbox = [float(v) for v in shapely.total_bounds(geoms)] if len(geoms) else None
    # 2D little-endian WKB, then the EWKB type flag and SRID 4326 spliced into the hex text
    # (vectorised in Arrow; cheaper than shapely.set_srid + include_srid).
    hexes = pa.array(shapely.to_wkb(geoms, hex=True, output_dimension=2, byte_order=1), pa.string())
    prefix = _EWKB_PREFIX[_MULTI[family]]
    out = pc.binary_join_element_wise(pa.scalar(prefix), pc.utf8_slice_codeunits(hexes, 10), pa.scalar(""))
    bounds = shapely.bounds(geoms)
    return _Encoded(
        mask=mask,
        hexes=out,
        bbox=bbox,
        repaired=repaired,
        collapsed=int((~still).sum()),
        x=(bounds[:, 0] + bounds[:, 2]) / 2,
        y=(bounds[:, 1] + bounds[:, 3]) / 2,
        single_points=family == "Point" and bool(np.all(shapely.get_num_geometries(geoms) == 1)),
    )


_EWKB_PREFIX = {
    "MultiPoint": "0104000020E6100000",
    "MultiLineString": "0105000020E6100000",
    "MultiPolygon": "0106000020E6100000",
}
_POINT_WKB = np.dtype([("bo", "u1"), ("t", "<u4"), ("x", "<f8"), ("y", "<f8")])
_MULTIPOINT_EWKB = np.dtype(
    [
        ("bo", "u1"),
        ("t", "<u4"),
        ("srid", "<u4"),
        ("n", "<u4"),
        ("bo2", "u1"),
        ("t2", "<u4"),
        ("x", "<f8"),
        ("y", "<f8"),
    ]
)


def _fast_points(wkb: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(kept mask, x, y) read straight from the WKB buffer when every geometry is a
    little-endian 2D Point (21 bytes); None sends the chunk down the GEOS path."""
    if not (pa.types.is_binary(wkb.type) or pa.types.is_large_binary(wkb.type)) or len(wkb) == 0:
        return None
    n = len(wkb)
    offset_type = np.int64 if pa.types.is_large_binary(wkb.type) else np.int32
    offsets = np.frombuffer(wkb.buffers()[1], dtype=offset_type)[wkb.offset : wkb.offset + n + 1]
    lengths = np.diff(offsets)
    valid = wkb.is_valid().to_numpy(zero_copy_only=False)
    if not (np.all(lengths[valid] == 21) and np.all(lengths[~valid] == 0)):
        return None
    count = int(valid.sum())
    if count == 0:
        return None
    raw = np.frombuffer(wkb.buffers()[2], dtype=np.uint8, count=21 * count, offset=int(offsets[0]))
    records = raw.view(_POINT_WKB)
    if not (np.all(records["bo"] == 1) and np.all(records["t"] == 1)):
        return None
    x, y = records["x"], records["y"]
    empty = np.isnan(x) | np.isnan(y)  # WKB writes an empty point as NaN, NaN
    mask = valid.copy()
    mask[np.nonzero(valid)[0][empty]] = False
    return mask, x[~empty], y[~empty]


def _points_lonlat(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Point coordinates reprojected to EPSG:4326 (longitude, latitude)."""
    src = CRS.from_user_input(crs)
    if _is_lonlat(src):
        return x, y
    lon, lat = Transformer.from_crs(src, "EPSG:4326", always_xy=True).transform(x, y)
    lon, lat = np.asarray(lon), np.asarray(lat)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise InvalidSource(
            f"Coordinates cannot be reprojected from {src.name} to EPSG:4326 (out of the CRS's area?).",
            code="reprojection_failed",
            remediation="Check the crs parameter names the file's real CRS.",
        )
    return lon, lat


def _points_ewkb(x: np.ndarray, y: np.ndarray) -> tuple[pa.Array, list[float] | None]:
    """MultiPoint EWKB hex (SRID 4326) for EPSG:4326 coordinates, built in numpy."""
    m = len(x)
    records = np.empty(m, dtype=_MULTIPOINT_EWKB)
    records["bo"], records["t"], records["srid"], records["n"] = 1, 0x20000004, 4326, 1
    records["bo2"], records["t2"], records["x"], records["y"] = 1, 1, x, y
    data = binascii.hexlify(records.tobytes())
    width = 2 * _MULTIPOINT_EWKB.itemsize
    offsets = np.arange(0, width * (m + 1), width, dtype=np.int32)
    hexes = pa.Array.from_buffers(pa.string(), m, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    bbox = [float(x.min()), float(y.min()), float(x.max()), float(y.max())] if m else None
    return hexes, bbox
