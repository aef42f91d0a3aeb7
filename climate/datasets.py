"""Open a climate dataset as a lazy ``xarray.Dataset``: the API the read side (``climate/read/``)
builds on.

- :func:`item_get`: the STAC item (published, or awaiting review with ``include_pending``);
- :func:`dataset_open`: the dataset behind one of its assets (``references``: the kerchunk
  JSON over the source files; ``rechunked``: the time-series Zarr v3 copy when there is one).
  Nothing is downloaded: chunks are read on demand by ranged reads through ``gpstore://``.
  Opened datasets are kept per process in a bounded LRU keyed by the asset's
  ``geoplatform:etag`` (the sha256 of the references), so a re-virtualized series is seen at
  once by every process (the item, read again after a few seconds, names the new ETag);
- :func:`collection_list`: the collections holding climate datasets, with their item ids.

Datasets are opened with CF decoding (``scale_factor``/``add_offset``/``_FillValue``, cftime
for 360_day/noleap calendars: ``use_cftime`` when the calendar is not standard).
"""

from __future__ import annotations

import json
import threading
import warnings
from collections import OrderedDict
from typing import Any

import xarray as xr

from geoplatform.storage import get_storage

from . import conf, gpstore, selectors
from . import refs as refs_mod
from .errors import DatasetNotFound, InvalidClimateSource

DEFAULT_ASSET = "references"
_datasets: OrderedDict[tuple[str, str, str], xr.Dataset] = OrderedDict()
_lock = threading.Lock()


def item_get(collection_id: str, item_id: str, *, include_pending: bool = False) -> dict[str, Any]:
    """The STAC item (``geoplatform:pending`` true on one awaiting review); 404 if none."""
    return selectors.item_get(collection_id=collection_id, item_id=item_id, include_pending=include_pending)


def collection_list(*, include_pending: bool = False) -> list[dict[str, Any]]:
    """``[{"id", "title", "description", "items": [item ids]}]`` for every collection holding
    a (published, or also pending) climate dataset, ordered by id."""
    out: dict[str, dict[str, Any]] = {}
    for row in selectors.dataset_rows_list(include_pending=include_pending):
        entry = out.setdefault(
            row.collection_id, {"id": row.collection_id, "title": None, "description": None, "items": []}
        )
        entry["items"].append(row.item_id)
    from catalog import selectors as catalog_selectors

    for cid, entry in out.items():
        collection = catalog_selectors.collection_get(collection_id=cid) or {}
        entry["title"] = collection.get("title")
        entry["description"] = collection.get("description")
    return [out[k] for k in sorted(out)]


def asset_get(item: dict[str, Any], asset: str | None = None) -> tuple[str, dict[str, Any]]:
    """The asset to open: ``asset`` if given, else ``rechunked`` is not preferred here (the
    read side chooses it for time series) and ``references`` is the default."""
    assets = {k: v for k, v in (item.get("assets") or {}).items() if "geoplatform:blob" in v}
    key = asset or DEFAULT_ASSET
    if key not in assets:
        raise DatasetNotFound(
            f"Item {item.get('id')!r} has no asset {key!r}; it has {', '.join(sorted(assets)) or 'none'}."
        )
    return key, assets[key]


def _open(asset: dict[str, Any]) -> xr.Dataset:
    container, blob = asset["geoplatform:container"], asset["geoplatform:blob"]
    fmt = asset.get("geoplatform:format", "kerchunk")
    if fmt == "kerchunk":
        with get_storage(container).open(blob, "rb") as fh:
            return refs_mod.open_references(json.load(fh))
    if fmt == "zarr":
        with warnings.catch_warnings():
            # A source store without consolidated metadata is opened by listing (zarr warns about both).
            warnings.filterwarnings("ignore", message="(?i).*consolidated metadata")
            return xr.open_dataset(
                gpstore.url(container, blob),
                engine="zarr",
                backend_kwargs={"consolidated": None, "zarr_format": 3},
                decode_times=xr.coders.CFDatetimeCoder(use_cftime=True),
            )
    raise InvalidClimateSource(f"Unknown climate asset format {fmt!r}.")


def dataset_open(
    collection_id: str, item_id: str, *, include_pending: bool = False, asset: str | None = None
) -> xr.Dataset:
    """The lazy dataset of one item's asset (cached per process by the asset's ETag)."""
    item = item_get(collection_id, item_id, include_pending=include_pending)
    _, chosen = asset_get(item, asset)
    key = (chosen["geoplatform:container"], chosen["geoplatform:blob"], str(chosen.get("geoplatform:etag", "")))
    with _lock:
        hit = _datasets.get(key)
        if hit is not None:
            _datasets.move_to_end(key)
            return hit
    ds = _open(chosen)
    with _lock:
        _datasets[key] = ds
        _datasets.move_to_end(key)
        while len(_datasets) > conf.dataset_cache_size():
            _datasets.popitem(last=False)
    return ds


def dataset_cache_clear() -> None:
    with _lock:
        _datasets.clear()
    selectors.item_cache_clear()
