"""What the climate jobs leave in their result (``Job.result``), as types.

Publishing reads these keys back as a release's ``outputs`` (``publishing/kinds/zarr.py``).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class VirtualizeResult(TypedDict):
    """A ``virtualize_climate`` job's result."""

    collection_id: str
    item_id: str
    files: int
    references_blob: str  # silver: the combined kerchunk JSON
    references_etag: str
    variables: list[str]
    published: bool
    source_container: str
    source_files: list[str]
    stac_item_url: str
    # a reviewed release (publish=false): the item publishing registers on approval
    stac_item: NotRequired[dict[str, Any]]


class UnpublishResult(TypedDict):
    """An ``unpublish_zarr`` job's result (also a dry run's answer)."""

    dry_run: bool
    collection_id: str
    item_id: str
    container: str
    blobs: list[str]  # silver: references and any rechunked copy
    stac_items: list[str]
    dataset_row: bool
    source_container: str
    source_blobs: list[str]  # only with delete_sources=true


class RechunkResult(TypedDict):
    """A ``rechunk_climate`` job's result."""

    collection_id: str
    item_id: str
    zarr_prefix: str  # silver: the Zarr v3 store
    chunks: dict[str, int]
    bytes_written: int
