"""OGC API Tiles (vector) of every features collection: Mapbox Vector Tiles built by PostgreSQL.

One statement per tile (:func:`tile_sql`): the collection row's version (to check the cached
metadata, as items pages do), the candidate rows (``geom &&`` the tile's box in CRS84, through
the GiST index, at most ``cap + 1``), and ``ST_AsMVT`` over ``ST_AsMVTGeom`` of the first ``cap``
of them; how many were dropped beyond the cap is counted (or estimated) only when some were.

Per-zoom simplification: lines and polygons are first clipped to the tile's box (plus the
buffer) in CRS84, then simplified with a tolerance of ``SIMPLIFY_UNITS`` tile units at that zoom
(one pixel of a tile drawn 512 px wide) before they are projected; ``ST_AsMVTGeom`` then snaps
to the 4096-unit grid. The projection and clipping work shrink with the zoom. Points are only
projected.

HTTP-free: :mod:`features.tiles_api` passes in URLs and query dicts.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import morecantile
from django.conf import settings
from psycopg import sql as psql

from geoplatform.tms import tms_get

from . import ogc, sql
from .errors import CollectionNotFound, InvalidQuery
from .models import VectorDataset

MVT = "application/vnd.mapbox-vector-tile"
EXTENT = 4096  # MVT units across a tile
BUFFER = 64  # units kept around the tile (no seams where lines and polygons cross its edge)
# Simplification tolerance in tile units: 8 of 4096 is one pixel of a tile drawn 512 px wide (MapLibre's
# size), half a pixel at 256 px. Measured on the countries: a third fewer bytes, a quarter less time.
SIMPLIFY_UNITS = 8.0

# The tile matrix sets served: morecantile's, on one EPSG CRS (or CRS84) each with a regular
# grid (no variable matrix widths). Each is checked in tests/features/test_tiles.py.
TILE_MATRIX_SETS = (
    "WebMercatorQuad",
    "WorldCRS84Quad",
    "WGS1984Quad",
    "WorldMercatorWGS84Quad",
    "EuropeanETRS89_LAEAQuad",
)
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]
REL_TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_TILING_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
TILE_PARAMS = {"f", "properties", "datetime", "limit", "filter", "filter-lang", "filter-crs"}


class TileMatrixSetNotFound(CollectionNotFound):
    code = "tile_matrix_set_not_found"


class TileNotFound(CollectionNotFound):
    code = "tile_not_found"


def max_features() -> int:
    """The most features one tile holds (the rest are dropped, and the response says how many)."""
    return int(settings.GEOPLATFORM_FEATURES_TILE_MAX_FEATURES)


def tile_matrix_set(tms_id: str) -> morecantile.TileMatrixSet:
    found = tms_get(tms_id) if tms_id in TILE_MATRIX_SETS else None
    if found is None:
        raise TileMatrixSetNotFound(
            f"No tile matrix set {tms_id!r}; use one of {', '.join(TILE_MATRIX_SETS)}.",
            details={"tileMatrixSets": list(TILE_MATRIX_SETS)},
        )
    return found


def srid(tms: morecantile.TileMatrixSet) -> int:
    epsg = tms.crs._pyproj_crs.to_epsg()
    return 4326 if epsg is None else int(epsg)  # CRS84 has no EPSG code: lon/lat, as PostGIS' 4326


@dataclass(frozen=True)
class TileSpec:
    tms_id: str
    z: int
    x: int
    y: int
    srid: int
    bounds: tuple[float, float, float, float]  # the tile in its CRS (x = easting / longitude first)
    query_bounds: tuple[float, float, float, float]  # + the buffer, within the matrix set's extent
    tolerance: float  # CRS84 degrees: SIMPLIFY_UNITS tile units at this zoom


def _coordinate(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidQuery(f"Tile {name} must be an integer, not {value!r}.") from None


@functools.lru_cache(maxsize=4096)
def tile_spec(tms_id: str, z: str, x: str, y: str) -> TileSpec:
    """The tile ``z/x/y`` (x: column, y: row from the top) of ``tms_id``; 404 outside its matrices."""
    tms = tile_matrix_set(tms_id)
    zi, xi, yi = _coordinate("zoom (tileMatrix)", z), _coordinate("x (tileCol)", x), _coordinate("y (tileRow)", y)
    if not tms.minzoom <= zi <= tms.maxzoom:
        raise TileNotFound(f"Tile matrix {zi} is not in {tms_id}: zoom levels are {tms.minzoom}..{tms.maxzoom}.")
    matrix = tms.matrix(zi)
    if not (0 <= xi < matrix.matrixWidth and 0 <= yi < matrix.matrixHeight):
        raise TileNotFound(
            f"Tile {zi}/{xi}/{yi} is outside {tms_id}: at zoom {zi}, x is 0..{matrix.matrixWidth - 1}"
            f" and y is 0..{matrix.matrixHeight - 1}."
        )
    tile = morecantile.Tile(xi, yi, zi)
    left, bottom, right, top = tms.xy_bounds(tile)
    margin = (right - left) * BUFFER / EXTENT
    full = tms.xy_bbox
    query = (
        max(left - margin, full.left),
        max(bottom - margin, full.bottom),
        min(right + margin, full.right),
        min(top + margin, full.top),
    )
    geo = tms.bounds(tile)
    tolerance = min(geo.right - geo.left, geo.top - geo.bottom) * SIMPLIFY_UNITS / EXTENT
    return TileSpec(tms_id, zi, xi, yi, srid(tms), (left, bottom, right, top), query, tolerance)


@dataclass
class TileQuery:
    table: str
    columns: list[str]  # properties written into the tile
    points: bool  # a point collection: nothing to clip or simplify
    spec: TileSpec
    cap: int
    where: psql.Composable = field(default_factory=lambda: psql.SQL("TRUE"))
    where_params: list[Any] = field(default_factory=list)
    feature_count: int = 0
    exact_drops: bool = True  # count what was dropped (else estimate it from geom statistics)
    estimate_drops: bool = False  # statistics exist for the estimate
    filtered: bool = False


def build_query(dataset: VectorDataset, params: Mapping[str, str], spec: TileSpec) -> TileQuery:
    """A :class:`TileQuery` from the tile's query string; unknown parameters are refused."""
    unknown = sorted(k for k in params if k not in TILE_PARAMS)
    if unknown:
        raise InvalidQuery(
            f"Unknown query parameter(s) for a tile: {', '.join(unknown)}. Known: {', '.join(sorted(TILE_PARAMS))}."
        )
    if params.get("f") not in (None, "", "mvt", MVT):
        raise InvalidQuery(f"Unknown format f={params['f']!r} for a tile; tiles are MVT (f=mvt).")
    attributes = [a["name"] for a in dataset.attributes]
    columns = attributes
    if params.get("properties") is not None:
        columns = [p.strip() for p in params["properties"].split(",") if p.strip()]
        bad = [p for p in columns if p not in attributes]
        if bad:
            raise InvalidQuery(
                f"Unknown propert(y/ies) in 'properties': {', '.join(bad)}. Known: {', '.join(attributes)}."
            )
    cap = max_features()
    if params.get("limit"):
        cap = min(ogc.parse_int("limit", params["limit"], minimum=1), cap)
    q = TileQuery(
        table=dataset.collection_id,
        columns=columns,
        points=dataset.geometry_type in ("MultiPoint", "Point"),
        spec=spec,
        cap=cap,
        feature_count=dataset.feature_count,
    )
    parts: list[psql.Composable] = []
    if params.get("datetime") and dataset.temporal_property:
        items = sql.ItemsQuery(table=dataset.collection_id, columns=attributes)
        items.datetime_column = dataset.temporal_property
        items.datetime_range = ogc.parse_datetime(params["datetime"])
        where, where_params = sql._where(items)
        parts.append(where)
        q.where_params += where_params
    if params.get("filter"):
        clause, clause_params = filter_clause(dataset, params)
        parts.append(clause)
        q.where_params += clause_params
    if parts:
        q.where = psql.SQL(" AND ").join(psql.SQL("({})").format(p) for p in parts)
        q.filtered = True
    return q


def filter_clause(dataset: VectorDataset, params: Mapping[str, str]) -> tuple[psql.Composable, list[Any]]:
    """The CQL2 ``filter`` of a tile, exactly as items read it.

    THE ONE CALL SITE of features.cql2 (helper "fcql"): until that module is merged, a filter
    is refused with a 400 rather than ignored (a tile must never show features it should not).
    """
    try:
        from . import cql2  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        raise InvalidQuery("'filter' is not supported on tiles of this server yet.") from None
    clause, clause_params = cql2.filter_clause(
        dataset, params["filter"], params.get("filter-lang", "cql2-text"), params.get("filter-crs")
    )
    return clause, list(clause_params)


def _geometry(points: bool, srid: int) -> psql.Composable:
    """The MVT geometry of row ``r`` (see the module docstring for clipping and simplification)."""
    geom: psql.Composable = psql.SQL("r.geom")
    if not points:
        # Clip only what crosses the box (a cheap bounding-box test), then simplify, keeping
        # what collapses (preserve_collapsed): a polygon smaller than the tolerance would vanish
        # from the tile otherwise, and ST_AsMVTGeom keeps it when it still covers the 4096 grid
        # (the tile then holds the features an unsimplified one holds; test_tiles_simplify.py).
        geom = psql.SQL(
            "ST_Simplify(CASE WHEN r.geom @ (SELECT q FROM _b) THEN r.geom"
            " ELSE ST_ClipByBox2D(r.geom, (SELECT q FROM _b)::box2d) END, %s, true)"
        )
    if srid != 4326:
        geom = psql.SQL("ST_Transform({}, {})").format(geom, psql.Literal(srid))
    return psql.SQL("ST_AsMVTGeom({}, (SELECT e FROM _b), {}, {}, true)").format(
        geom, psql.Literal(EXTENT), psql.Literal(BUFFER)
    )


def _envelopes(tms_id: str, srid: int) -> psql.Composable:
    """``e``: the tile in its CRS; ``q``: the tile plus buffer in CRS84 (what the index is asked)."""
    env: psql.Composable = psql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, {})").format(psql.Literal(srid))
    if tms_id == "WebMercatorQuad":
        env = psql.SQL("ST_TileEnvelope(%s, %s, %s)")
    box: psql.Composable = psql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, {})").format(psql.Literal(srid))
    if srid in (3857, 3395):  # Mercator: straight edges stay straight in CRS84
        box = psql.SQL("ST_Transform({}, 4326)").format(box)
    elif srid != 4326:  # other projections curve the edges: densify before projecting
        box = psql.SQL("ST_Transform(ST_Segmentize({}, %s), 4326)").format(box)
    return psql.SQL("{} AS e, {} AS q").format(env, box)


def _envelope_params(spec: TileSpec) -> list[Any]:
    params: list[Any] = [spec.z, spec.x, spec.y] if spec.tms_id == "WebMercatorQuad" else list(spec.bounds)
    params += spec.query_bounds
    if spec.srid not in (3857, 3395, 4326):
        params.append((spec.query_bounds[2] - spec.query_bounds[0]) / 16)
    return params


def _drops(q: TileQuery) -> str:
    return "exact" if q.exact_drops else "estimate" if q.estimate_drops else "none"


@functools.lru_cache(maxsize=512)
def _tile_sql_text(
    table_name: str,
    columns: tuple[str, ...],
    points: bool,
    tms_id: str,
    srid: int,
    cap: int,
    drops: str,
    meta_table: str,
    where_text: str,
) -> str:
    """One statement shape, composed and rendered once per process (composing it with
    psycopg.sql costs ~0.5 ms, a large part of a cached tile's time)."""
    table = sql._table(table_name)
    cols = psql.SQL("").join(psql.SQL(", t.{}").format(psql.Identifier(c)) for c in columns)
    rcols = psql.SQL("").join(psql.SQL(", r.{}").format(psql.Identifier(c)) for c in columns)
    candidates = psql.SQL("t.geom && (SELECT q FROM _b) AND {}").format(psql.SQL(where_text))
    total: psql.Composable = psql.SQL("NULL")
    if drops == "exact":
        total = psql.SQL("(SELECT count(*) FROM {} AS t WHERE {})").format(table, candidates)
    elif drops == "estimate":
        # PostGIS' own selectivity of the box times the collection's size (no scan; filters ignored).
        total = psql.SQL(
            "GREATEST({cap1}, round(LEAST(1.0, _postgis_selectivity(%s::regclass, 'geom', (SELECT q FROM _b))) * %s))"
        ).format(cap1=psql.Literal(cap + 1))
    query = psql.SQL(
        "WITH _b AS MATERIALIZED (SELECT {envelopes}),"
        " _r AS MATERIALIZED (SELECT t.id, t.geom{cols} FROM {table} AS t WHERE {candidates} LIMIT {cap1})"
        " SELECT (SELECT {version} FROM {meta} WHERE collection_id = %s AND (published OR %s)),"
        " (SELECT count(*) FROM _r),"
        " (SELECT ST_AsMVT(m, %s, {extent}, 'geom', 'id') FROM"
        # OFFSET 0: the subquery stays one, so the IS NOT NULL test reads its column instead of
        # computing ST_AsMVTGeom a second time (the planner would inline the expression).
        " (SELECT r.id, {geometry} AS geom{rcols} FROM (SELECT * FROM _r LIMIT {cap}) AS r OFFSET 0) AS m"
        " WHERE m.geom IS NOT NULL),"
        " CASE WHEN (SELECT count(*) FROM _r) > {cap} THEN {total} - {cap} END"
    ).format(
        envelopes=_envelopes(tms_id, srid),
        cols=cols,
        table=table,
        candidates=candidates,
        cap1=psql.Literal(cap + 1),
        cap=psql.Literal(cap),
        version=psql.SQL(sql.row_version_sql()),
        meta=psql.Identifier(meta_table),
        extent=psql.Literal(EXTENT),
        geometry=_geometry(points, srid),
        rcols=rcols,
        total=total,
    )
    return sql._render(query)


def tile_sql(
    q: TileQuery, *, meta_table: str, collection_id: str, include_unpublished: bool
) -> tuple[psql.Composable, list[Any]]:
    """The tile's one statement: (row version, candidate rows, MVT bytes, features dropped)."""
    where_text = sql._render(q.where) if q.filtered else "TRUE"
    text = _tile_sql_text(
        q.table, tuple(q.columns), q.points, q.spec.tms_id, q.spec.srid, q.cap, _drops(q), meta_table, where_text
    )
    params: list[Any] = [*_envelope_params(q.spec), *q.where_params, collection_id, include_unpublished, q.table]
    if not q.points:
        params.append(q.spec.tolerance)
    if q.exact_drops:
        params += q.where_params
    elif q.estimate_drops:
        params += [f'{sql.SCHEMA}."{q.table}"', q.feature_count]
    return psql.SQL(text), params


@dataclass
class TileRows:
    version: str | None  # the metadata row's version; None: gone or hidden from the caller
    features: int  # features written (candidates up to the cap)
    data: bytes  # the MVT (empty: no feature in the tile)
    dropped: int | None  # features beyond the cap; None: some, how many unknown
    cap: int  # the most features the tile could hold
    dropped_exact: bool  # ``dropped`` was counted (else estimated)


def tile_read(q: TileQuery, *, meta_table: str, collection_id: str, include_unpublished: bool) -> TileRows:
    query, params = tile_sql(
        q, meta_table=meta_table, collection_id=collection_id, include_unpublished=include_unpublished
    )
    # Without a filter the plan is the same for every tile (an index scan on the box, cut by
    # LIMIT): prepared once. A filter keeps a plan per request, made for its values.
    row = sql._execute(query, params, bound=not q.filtered).fetchone()
    candidates = int(row[1])
    dropped = None if candidates > q.cap and row[3] is None else int(row[3] or 0)
    return TileRows(
        version=row[0],
        features=min(candidates, q.cap),
        data=bytes(row[2] or b""),
        dropped=dropped,
        cap=q.cap,
        dropped_exact=q.exact_drops or not dropped,
    )


class TileCache:
    """Made tiles of this process, least recently used first out, up to ``budget`` bytes.

    Keys hold the collection's data version (:func:`selectors.dataset_version`): a reloaded,
    replaced or unpublished collection is never served from here, whatever is still cached.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._used = 0
        self._items: OrderedDict[Hashable, TileRows] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> TileRows | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, rows: TileRows) -> None:
        size = len(rows.data) + 200
        if size > self.budget // 8:  # a few huge tiles would push out everything else
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = rows
            self._used += size
            while self._used > self.budget:
                _, old = self._items.popitem(last=False)
                self._used -= len(old.data) + 200


_cache: TileCache | None = None


def tile_cache() -> TileCache | None:
    """This process's tile cache (None when GEOPLATFORM_FEATURES_TILE_CACHE_MB is 0)."""
    global _cache
    budget = int(settings.GEOPLATFORM_FEATURES_TILE_CACHE_MB) * 1024 * 1024
    if budget <= 0:
        return None
    if _cache is None or _cache.budget != budget:
        _cache = TileCache(budget)
    return _cache


# --- documents ------------------------------------------------------------------------------------


def tms_uri(tms_id: str) -> str:
    return f"http://www.opengis.net/def/tilematrixset/OGC/1.0/{tms_id}"


def tms_list_document(url: Callable[[str], str]) -> dict[str, Any]:
    sets = []
    for tms_id in TILE_MATRIX_SETS:
        tms = tile_matrix_set(tms_id)
        sets.append(
            {
                "id": tms_id,
                "title": tms.title or tms_id,
                "uri": tms_uri(tms_id),
                "links": [ogc.link(url(f"tileMatrixSets/{tms_id}"), "self", "application/json", tms.title or tms_id)],
            }
        )
    return {"tileMatrixSets": sets, "links": [ogc.link(url("tileMatrixSets"), "self", "application/json")]}


@functools.lru_cache(maxsize=len(TILE_MATRIX_SETS))
def tms_document(tms_id: str) -> dict[str, Any]:
    """The OGC TMS 2.0 JSON document of ``tms_id``, readable by TMS 1.0 clients as well.

    GDAL up to 3.6 (the OGC API driver, ``gcore/tilematrixset.cpp``) only reads the TMS 1.0 JSON
    encoding: it takes a document as a definition only when it holds ``identifier`` and
    ``boundingBox``, reads the CRS from ``supportedCRS`` and each matrix's ``identifier`` and
    ``topLeftCorner`` (TMS 2.0: ``id``, ``crs``, ``pointOfOrigin``), and fails with "Invalid
    tiling matrix set name" otherwise. TMS 2.0's JSON schema allows members of its own, so the
    1.0 names are served beside the 2.0 ones (same values), plus 2.0's optional ``boundingBox``.
    """
    tms = tile_matrix_set(tms_id)
    doc: dict[str, Any] = tms.model_dump(exclude_none=True, mode="json")
    box = tms.xy_bbox
    lower, upper = [box.left, box.bottom], [box.right, box.top]
    if tms._invert_axis:  # the CRS's own axis order (northing / latitude first), as pointOfOrigin
        lower, upper = lower[::-1], upper[::-1]
    doc.setdefault("boundingBox", {"lowerLeft": lower, "upperRight": upper, "crs": doc["crs"]})
    doc["identifier"] = doc["id"]
    doc["supportedCRS"] = doc["crs"]
    for matrix in doc["tileMatrices"]:
        matrix["identifier"] = matrix["id"]
        matrix["topLeftCorner"] = matrix["pointOfOrigin"]  # every served set's cornerOfOrigin is topLeft
    return doc


def _crs_uri(tms: morecantile.TileMatrixSet) -> str:
    return str(tms.crs.root) if hasattr(tms.crs, "root") else str(tms.crs)


def tile_template(url: Callable[[str], str], collection_id: str, tms_id: str) -> str:
    return url(f"collections/{collection_id}/tiles/{tms_id}") + "/{tileMatrix}/{tileCol}/{tileRow}"


def tilesets_document(dataset: VectorDataset, url: Callable[[str], str]) -> dict[str, Any]:
    cid = dataset.collection_id
    tilesets = []
    for tms_id in TILE_MATRIX_SETS:
        tms = tile_matrix_set(tms_id)
        base = url(f"collections/{cid}/tiles/{tms_id}")
        tilesets.append(
            {
                "title": f"{dataset.title or cid} ({tms_id})",
                "dataType": "vector",
                "crs": _crs_uri(tms),
                "tileMatrixSetURI": tms_uri(tms_id),
                "links": [
                    ogc.link(base, "self", "application/json", f"Tileset in {tms_id}"),
                    ogc.link(url(f"tileMatrixSets/{tms_id}"), REL_TILING_SCHEME, "application/json", tms_id),
                    {**ogc.link(tile_template(url, cid, tms_id), "item", MVT, "Tiles"), "templated": True},
                ],
            }
        )
    return {
        "links": [
            ogc.link(url(f"collections/{cid}/tiles"), "self", "application/json", "Tilesets"),
            ogc.link(url(f"collections/{cid}"), "collection", "application/json", dataset.title or cid),
        ],
        "tilesets": tilesets,
    }


def _zooms(tms: morecantile.TileMatrixSet) -> tuple[int, int]:
    # Tiles are made at any zoom; 0..22 is what map clients ask (MapLibre's maximum is 22+).
    return tms.minzoom, min(tms.maxzoom, 22)


def _layer(dataset: VectorDataset, tms: morecantile.TileMatrixSet) -> dict[str, Any]:
    lo, hi = _zooms(tms)
    dimension = {"MultiPoint": 0, "MultiLineString": 1, "MultiPolygon": 2}
    return {
        "id": dataset.collection_id,
        "title": dataset.title or dataset.collection_id,
        "dataType": "vector",
        "geometryDimension": dimension.get(dataset.geometry_type, 2),
        "featureType": dataset.geometry_type,
        "minTileMatrix": str(lo),
        "maxTileMatrix": str(hi),
        "propertiesSchema": {
            "type": "object",
            "properties": {a["name"]: ogc._property_schema(a["type"]) for a in dataset.attributes},
        },
    }


def tileset_document(dataset: VectorDataset, tms_id: str, url: Callable[[str], str]) -> dict[str, Any]:
    cid = dataset.collection_id
    tms = tile_matrix_set(tms_id)
    base = url(f"collections/{cid}/tiles/{tms_id}")
    layer = _layer(dataset, tms)
    doc: dict[str, Any] = {
        "title": f"{dataset.title or cid} ({tms_id})",
        "description": dataset.description,
        "dataType": "vector",
        "crs": _crs_uri(tms),
        "tileMatrixSetURI": tms_uri(tms_id),
        "layers": [layer],
        "links": [
            ogc.link(base, "self", "application/json", f"Tileset in {tms_id}"),
            ogc.link(base + "?f=tilejson", "alternate", "application/json", "TileJSON 3.0"),
            ogc.link(url(f"tileMatrixSets/{tms_id}"), REL_TILING_SCHEME, "application/json", tms_id),
            ogc.link(url(f"collections/{cid}"), "collection", "application/json", dataset.title or cid),
            {**ogc.link(tile_template(url, cid, tms_id), "item", MVT, "Tiles"), "templated": True},
        ],
    }
    if dataset.bbox:
        doc["boundingBox"] = {
            "lowerLeft": dataset.bbox[:2],
            "upperRight": dataset.bbox[2:],
            "crs": ogc.CRS84,
        }
    return doc


def tilejson_document(
    dataset: VectorDataset, tms_id: str, url: Callable[[str], str], query: str = ""
) -> dict[str, Any]:
    """TileJSON 3.0.0 (the vector_layers MapLibre and others read). ``query``: passed on to tiles."""
    tms = tile_matrix_set(tms_id)
    lo, hi = _zooms(tms)
    cid = dataset.collection_id
    tiles = url(f"collections/{cid}/tiles/{tms_id}") + "/{z}/{x}/{y}" + (f"?{query}" if query else "")
    bbox = list(dataset.bbox) if dataset.bbox else [-180.0, -90.0, 180.0, 90.0]
    center_zoom = lo
    if dataset.bbox:  # a zoom at which the whole extent fits in about one tile
        span = max(bbox[2] - bbox[0], bbox[3] - bbox[1], 1e-9)
        center_zoom = max(lo, min(hi, int(math.log2(360 / span))))
    return {
        "tilejson": "3.0.0",
        "name": dataset.title or cid,
        "description": dataset.description,
        "scheme": "xyz",
        "tiles": [tiles],
        "minzoom": lo,
        "maxzoom": hi,
        "bounds": bbox,
        "center": [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, center_zoom],
        "vector_layers": [
            {
                "id": cid,
                "description": dataset.title or cid,
                "minzoom": lo,
                "maxzoom": hi,
                "fields": {a["name"]: ogc._property_schema(a["type"])["type"] for a in dataset.attributes},
            }
        ],
    }


def collection_links(collection_id: str, url: Callable[[str], str]) -> list[dict[str, Any]]:
    """The tile links of a collection document (registered with :func:`hooks.register_collection_links`)."""
    return [
        ogc.link(url(f"collections/{collection_id}/tiles"), REL_TILESETS_VECTOR, "application/json", "Vector tilesets"),
    ]


def openapi_paths() -> dict[str, Any]:
    """The tile routes for the features OpenAPI document (:func:`ogc.openapi_document`)."""
    ok_json = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}},
    }
    errors = {"400": error, "404": error}

    def path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}

    tms = path_param("tileMatrixSetId", {"type": "string", "enum": list(TILE_MATRIX_SETS)}, "Tile matrix set.")
    collection = {"$ref": "#/components/parameters/collectionId"}
    f_json = {"name": "f", "in": "query", "required": False, "schema": {"type": "string", "enum": ["json"]}}
    f_tileset = {
        **f_json,
        "schema": {"type": "string", "enum": ["json", "tilejson"]},
        "description": "tilejson: TileJSON 3.0",
    }
    tile_query = [
        {"name": "properties", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "Comma-separated properties written into the tile (default: all).", "style": "form", "explode": False},
        {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1},
         "description": "Most features in the tile (at most the server's cap)."},
        {"name": "datetime", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "RFC 3339 instant or interval (collections with a temporal property)."},
        {"name": "filter", "in": "query", "required": False, "schema": {"type": "string"}, "description": "CQL2 filter."},
        {"name": "filter-lang", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["cql2-text", "cql2-json"]}},
        {"name": "filter-crs", "in": "query", "required": False, "schema": {"type": "string", "format": "uri"}},
    ]  # fmt: skip
    tile_headers = {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in (
            ("X-Features-Limit", "Most features a tile holds."),
            ("X-Features-Dropped", "Features of the tile left out beyond the limit (or 'unknown')."),
            ("X-Features-Dropped-Type", "exact, estimate or unknown."),
        )
    }
    return {
        "/tileMatrixSets": {
            "get": {"operationId": "getTileMatrixSetsList", "summary": "Tile matrix sets", "parameters": [f_json],
                    "responses": {"200": ok_json, "400": error}}
        },
        "/tileMatrixSets/{tileMatrixSetId}": {
            "get": {"operationId": "getTileMatrixSet", "summary": "A tile matrix set", "parameters": [tms, f_json],
                    "responses": {"200": ok_json, **errors}}
        },
        "/collections/{collectionId}/tiles": {
            "get": {"operationId": "getCollectionVectorTileSetsList", "summary": "Vector tilesets of a collection",
                    "parameters": [collection, f_json], "responses": {"200": ok_json, **errors}}
        },
        "/collections/{collectionId}/tiles/{tileMatrixSetId}": {
            "get": {"operationId": "getCollectionVectorTileSet", "summary": "A vector tileset (or its TileJSON)",
                    "parameters": [collection, tms, f_tileset, *tile_query], "responses": {"200": ok_json, **errors}}
        },
        "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileCol}/{tileRow}": {
            "get": {
                "operationId": "getCollectionVectorTile",
                "summary": "A Mapbox Vector Tile of a collection",
                "parameters": [
                    collection, tms,
                    path_param("tileMatrix", {"type": "string"}, "Zoom level (tile matrix id)."),
                    path_param("tileCol", {"type": "integer", "minimum": 0}, "Column (x)."),
                    path_param("tileRow", {"type": "integer", "minimum": 0}, "Row (y), from the top."),
                    *tile_query,
                ],
                "responses": {
                    "200": {"description": "The tile", "headers": tile_headers,
                            "content": {MVT: {"schema": {"type": "string", "format": "binary"}}}},
                    "204": {"description": "No feature in the tile", "headers": tile_headers},
                    "304": {"description": "Not modified (If-None-Match)"},
                    **errors,
                },
            }
        },
    }  # fmt: skip
