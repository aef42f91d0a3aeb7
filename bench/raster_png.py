"""PNG encoding of tiles: rasters.png vs GDAL's PNG driver (rio-tiler's render), size and CPU.

Tiles of every fixture kind (tests/fixtures: RGB imagery, a float DEM under the terrain
colormap, a categorical raster with its colour table, a multispectral 3,2,1 composite) at a
few zooms, plus 25 tiles of noisy synthetic imagery like bench/raster_tiles.py's; each is
encoded by rasters.png, by GDAL (zlib level 6, libpng's adaptive filters: what tiles used
before) and by GDAL with ZLEVEL=1 (the cheap knob). Decoded pixels are checked equal. CPU
time (process time, best of 3) per tile and mean size are printed per kind.

    .venv/bin/python bench/raster_png.py
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tiles_of(path: Path, zooms: list[int], **kw: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """(data, alpha) ready to encode: what rasters.tiles.render hands to the encoder."""
    import morecantile
    from rio_tiler.colormap import apply_cmap
    from rio_tiler.io import Reader

    tms = morecantile.tms.get("WebMercatorQuad")
    out = []
    with Reader(str(path)) as reader:
        west, south, east, north = reader.get_geographic_bounds(tms.rasterio_geographic_crs)
        colormap = kw.get("colormap") or reader.colormap or None
        for z in zooms:
            for t in list(tms.tiles(west, south, east, north, [z]))[:12]:
                if not reader.tile_exists(t.x, t.y, t.z):
                    continue
                img = reader.tile(t.x, t.y, t.z, **kw.get("read", {}))
                if kw.get("rescale"):
                    img.rescale(in_range=kw["rescale"])
                data, mask = img.data.astype("uint8"), img.mask
                if colormap:
                    data, alpha = apply_cmap(data, colormap)
                    mask = np.where(mask != 0, alpha, 0).astype("uint8")
                out.append((data, mask))
    return out


def synthetic(n: int = 25) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    x = np.linspace(0, np.pi, 256, dtype="float32")
    out = []
    for i in range(n):
        y = (x[:, None] + i) * 2
        bands = [127 + 60 * np.sin(x[None, :] * (b + 1) + y) + rng.normal(0, 12, (256, 256)) for b in range(3)]
        out.append((np.clip(np.stack(bands), 0, 255).astype("uint8"), np.full((256, 256), 255, "uint8")))
    return out


def main() -> None:
    from rasterio.io import MemoryFile
    from rio_tiler.colormap import cmap
    from rio_tiler.utils import render

    from rasters import png

    warnings.filterwarnings("ignore")
    fx = ROOT / "tests" / "fixtures"
    kinds = {
        "RGB imagery (natural_earth)": tiles_of(fx / "natural_earth_1_downsampled_cog.tif", [1, 2, 3, 5, 7]),
        "DEM + terrain colormap": tiles_of(
            fx / "olinda_dem_utm25s.tif", [12, 14, 16], rescale=[(0, 88)], colormap=cmap.get("terrain")
        ),
        "categorical colour table (lc)": tiles_of(fx / "lc.tif", [10, 12, 14]),
        "multispectral 3,2,1 (L7)": tiles_of(fx / "L7_ETMs.tif", [11, 13, 15], read={"indexes": (3, 2, 1)}),
        "noisy synthetic imagery": synthetic(),
    }
    encoders: dict[str, Callable[[np.ndarray, np.ndarray], bytes]] = {
        "rasters.png": png.encode,
        "GDAL (before)": lambda d, m: render(d, m, img_format="PNG"),
        "GDAL ZLEVEL=1": lambda d, m: render(d, m, img_format="PNG", ZLEVEL=1),
    }
    print("| tiles | encoder | CPU ms/tile | mean KiB | size vs GDAL |\n|---|---|---|---|---|")
    for kind, items in kinds.items():
        measured: dict[str, tuple[float, int]] = {}
        for name, encode in encoders.items():
            best = float("inf")
            for _ in range(3):
                t0 = time.process_time()
                bodies = [encode(d, m) for d, m in items]
                best = min(best, time.process_time() - t0)
            for body, (data, mask) in zip(bodies, items, strict=True):
                with MemoryFile(body) as mem, mem.open() as ds:
                    assert np.array_equal(ds.read(), np.concatenate([data, mask[None]])), (kind, name)
            measured[name] = (best, sum(map(len, bodies)))
        before = measured["GDAL (before)"][1]
        for name, (cpu, size) in measured.items():
            n = len(items)
            print(f"| {kind} ({n}) | {name} | {1000 * cpu / n:.2f} | {size / n / 1024:.1f} | {size / before:.3f} |")


if __name__ == "__main__":
    main()
