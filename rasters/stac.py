"""STAC 1.1.0 items for published rasters (projection v2 and raster v2 extension fields)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from rasterio.crs import CRS

from . import links

STAC_VERSION = "1.1.0"
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER_EXT = "https://stac-extensions.github.io/raster/v2.0.0/schema.json"
FILE_EXT = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
# Properties the pipeline owns; caller metadata cannot replace them.
_RESERVED = ("datetime", "created", "updated", "title", "description")

TIER_ROLES = {"visualization": ["visual"], "analysis": ["data"], "archive": ["data", "archive"]}
# Which asset the tile/extract API reads by default, best first.
TILE_ASSET_ORDER = ("visualization", "analysis", "archive")
DATA_ASSET_ORDER = ("analysis", "archive", "visualization")


def _proj_fields(facts: dict[str, Any]) -> dict[str, Any]:
    crs = CRS.from_user_input(facts["crs"])
    epsg = crs.to_epsg()
    out: dict[str, Any] = {"proj:code": f"EPSG:{epsg}" if epsg else None}
    if not epsg:
        out["proj:wkt2"] = crs.to_wkt()
    out["proj:shape"] = [facts["height"], facts["width"]]
    out["proj:transform"] = facts["transform"]
    out["proj:bbox"] = facts["bounds"]
    return out


def _bands(facts: dict[str, Any], stats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resolution = abs(facts["transform"][0])
    bands = []
    for index in range(facts["count"]):
        band: dict[str, Any] = {
            "name": f"b{index + 1}",
            "data_type": facts["dtype"],
            "raster:spatial_resolution": resolution,
        }
        if facts.get("nodata") is not None:
            band["nodata"] = "nan" if facts["nodata"] != facts["nodata"] else facts["nodata"]
        if index < len(stats):
            s = stats[index]
            band["statistics"] = {
                k: s[k] for k in ("minimum", "maximum", "mean", "stddev", "valid_percent") if s.get(k) is not None
            }
        bands.append(band)
    return bands


def default_render(raster_type: str, stats: list[dict[str, Any]], count: int) -> dict[str, str]:
    """Query parameters that make a sensible default picture of this kind of raster."""

    def rng(i: int) -> str:
        s = stats[i] if i < len(stats) else {}
        lo, hi = s.get("percentile_2"), s.get("percentile_98")
        if lo is None or hi is None or hi <= lo:
            lo, hi = s.get("minimum"), s.get("maximum")
        if lo is None or hi is None or hi <= lo:
            return "0,255"
        return f"{lo:g},{hi:g}"

    if raster_type == "dem":
        s = stats[0] if stats else {}
        lo, hi = s.get("minimum", 0), s.get("maximum", 1000)
        return {"colormap_name": "terrain", "rescale": f"{lo:g},{hi:g}"}
    if raster_type == "continuous":
        return {"colormap_name": "viridis", "rescale": rng(0)}
    if raster_type == "multispectral":
        bidx = [3, 2, 1] if count >= 3 else [1]
        return {"bidx": ",".join(map(str, bidx)), "rescale": rng(bidx[0] - 1)}
    return {}


def build_item(
    *,
    collection_id: str,
    item_id: str,
    job_id: str,
    facts: dict[str, Any],
    raster_type: str,
    geometry_bbox: tuple[float, float, float, float],
    assets: list[dict[str, Any]],
    stats: list[dict[str, Any]],
    title: str,
    description: str,
    metadata: dict[str, Any],
    source: str,
) -> dict[str, Any]:
    west, south, east, north = geometry_bbox
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    properties: dict[str, Any] = {k: v for k, v in metadata.items() if k not in _RESERVED}
    properties.update(
        {
            "datetime": metadata.get("datetime") or now,
            "created": now,
            "updated": now,
            **_proj_fields(facts),
            "geoplatform:raster_type": raster_type,
            "geoplatform:job_id": job_id,
            "geoplatform:source": source,
            "geoplatform:render": default_render(raster_type, stats, facts["count"]),
        }
    )
    if title or metadata.get("title"):
        properties["title"] = title or metadata["title"]
    if description or metadata.get("description"):
        properties["description"] = description or metadata["description"]
    stac_assets: dict[str, Any] = {}
    for asset in assets:
        stac_assets[asset["tier"]] = {
            "href": asset["href"],
            "type": COG_MEDIA_TYPE,
            "title": f"{asset['tier'].capitalize()} COG ({asset['profile']})",
            "roles": TIER_ROLES[asset["tier"]],
            "file:size": asset["size"],
            "bands": _bands(facts, stats),
            # Where the API reads it (GDAL /vsiaz/ or a local path), independent of the href form.
            "geoplatform:container": asset["container"],
            "geoplatform:blob": asset["blob"],
            "geoplatform:profile": asset["profile"],
        }
    stac_assets["thumbnail"] = {
        "href": links.preview(collection_id, item_id) + "?" + urlencode({"max_size": 256}),
        "type": "image/png",
        "title": "Thumbnail",
        "roles": ["thumbnail"],
    }
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [PROJ_EXT, RASTER_EXT, FILE_EXT],
        "id": item_id,
        "collection": collection_id,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        },
        "bbox": [west, south, east, north],
        "properties": properties,
        "assets": stac_assets,
        "links": [
            {"rel": "tilejson", "href": links.tilejson(collection_id, item_id), "type": "application/json"},
            {"rel": "viewer", "href": links.viewer(collection_id, item_id), "type": "text/html"},
        ],
    }
