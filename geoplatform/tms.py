"""Tile matrix sets (morecantile), shared by the raster and vector tile APIs."""

from __future__ import annotations

import threading

import morecantile
from morecantile.errors import InvalidIdentifier

_local = threading.local()


def tms_get(tms_id: str) -> morecantile.TileMatrixSet | None:
    """The tile matrix set ``tms_id`` (None when morecantile has no such id).

    morecantile.tms.get() deep-copies the definition on every call (~0.5 ms); each thread
    keeps its own copies (a TMS holds pyproj transformers).
    """
    cache: dict[str, morecantile.TileMatrixSet] = _local.__dict__.setdefault("by_id", {})
    found = cache.get(tms_id)
    if found is None:
        try:
            found = cache[tms_id] = morecantile.tms.get(tms_id)
        except InvalidIdentifier:
            return None
    return found
