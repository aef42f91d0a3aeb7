"""Paths of the read API for one published raster (relative: the host is the caller's)."""

from __future__ import annotations

from urllib.parse import urlencode

PREFIX = "/api/raster"


def base(collection_id: str, item_id: str) -> str:
    return f"{PREFIX}/{collection_id}/{item_id}"


def tilejson(collection_id: str, item_id: str, query: dict[str, str] | None = None) -> str:
    return base(collection_id, item_id) + "/tilejson.json" + (f"?{urlencode(query)}" if query else "")


def tile_template(
    collection_id: str,
    item_id: str,
    tms: str = "WebMercatorQuad",
    fmt: str = "png",
    query: dict[str, str] | None = None,
) -> str:
    path = base(collection_id, item_id) + f"/tiles/{tms}/{{z}}/{{x}}/{{y}}.{fmt}"
    return path + (f"?{urlencode(query, safe=',')}" if query else "")


def preview(collection_id: str, item_id: str) -> str:
    return base(collection_id, item_id) + "/preview.png"


def viewer(collection_id: str, item_id: str) -> str:
    return base(collection_id, item_id) + "/viewer"


def stac_item(collection_id: str, item_id: str) -> str:
    return f"/api/stac/collections/{collection_id}/items/{item_id}"


def search_mosaic_tilejson(search_id: str) -> str:
    return f"{PREFIX}/mosaic/{search_id}/tilejson.json"


def search_mosaic_tile_template(search_id: str, tms: str = "WebMercatorQuad", fmt: str = "png") -> str:
    return f"{PREFIX}/mosaic/{search_id}/tiles/{tms}/{{z}}/{{x}}/{{y}}.{fmt}"


def stac_collection(collection_id: str) -> str:
    return f"/api/stac/collections/{collection_id}"
