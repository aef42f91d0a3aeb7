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
import ctypes
import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
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
# Nothing of a blob is kept once the datasets that read it close (CPL_VSIL_CURL_NON_CACHED):
# any blob name can be written again (geoplatform/storage.py says when), and GDAL would keep
# the old file's size and ranges for the life of the process; an open dataset keeps its own
# reads (VSI_CACHE). The pool of open datasets opts back in (see below).
NON_CACHED = "/vsiaz/"
_CLOUD_OPTIONS: dict[str, Any] = {
    "CPL_VSIL_CURL_NON_CACHED": NON_CACHED,
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
    """A dataset of the blob as it is now (GDAL keeps nothing of it once closed: NON_CACHED)."""
    path = gdal_path(container, name)
    if path.startswith("/vsi"):
        # What another dataset of this path, open meanwhile in this process, left in GDAL's
        # cache is dropped too: it may describe the blob's previous content.
        vsi_cache_clear(path)
    with gdal_env(), rasterio.open(path) as ds:
        yield ds


# --- GDAL's per-process cache of /vsiaz/ paths ---------------------------------------------
# Blob names are written again (geoplatform/storage.py says when): GDAL keeps nothing of a
# path once its handles close, except for the datasets of the pool below, which opt back in
# (their headers and ranges are what makes the next tile fast). The pool learns that a blob
# changed from the version its caller gives (the STAC item's update stamp, from the database,
# so also when another process rewrote the blob): a new version of a name clears GDAL's cache
# of the path and closes the pool's datasets of the old one.


@functools.cache
def _partial_clear() -> Callable[[bytes], None]:
    # rasterio has no binding of VSICurlPartialClearCache (pyogrio has: vsi_curl_clear_cache).
    # Its extension module links its GDAL (bundled in the wheel, or the system's it was built
    # with), so the symbol is found through it: the cache of rasterio's GDAL, not another's.
    import rasterio._base

    fn = ctypes.CDLL(rasterio._base.__file__).VSICurlPartialClearCache
    fn.argtypes, fn.restype = [ctypes.c_char_p], None
    return fn  # type: ignore[no-any-return]


def vsi_cache_clear(path: str) -> None:
    """Forget what rasterio's GDAL cached of ``path`` (size, existence, downloaded ranges)."""
    # A SAS URL's query changes with its expiry; the cache is keyed by the whole URL.
    _partial_clear()(path.split("?", 1)[0].encode())


_VERSIONS_KEPT = 4096
_versions_lock = threading.Lock()
_versions: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()  # (container, name) -> (version, path)


def _version_check(container: str, name: str, path: str, version: str) -> None:
    """Clear what this process kept of a blob when asked for another version of it than before."""
    if not version:
        return  # the caller does not know: whatever is kept
    key = (container, name)
    with _versions_lock:
        before = _versions.get(key)
        _versions[key] = (version, path)
        _versions.move_to_end(key)
        forgotten = [_versions.popitem(last=False) for _ in range(len(_versions) - _VERSIONS_KEPT)]
    if before is not None and before[0] != version:
        forgotten.append((key, before))
    # A blob whose version is no longer remembered is forgotten by GDAL and the pool too:
    # otherwise its next version could not be told from this one.
    for (forgot_container, forgot_name), (_, forgot_path) in forgotten:
        _pool.forget(forgot_container, forgot_name)
        vsi_cache_clear(forgot_path)


# --- Open datasets kept between requests -------------------------------------------------
# A rasterio dataset must never be used by two threads at once: a request takes a dataset
# out of the pool (or opens one) and puts it back when done, so it is used by one request at
# a time. Keys name the bytes read: a local file by inode, size and mtime (a file rewritten
# in place gets a new key), a blob by container, name and the caller's version (the STAC
# item's ``updated``; blobs are written once per run folder).
#
# The pool is what made web processes grow (2-2.7 GiB in all after the tile and mosaic
# benchmarks, against 0.8-0.9 GiB for titiler): it is bounded by files, idle handles per
# file, idle time (a /vsicurl/ SAS URL must not outlive its token; a deleted local file's
# space is freed) AND by the bytes its idle datasets hold (least recently used go first).
# What a dataset holds is estimated when it is opened: its tile index (offsets and sizes of
# every block of every overview, 16 bytes each, read and kept by GDAL) and, for blobs, its
# VSI read cache. Local files are opened without the VSI cache: the OS page cache already
# holds their bytes once for all processes.

_BASE_BYTES = 64 * 1024  # a dataset's own structures (GDAL and rasterio objects, band handles)


class DatasetPool:
    def __init__(
        self,
        max_keys: int | None = None,
        max_idle: int | None = None,
        max_age: float | None = None,
        max_bytes: int | None = None,
    ):
        self._limits = (max_keys, max_idle, max_age, max_bytes)
        self._lock = threading.Lock()
        # key -> [(opened, estimated bytes, dataset)], least recently used key first.
        self._idle: OrderedDict[tuple[Any, ...], list[tuple[float, int, DatasetReader]]] = OrderedDict()
        self._bytes = 0
        self._pid = os.getpid()

    # Read from the settings at each use unless given (settings load after this module).
    @property
    def max_keys(self) -> int:
        return self._limits[0] if self._limits[0] is not None else int(conf.get("POOL_FILES"))

    @property
    def max_idle(self) -> int:
        return self._limits[1] if self._limits[1] is not None else int(conf.get("POOL_IDLE_PER_FILE"))

    @property
    def max_age(self) -> float:
        return self._limits[2] if self._limits[2] is not None else float(conf.get("POOL_IDLE_SECONDS"))

    @property
    def max_bytes(self) -> int:
        return self._limits[3] if self._limits[3] is not None else int(conf.get("POOL_MAX_MB")) * 1024**2

    def stats(self) -> dict[str, int]:
        """Files, idle datasets and their estimated bytes (for diagnostics and tests)."""
        with self._lock:
            return {
                "files": len(self._idle),
                "datasets": sum(len(v) for v in self._idle.values()),
                "bytes": self._bytes,
            }

    def take(self, key: tuple[Any, ...]) -> tuple[float, DatasetReader] | None:
        """An idle dataset for ``key`` and when it was opened (monotonic), if the pool has one."""
        now = time.monotonic()
        stale: list[DatasetReader] = []
        found = None
        max_age = self.max_age
        with self._lock:
            self._after_fork()
            idle = self._idle.get(key)
            while idle and found is None:
                opened, size, ds = idle.pop()
                self._bytes -= size
                if now - opened < max_age:
                    found = (opened, ds)
                else:
                    stale.append(ds)
            if idle is not None:
                if idle:
                    self._idle.move_to_end(key)
                else:
                    del self._idle[key]
        _close(stale)
        return found

    def give(self, key: tuple[Any, ...], ds: DatasetReader, opened: float, size: int | None = None) -> None:
        size = dataset_bytes(ds) if size is None else size
        max_keys, max_idle, max_bytes = self.max_keys, self.max_idle, self.max_bytes
        fresh = time.monotonic() - opened < self.max_age
        drop: list[DatasetReader] = []
        with self._lock:
            self._after_fork()
            idle = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            if len(idle) < max_idle and fresh and size <= max_bytes:
                idle.append((opened, size, ds))
                self._bytes += size
            else:
                drop.append(ds)
            # Evict least recently used files until within both bounds.
            while self._idle and (len(self._idle) > max_keys or self._bytes > max_bytes):
                oldest = next(iter(self._idle))
                entries = self._idle[oldest]
                if entries:
                    _, evicted_size, evicted = entries.pop(0)
                    self._bytes -= evicted_size
                    drop.append(evicted)
                if not entries:
                    del self._idle[oldest]
            if not idle and key in self._idle:
                del self._idle[key]
        _close(drop)

    def forget(self, container: str, name: str) -> None:
        """Close the idle datasets of one blob, whatever their version."""
        with self._lock:
            self._after_fork()
            entries = [e for k in [k for k in self._idle if k[:2] == (container, name)] for e in self._idle.pop(k)]
            self._bytes -= sum(size for _, size, _ in entries)
        drop = [ds for _, _, ds in entries]
        _close(drop)

    def clear(self) -> None:
        with self._lock:
            drop = [d for idle in self._idle.values() for _, _, d in idle]
            self._idle.clear()
            self._bytes = 0
        _close(drop)

    def _after_fork(self) -> None:
        # A forked child must not share its parent's file handles.
        if self._pid != os.getpid():
            self._idle.clear()
            self._bytes = 0
            self._pid = os.getpid()


def dataset_bytes(ds: DatasetReader) -> int:
    """What an open dataset holds while idle: its tile index over all overview levels, plus
    the VSI read cache of a blob read through /vsiaz/ or /vsicurl/ (see the pool notes)."""
    try:
        block_h, block_w = ds.block_shapes[0]
        factors = [1, *ds.overviews(1)]
        separate = ds.interleaving is not None and ds.interleaving.name == "BAND"
        planes = ds.count if separate else 1
        blocks = sum(-(-(ds.width // f) // max(block_w, 1)) * -(-(ds.height // f) // max(block_h, 1)) for f in factors)
        index = blocks * planes * 16
    except Exception:  # an estimate: never fail a request over it
        index = 0
    cache = int(_CLOUD_OPTIONS["VSI_CACHE_SIZE"]) if str(ds.name).startswith("/vsi") else 0
    return _BASE_BYTES + index + cache


def _close(datasets: list[DatasetReader]) -> None:
    for ds in datasets:
        with contextlib.suppress(Exception):
            ds.close()


_pool = DatasetPool()


def pool_clear() -> None:
    _pool.clear()


def pool_stats() -> dict[str, int]:
    return _pool.stats()


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
    if path.startswith("/vsi"):
        _version_check(container, name, path, version)
    taken = _pool.take(key)
    if taken is not None:
        opened, ds = taken
    elif path.startswith("/vsi"):
        # GDAL keeps this path's size and ranges after the dataset closes (see above): the
        # next open of it, by this pool, costs no request.
        with rasterio.Env(CPL_VSIL_CURL_NON_CACHED=""):
            opened, ds = time.monotonic(), rasterio.open(path)
    else:
        # A local file: read through the OS page cache (shared by all processes) rather
        # than a private VSI cache per open dataset.
        with rasterio.Env(VSI_CACHE=False):
            opened, ds = time.monotonic(), rasterio.open(path)
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
