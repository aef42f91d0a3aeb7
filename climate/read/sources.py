"""Where the read API gets its datasets: ``climate.datasets`` (the ingest side's one reader).

An EDR collection is one climate item: its id is ``<collection>~<item>`` (``~`` is URL-safe and
appears in neither STAC ids nor CMIP6 names). ``register`` adds datasets opened some other way
(tests on fixture files, a benchmark); they are looked up first.
"""

from __future__ import annotations

import importlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import xarray as xr
from django.conf import settings

from .errors import DatasetNotFound, InvalidQuery

SEPARATOR = "~"


@dataclass(frozen=True)
class Source:
    collection_id: str
    item_id: str
    title: str

    @property
    def edr_id(self) -> str:
        return f"{self.collection_id}{SEPARATOR}{self.item_id}"


_registered: dict[tuple[str, str], tuple[Source, Callable[[], xr.Dataset]]] = {}
_lock = threading.Lock()


def register(collection_id: str, item_id: str, opener: Callable[[], xr.Dataset], *, title: str = "") -> Source:
    source = Source(collection_id, item_id, title or item_id)
    with _lock:
        _registered[(collection_id, item_id)] = (source, opener)
    return source


def unregister(collection_id: str, item_id: str) -> None:
    with _lock:
        _registered.pop((collection_id, item_id), None)


def _datasets() -> Any:
    # The ingest side's module; absent on a branch without it, then only registered sources exist.
    try:
        return importlib.import_module("climate.datasets")
    except ImportError:
        return None


def split_edr_id(edr_id: str) -> tuple[str, str]:
    collection_id, sep, item_id = edr_id.partition(SEPARATOR)
    if not sep or not collection_id or not item_id:
        raise DatasetNotFound(
            f"No climate collection {edr_id!r}: EDR collection ids are <collection>{SEPARATOR}<item>."
        )
    return collection_id, item_id


def source_list(*, include_pending: bool = False) -> list[Source]:
    with _lock:
        found = [source for source, _ in _registered.values()]
    module = _datasets()
    if module is not None:
        for entry in module.collection_list(**({"include_pending": True} if include_pending else {})):
            found.extend(_sources_of(entry))
    seen: set[str] = set()
    unique = []
    for source in found:
        if source.edr_id not in seen:
            seen.add(source.edr_id)
            unique.append(source)
    return unique


def _field(entry: Any, name: str, default: Any = None) -> Any:
    if isinstance(entry, dict):
        return entry.get(name, default)
    return getattr(entry, name, default)


def _sources_of(entry: Any) -> list[Source]:
    collection_id = str(_field(entry, "collection_id") or _field(entry, "id"))
    items = _field(entry, "items")
    if items is None:
        item_id = _field(entry, "item_id")
        return [Source(collection_id, str(item_id), str(_field(entry, "title") or item_id))] if item_id else []
    out = []
    for item in items:
        item_id = item if isinstance(item, str) else str(_field(item, "item_id") or _field(item, "id"))
        title = item_id if isinstance(item, str) else str(_field(item, "title") or item_id)
        out.append(Source(collection_id, item_id, title))
    return out


def dataset_get(
    collection_id: str, item_id: str, *, include_pending: bool = False, time_series: bool = False, warm: bool = True
) -> xr.Dataset:
    """The opened (lazy) dataset of one item; 404 naming it when there is none. ``time_series``:
    a point series, read from the time-chunked ``rechunked`` copy when the item has one.
    ``warm=False``: metadata only (collection documents), never loaded into memory."""
    keep = hot if warm else _lazy
    with _lock:
        registered = _registered.get((collection_id, item_id))
    if registered is not None:
        return keep(registered[1]())
    module = _datasets()
    if module is None:
        raise DatasetNotFound(f"No climate dataset {collection_id}/{item_id}.")
    try:
        asset = None
        if time_series:
            item = module.item_get(collection_id, item_id, include_pending=include_pending)
            asset = "rechunked" if "rechunked" in (item.get("assets") or {}) else None
        return keep(module.dataset_open(collection_id, item_id, include_pending=include_pending, asset=asset))
    except (KeyError, LookupError) as exc:
        raise DatasetNotFound(f"No climate dataset {collection_id}/{item_id}.") from exc


# Small datasets held in memory, decoded, per process. A point series over one-step chunks
# reads every chunk (240 reads for A1B); every point of the grid reads the same chunks again.
# Keyed by the lazy dataset object, which climate.datasets caches per references ETag: a
# re-virtualized series is a new object, so a stale copy is never served (and falls out LRU).
_hot: OrderedDict[int, tuple[weakref.ref[xr.Dataset], xr.Dataset, int]] = OrderedDict()
_hot_lock = threading.Lock()


def _hot_limits() -> tuple[int, int]:
    per_dataset = int(getattr(settings, "GEOPLATFORM_CLIMATE_HOT_DATASET_BYTES", 64 * 1024**2))
    total = int(getattr(settings, "GEOPLATFORM_CLIMATE_HOT_TOTAL_BYTES", 256 * 1024**2))
    return per_dataset, total


def _lazy(ds: xr.Dataset) -> xr.Dataset:
    return ds


def hot(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` loaded in memory when it is small (its size is known without reading it)."""
    per_dataset, total = _hot_limits()
    size = int(ds.nbytes)
    if size > per_dataset:
        return ds
    key = id(ds)
    with _hot_lock:
        hit = _hot.get(key)
        if hit is not None and hit[0]() is ds:
            _hot.move_to_end(key)
            return hit[1]
    loaded = ds.compute()  # a new, loaded dataset: the lazy one stays as it is
    with _hot_lock:
        _hot[key] = (weakref.ref(ds), loaded, size)
        used = sum(entry[2] for entry in _hot.values())
        while used > total and len(_hot) > 1:
            _, dropped = _hot.popitem(last=False)
            used -= dropped[2]
    return loaded


def hot_clear() -> None:
    with _hot_lock:
        _hot.clear()


def ensure_id(value: str, name: str) -> str:
    if not value or "/" in value:
        raise InvalidQuery(f"{name}: {value!r} is not an identifier.")
    return value
