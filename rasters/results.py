"""What the raster jobs leave in their result (``Job.result``), as types.

Publishing reads these keys back as a release's ``outputs`` (``publishing/kinds/raster.py``
and ``raster_collection.py``); mypy checks the side that writes them (the ``finalize`` of
``rasters.stages`` and ``rasters.collection_stages``) and the side that reads them, and
tests/rasters/test_results.py checks a real job's result against them, so a renamed key
cannot slip past a reader.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class RasterJobResult(TypedDict):
    """A ``process_raster`` job's result: one STAC item and its tile service links."""

    collection_id: str
    item_id: str
    raster_type: str
    tiers: list[str]  # the COG tiers written ("analysis", "visualization", ...)
    tilejson_url: str
    tile_url_template: str
    preview_url: str
    viewer_url: str
    stac_item_url: str
    # a reviewed release (publish=false): the item publishing registers on approval
    stac_item: NotRequired[dict[str, Any]]


class RasterCollectionJobResult(TypedDict):
    """A ``process_raster_collection`` job's result: the items, their mosaic and its links."""

    collection_id: str
    item_ids: list[str]
    item_count: int
    bbox: list[float]
    stac_collection_url: str
    tilejson_url_template: str  # per item, with "{item_id}" left in
    search_id: str
    mosaic_minzoom: int
    mosaic_maxzoom: int
    mosaic_tilejson_url: str
    mosaic_tile_url_template: str
    cog_blobs: list[str]  # silver COGs of every item (the external copy of a public release)
    # a reviewed release (publish=false): the collection publishing registers on approval
    stac_collection: NotRequired[dict[str, Any]]


class RasterUnpublishResult(TypedDict):
    """An ``unpublish_raster`` job's result (also a dry run's answer)."""

    dry_run: bool
    container: str
    blobs: list[str]
    stac_items: list[str]


class RasterCollectionUnpublishResult(TypedDict):
    """An ``unpublish_raster_collection`` job's result (also a dry run's answer)."""

    dry_run: bool
    container: str
    blobs: list[str]
    stac_collection: str | None
    stac_items: list[str]
    pending_items: list[str]
    searches: list[str]
