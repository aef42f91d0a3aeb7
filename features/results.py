"""What a ``process_vector`` job leaves in its result (``Job.result``), as types.

Publishing reads these keys back as a release's ``outputs`` (the service links per
collection, the split tables); mypy checks the side that writes them
(``features.services._load_result``), and tests/features/test_results.py checks a real
job's result against them, so a renamed key cannot slip past either reader.
"""

from __future__ import annotations

from typing import Any, TypedDict


class VectorCollectionResult(TypedDict):
    """One OGC API Features collection the job made (a table in the ``geo`` schema)."""

    collection_id: str
    table: str  # "geo.<collection_id>"
    items_url: str
    feature_count: int
    geometry_type: str
    bbox: list[float] | None
    temporal_extent: list[Any] | None
    stac_item: str | None  # "system-vectors/<collection_id>" when a STAC item was made


class VectorJobResult(TypedDict, total=False):
    """The job's result. ``collections`` always lists every collection made. A file of one
    geometry type made one collection, also spelled out at the top level (the keys of
    :class:`VectorCollectionResult`); a file mixing types was split into
    ``<table>_point`` / ``_line`` / ``_polygon``, named by ``collection_ids``."""

    collections: list[VectorCollectionResult]
    # one collection
    collection_id: str
    table: str
    items_url: str
    feature_count: int
    geometry_type: str
    bbox: list[float] | None
    temporal_extent: list[Any] | None
    stac_item: str | None
    # a split file
    split_by_geometry_type: bool
    collection_ids: list[str]
    geometry_types: list[str]
