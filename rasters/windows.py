"""Large rasters by windows: plan a grid, copy each window to a tiled part, stitch parts with a VRT.

Each window task reads only its own window of the source through GDAL (``/vsiaz/`` range
requests on Azure: the source is never downloaded whole) and writes a lossless tiled part
to silver. The assemble step builds a VRT over the parts (again read with range requests)
and writes each tier's COG from it with the same validated ``cog.create_cog``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from .errors import InvalidRaster


def plan(width: int, height: int, window_size: int) -> list[dict[str, int]]:
    """Windows of ``window_size`` pixels (the last row/column smaller), row-major."""
    windows: list[dict[str, int]] = []
    for row in range(math.ceil(height / window_size)):
        for col in range(math.ceil(width / window_size)):
            x, y = col * window_size, row * window_size
            windows.append(
                {
                    "index": len(windows),
                    "col_off": x,
                    "row_off": y,
                    "width": min(window_size, width - x),
                    "height": min(window_size, height - y),
                }
            )
    return windows


def write_part(src: rasterio.io.DatasetReader, window: dict[str, int], dst_path: Path, *, crs: str | None) -> None:
    """One window of the source as a tiled, lossless GeoTIFF (same CRS, exact pixels)."""
    win = Window(window["col_off"], window["row_off"], window["width"], window["height"])
    data = src.read(window=win)
    target_crs = src.crs or (CRS.from_user_input(crs) if crs else None)
    if target_crs is None:
        raise InvalidRaster("The raster has no CRS; pass the 'crs' parameter.")
    predictor = 3 if np.issubdtype(data.dtype, np.floating) else 2
    profile = {
        "driver": "GTiff",
        "width": window["width"],
        "height": window["height"],
        "count": src.count,
        "dtype": src.dtypes[0],
        "crs": target_crs,
        "transform": window_transform(win, src.transform),
        "nodata": src.nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": predictor,
        "zlevel": 1,  # parts are temporary: fast beats small
    }
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(data)
        dst.colorinterp = src.colorinterp
        if src.count == 1:
            try:
                dst.write_colormap(1, src.colormap(1))
            except ValueError:
                pass


_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "uint64": "UInt64",
    "int64": "Int64",
    "float32": "Float32",
    "float64": "Float64",
}


def build_vrt(facts: dict[str, Any], parts: list[tuple[dict[str, int], str]], colormap: dict[int, Any] | None) -> str:
    """A VRT document placing each part (GDAL path) at its window of the full raster."""
    transform = facts["transform"]
    geotransform = [transform[2], transform[0], transform[1], transform[5], transform[3], transform[4]]
    crs = CRS.from_user_input(facts["crs"])
    data_type = _GDAL_TYPES[facts["dtype"]]
    lines = [
        f'<VRTDataset rasterXSize="{facts["width"]}" rasterYSize="{facts["height"]}">',
        f"  <SRS>{escape(crs.to_wkt())}</SRS>",
        f"  <GeoTransform>{', '.join(repr(float(v)) for v in geotransform)}</GeoTransform>",
    ]
    for band in range(1, facts["count"] + 1):
        lines.append(f'  <VRTRasterBand dataType="{data_type}" band="{band}">')
        if facts.get("nodata") is not None:
            lines.append(f"    <NoDataValue>{facts['nodata']!r}</NoDataValue>")
        interp = facts["colorinterp"][band - 1] if band - 1 < len(facts["colorinterp"]) else "undefined"
        lines.append(f"    <ColorInterp>{escape(interp.capitalize())}</ColorInterp>")
        if band == 1 and colormap:
            lines.append("    <ColorTable>")
            for index in range(max(colormap) + 1):
                r, g, b, a = [*colormap.get(index, (0, 0, 0, 0)), 255][:4]
                lines.append(f'      <Entry c1="{r}" c2="{g}" c3="{b}" c4="{a}"/>')
            lines.append("    </ColorTable>")
        for window, path in parts:
            w, h = window["width"], window["height"]
            lines += [
                "    <ComplexSource>" if facts.get("nodata") is not None else "    <SimpleSource>",
                f'      <SourceFilename relativeToVRT="0">{escape(path)}</SourceFilename>',
                f"      <SourceBand>{band}</SourceBand>",
                f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
                f'      <DstRect xOff="{window["col_off"]}" yOff="{window["row_off"]}" xSize="{w}" ySize="{h}"/>',
            ]
            if facts.get("nodata") is not None:
                lines.append(f"      <NODATA>{facts['nodata']!r}</NODATA>")
            lines.append("    </ComplexSource>" if facts.get("nodata") is not None else "    </SimpleSource>")
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    return "\n".join(lines)
