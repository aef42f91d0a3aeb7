"""GDAL access to stored rasters: local paths or ``/vsiaz/`` range requests.

Each library in the process carries its own GDAL; rasterio's is configured here through
``rasterio.Env`` (never through PROJ_DATA/GDAL_DATA in the environment).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import rasterio
from django.conf import settings
from django.core.files.storage import FileSystemStorage

from geoplatform.storage import check_blob_name, get_storage

from . import conf

# Cloud-read tuning: no directory listings on open, merge adjacent ranges, cache blocks.
_CLOUD_OPTIONS: dict[str, Any] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_INGESTED_BYTES_AT_OPEN": 32768,
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": 8 * 1024 * 1024,
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
    "GDAL_HTTP_MAX_RETRY": 2,
    "GDAL_HTTP_RETRY_DELAY": 0.2,
    # A stalled storage must not hold a web worker for minutes.
    "GDAL_HTTP_CONNECTTIMEOUT": 10,
    "GDAL_HTTP_TIMEOUT": 30,
}


def gdal_options() -> dict[str, Any]:
    options = dict(_CLOUD_OPTIONS)
    if settings.GEOPLATFORM_STORAGE_BACKEND == "azure":
        options["AZURE_STORAGE_CONNECTION_STRING"] = settings.GEOPLATFORM_AZURE_CONNECTION_STRING
    return options


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
