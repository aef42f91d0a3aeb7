"""What reading bronze blobs without GDAL's per-process /vsiaz/ cache costs (rasters.gdal.NON_CACHED).

One process, Azurite: a ``--size`` x ``--size`` 3-band uint8 GeoTIFF (tiled 512, deflate) in
the bronze container, read the way a windowed ``process_raster`` reads it in one worker
process: ``validate`` (open + inspect) then one ``prepare`` task per ``--window-size`` window
(open + read its window), each through ``rasters.gdal.open_blob``. Two modes, alternated
``--rounds`` times, each round from a cold GDAL cache:

- ``cached``: GDAL as before the fix (no CPL_VSIL_CURL_NON_CACHED, no clear on open): the second
  and later opens of the blob find its size and header in GDAL's cache;
- ``non-cached``: the fix: every open reads the blob's size and header again.

Also times one whole-file COG conversion (``services.cog_tier_publish`` from
``storage.local_copy``, the path of every file below GEOPLATFORM_RASTER_LARGE_BYTES), which
reads no /vsiaz/ at all, in both modes.

    env GEOPLATFORM_STORAGE_BACKEND=azure GEOPLATFORM_AZURE_CONNECTION_STRING=... \\
        DJANGO_SETTINGS_MODULE=geoplatform.settings.test GEOPLATFORM_DATABASE_URL=... \\
        .venv/bin/python bench/raster_vsi_cache.py [--size 4096] [--window-size 512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _source(size: int) -> bytes:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "src.tif"
        profile = {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "count": 3,
            "dtype": "uint8",
            "crs": "EPSG:3857",
            "transform": from_origin(0, size * 10.0, 10.0, 10.0),
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "compress": "deflate",
        }
        with rasterio.open(path, "w", **profile) as ds:
            for row in range(0, size, 512):
                h = min(512, size - row)
                ramp = (np.arange(size, dtype=np.uint16)[None, :] + row) % 256
                block = (ramp + rng.integers(0, 16, (h, size))).astype("uint8")
                for b in range(1, 4):
                    ds.write(block, b, window=((row, row + h), (0, size)))
        return path.read_bytes()


def _pipeline_reads(container: str, name: str, size: int, window: int) -> tuple[float, int]:
    """Seconds to validate and read every window the way the prepare tasks do; opens made."""
    from rasters import cog, gdal, windows

    started = time.perf_counter()
    with gdal.open_blob(container, name) as ds:
        cog.inspect(ds)
    opens = 1
    for w in windows.plan(size, size, window):
        with gdal.open_blob(container, name) as ds:
            ds.read(window=((w["row_off"], w["row_off"] + w["height"]), (w["col_off"], w["col_off"] + w["width"])))
        opens += 1
    return time.perf_counter() - started, opens


class _Requests:
    """GDAL's /vsiaz/ requests, counted from its debug messages (CPL_DEBUG, logged by rasterio)."""

    def __init__(self) -> None:
        import logging

        self.count = 0
        outer = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                message = record.getMessage()
                if "AZURE: GetFileSize" in message or "AZURE: Downloading" in message:
                    outer.count += 1

        logger = logging.getLogger("rasterio")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(Handler())


def _opens_only(container: str, name: str, opens: int) -> float:
    """Seconds per open + inspect (the header alone: what validate and every prepare task pay)."""
    from rasters import cog, gdal

    started = time.perf_counter()
    for _ in range(opens):
        with gdal.open_blob(container, name) as ds:
            cog.inspect(ds)
    return (time.perf_counter() - started) / opens


def _cog_whole(container: str, name: str) -> float:
    from geoplatform.storage import local_copy
    from rasters import cog

    started = time.perf_counter()
    with local_copy(container, name, suffix=".tif") as path, tempfile.TemporaryDirectory() as tmp:
        cog.create_cog(path, Path(tmp) / "out.tif", tier="analysis", raster_type="rgb", crs=None, web_optimized=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--window-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from geoplatform import storage
    from rasters import gdal

    container = storage.zone_container("bronze")
    name = f"bench-vsi/{os.getpid()}.tif"
    data = _source(args.size)
    storage.blob_save(container, name, io.BytesIO(data), size=len(data), overwrite=True)
    real_clear: Any = gdal.vsi_cache_clear
    results: dict[str, list[float]] = {"cached": [], "non-cached": []}
    cogs: dict[str, list[float]] = {"cached": [], "non-cached": []}
    header: dict[str, list[float]] = {"cached": [], "non-cached": []}
    made: dict[str, int] = {}
    opens = 0
    requests = _Requests()
    os.environ["CPL_DEBUG"] = "ON"  # read by rasterio.Env at each gdal_env()
    try:
        for _ in range(args.rounds):
            for mode in ("cached", "non-cached"):
                gdal._CLOUD_OPTIONS["CPL_VSIL_CURL_NON_CACHED"] = "" if mode == "cached" else gdal.NON_CACHED
                gdal.vsi_cache_clear = (lambda path: None) if mode == "cached" else real_clear  # type: ignore[assignment]
                real_clear("/vsiaz/")  # a cold start for both modes
                before = requests.count
                seconds, opens = _pipeline_reads(container, name, args.size, args.window_size)
                results[mode].append(seconds)
                made[mode] = requests.count - before
                header[mode].append(_opens_only(container, name, 20))
                storage.blob_cache_clear()
                cogs[mode].append(_cog_whole(container, name))
    finally:
        gdal._CLOUD_OPTIONS["CPL_VSIL_CURL_NON_CACHED"] = gdal.NON_CACHED
        gdal.vsi_cache_clear = real_clear  # type: ignore[assignment]
        storage.blob_delete(container, name)
    load = os.getloadavg()
    print(f"source {args.size}x{args.size}x3 uint8, {len(data) / 1024**2:.1f} MiB, {opens} opens per round")
    for mode in results:
        reads, whole = results[mode], cogs[mode]
        print(
            f"{mode:>10}: validate+windows median {statistics.median(reads) * 1000:.0f} ms "
            f"({statistics.median(reads) / opens * 1000:.1f} ms/open; runs {[round(r * 1000) for r in reads]}), "
            f"GDAL requests {made[mode]}, open+inspect alone {statistics.median(header[mode]) * 1000:.1f} ms/open, "
            f"whole-file COG median {statistics.median(whole) * 1000:.0f} ms"
        )
    ratio = statistics.median(results["non-cached"]) / statistics.median(results["cached"])
    print(f"ratio non-cached/cached (windows): {ratio:.2f}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
