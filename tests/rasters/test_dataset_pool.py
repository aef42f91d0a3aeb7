"""The web processes' pool of open datasets is bounded by files, idle handles, idle time and
estimated bytes (issue 12, memory ceilings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rasterio

from rasters import gdal
from rasters.gdal import DatasetPool, dataset_bytes

COG = Path(__file__).resolve().parent.parent / "fixtures" / "natural_earth_1_downsampled_cog.tif"


def _open() -> Any:
    with rasterio.Env(VSI_CACHE=False):
        return rasterio.open(COG)


def test_idle_datasets_are_bounded_by_bytes_then_by_files() -> None:
    pool = DatasetPool(max_keys=3, max_idle=2, max_age=60, max_bytes=1000)
    a, b, c = _open(), _open(), _open()
    pool.give(("a",), a, opened=1e12, size=400)
    pool.give(("b",), b, opened=1e12, size=400)
    assert pool.stats() == {"files": 2, "datasets": 2, "bytes": 800}
    pool.give(("c",), c, opened=1e12, size=400)  # past 1000 bytes: the least recently used file goes
    assert pool.stats() == {"files": 2, "datasets": 2, "bytes": 800}
    assert a.closed and not b.closed and not c.closed
    assert pool.take(("a",)) is None
    taken = pool.take(("b",))
    assert taken is not None and taken[1] is b and pool.stats()["bytes"] == 400
    too_big = _open()
    pool.give(("d",), too_big, opened=1e12, size=2000)  # bigger than the whole pool: closed at once
    assert too_big.closed
    for key in ("e", "f", "g"):
        pool.give((key,), _open(), opened=1e12, size=1)
    assert pool.stats()["files"] == 3  # the file bound still holds
    pool.clear()
    assert pool.stats() == {"files": 0, "datasets": 0, "bytes": 0} and c.closed


def test_idle_handles_per_file_and_idle_time() -> None:
    pool = DatasetPool(max_keys=8, max_idle=1, max_age=60, max_bytes=10**9)
    first, second = _open(), _open()
    pool.give(("k",), first, opened=1e12, size=10)
    pool.give(("k",), second, opened=1e12, size=10)  # one idle handle per file
    assert second.closed and pool.stats()["datasets"] == 1
    old = _open()
    pool.give(("old",), old, opened=0.0, size=10)  # opened long ago: not kept
    assert old.closed
    pool.clear()


def test_a_local_dataset_is_counted_without_a_read_cache(settings: Any) -> None:
    ds = _open()
    size = dataset_bytes(ds)
    # Its own structures and tile index only: far below the 8 MiB VSI cache a blob gets.
    assert 64 * 1024 <= size < 1024**2
    ds.close()
    settings.GEOPLATFORM_RASTER_POOL_MAX_MB = 3
    settings.GEOPLATFORM_RASTER_POOL_FILES = 5
    assert gdal._pool.max_bytes == 3 * 1024**2 and gdal._pool.max_keys == 5  # the settings, read at use
