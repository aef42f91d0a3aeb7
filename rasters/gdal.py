"""GDAL access to stored rasters: local paths or ``/vsiaz/`` range requests.

Each library in the process carries its own GDAL; rasterio's is configured here through
``rasterio.Env`` (never through PROJ_DATA/GDAL_DATA in the environment).

The read API borrows open datasets from a per-process pool (:func:`pooled_dataset`) instead
of opening the COG on every request: opening costs a few ms (and header range requests on
Azure), and a dataset closed drops its decoded blocks from GDAL's block cache, so the next
tile decompresses the same blocks again.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import rasterio
from django.core.files.storage import FileSystemStorage
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader
from rio_tiler.errors import RioTilerError

from geoplatform.errors import ApplicationError
from geoplatform.storage import check_blob_name, get_storage
from geoplatform.storage import gdal_config as storage_gdal_config

from . import conf

# COG tuning on top of the storage layer's GDAL options (credentials, no directory listing,
# bounded waits): merge adjacent ranges, read the header in one request, cache blocks.
_CLOUD_OPTIONS: dict[str, Any] = {
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_INGESTED_BYTES_AT_OPEN": 32768,
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": 8 * 1024 * 1024,
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
}


def gdal_options() -> dict[str, Any]:
    return {**storage_gdal_config(), **_CLOUD_OPTIONS}


def gdal_env(**extra: Any) -> rasterio.Env:
    return rasterio.Env(**gdal_options(), **extra)


def gdal_path(container: str, name: str) -> str:
    """What GDAL opens for a stored blob: a local path, or /vsiaz/ (range requests, no download)."""
    check_blob_name(name)
    storage = get_storage(container)
    if isinstance(storage, FileSystemStorage):
        return str(storage.path(name))
    if conf.get("AZURE_READ") == "sas":
        # A short-lived read-only SAS URL: GDAL needs no account credentials at all.
        return "/vsicurl/" + str(storage.url(name, expire=int(conf.get("SAS_SECONDS"))))  # type: ignore[call-arg]
    return f"/vsiaz/{container}/{name}"


@contextlib.contextmanager
def open_blob(container: str, name: str) -> Iterator[rasterio.io.DatasetReader]:
    with gdal_env(), rasterio.open(gdal_path(container, name)) as ds:
        yield ds


# --- Open datasets kept between requests -------------------------------------------------
# A rasterio dataset must never be used by two threads at once: a request takes a dataset
# out of the pool (or opens one) and puts it back when done, so it is used by one request at
# a time. Keys name the bytes read: a local file by inode, size and mtime (a file rewritten
# in place gets a new key), a blob by container, name and the caller's version (the STAC
# item's ``updated``; blobs are written once per run folder). Idle datasets are closed after
# ``_MAX_AGE`` seconds (a /vsicurl/ SAS URL must not outlive its token; a deleted local file's
# space is freed) and beyond ``_MAX_KEYS`` files (least recently used first).

_MAX_KEYS = 32
_MAX_IDLE_PER_KEY = 8
_MAX_AGE = 120.0


class DatasetPool:
    def __init__(self, max_keys: int = _MAX_KEYS, max_idle: int = _MAX_IDLE_PER_KEY, max_age: float = _MAX_AGE):
        self.max_keys, self.max_idle, self.max_age = max_keys, max_idle, max_age
        self._lock = threading.Lock()
        self._idle: OrderedDict[tuple[Any, ...], list[tuple[float, DatasetReader]]] = OrderedDict()
        self._pid = os.getpid()

    def take(self, key: tuple[Any, ...]) -> tuple[float, DatasetReader] | None:
        """An idle dataset for ``key`` and when it was opened (monotonic), if the pool has one."""
        now = time.monotonic()
        stale: list[DatasetReader] = []
        found = None
        with self._lock:
            self._after_fork()
            idle = self._idle.get(key)
            while idle and found is None:
                opened, ds = idle.pop()
                if now - opened < self.max_age:
                    found = (opened, ds)
                else:
                    stale.append(ds)
            if idle is not None:
                self._idle.move_to_end(key)
        _close(stale)
        return found

    def give(self, key: tuple[Any, ...], ds: DatasetReader, opened: float) -> None:
        drop: list[DatasetReader] = []
        with self._lock:
            self._after_fork()
            idle = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            if len(idle) < self.max_idle and time.monotonic() - opened < self.max_age:
                idle.append((opened, ds))
            else:
                drop.append(ds)
            while len(self._idle) > self.max_keys:
                _, evicted = self._idle.popitem(last=False)
                drop += [d for _, d in evicted]
        _close(drop)

    def clear(self) -> None:
        with self._lock:
            drop = [d for idle in self._idle.values() for _, d in idle]
            self._idle.clear()
        _close(drop)

    def _after_fork(self) -> None:
        # A forked child must not share its parent's file handles.
        if self._pid != os.getpid():
            self._idle.clear()
            self._pid = os.getpid()


def _close(datasets: list[DatasetReader]) -> None:
    for ds in datasets:
        with contextlib.suppress(Exception):
            ds.close()


_pool = DatasetPool()


def pool_clear() -> None:
    _pool.clear()


def _pool_key(container: str, name: str, path: str, version: str) -> tuple[Any, ...]:
    if path.startswith("/vsicurl/"):
        # The SAS token in the URL expires: a new key (a fresh URL) every half lifetime.
        return (container, name, version, int(time.time() // (int(conf.get("SAS_SECONDS")) / 2)))
    if path.startswith("/vsi"):
        return (container, name, version)
    st = os.stat(path)  # microseconds; a missing file raises here, as rasterio.open would
    return (path, st.st_ino, st.st_size, st.st_mtime_ns)


@contextlib.contextmanager
def pooled_dataset(container: str, name: str, *, version: str = "") -> Iterator[DatasetReader]:
    """An open dataset of a stored blob, for this caller alone until the block ends.

    Use inside :func:`gdal_env`. A dataset that met an I/O error is closed, not pooled.
    """
    path = gdal_path(container, name)
    try:
        key = _pool_key(container, name, path, version)
    except FileNotFoundError as exc:
        raise RasterioIOError(f"{path}: No such file or directory") from exc
    taken = _pool.take(key)
    opened, ds = taken if taken is not None else (time.monotonic(), rasterio.open(path))
    reuse = False
    try:
        yield ds
        reuse = True
    except (RioTilerError, ApplicationError):
        reuse = True  # a caller's bad request (outside bounds, bad band): the dataset is fine
        raise
    finally:
        if reuse:
            _pool.give(key, ds, opened)
        else:
            _close([ds])
