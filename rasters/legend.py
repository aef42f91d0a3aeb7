"""Legends of a rendered raster: a colour bar with the rescale values, or the categories of a
categorical raster (names from its STAC ``classification:classes``, e.g. from a raster
attribute table), as JSON for pages and as a PNG for anything that shows images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rio_tiler import errors as rt_errors
from rio_tiler.colormap import cmap as colormaps

from . import png
from .errors import InvalidRasterRequest
from .tiles import RenderOptions

STOPS = 11
_BAR = (256, 16)  # PNG colour bar: width, height
_SWATCH = 16  # PNG categories: one square per class, stacked


def _hex(rgba: Any) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in list(rgba)[:3]))


def _colormap(name: str) -> dict[int, Any]:
    try:
        return dict(colormaps.get(name))  # type: ignore[arg-type]  # named colormaps are int -> RGBA
    except rt_errors.InvalidColorMapName as exc:
        raise InvalidRasterRequest(f"Unknown colormap_name {name!r}.") from exc


def continuous(options: RenderOptions, *, auto_range: tuple[float, float] | None = None) -> dict[str, Any]:
    """The colour bar of one band drawn with a colormap over ``options.rescale`` (or the range
    the tiles would pick, given as ``auto_range``); grey when no colormap is named."""
    lo, hi = options.rescale[0] if options.rescale else (auto_range or (0.0, 255.0))
    cmap = _colormap(options.colormap_name) if options.colormap_name else {i: (i, i, i, 255) for i in range(256)}
    stops = []
    for k in range(STOPS):
        frac = k / (STOPS - 1)
        stops.append({"value": lo + frac * (hi - lo), "color": _hex(cmap[round(frac * 255)])})
    return {
        "type": "continuous",
        "colormap_name": options.colormap_name or "gray",
        "min": lo,
        "max": hi,
        "stops": stops,
    }


def categorical(
    colormap: dict[int, Any] | None, classes: list[dict[str, Any]] | None, present: list[int] | None
) -> dict[str, Any]:
    """Categories of a paletted raster: STAC ``classes`` (value, name/description, color_hint)
    when the item has them, else the palette entries of the values ``present`` in the data."""
    out: list[dict[str, Any]] = []
    palette = colormap or {}
    if classes:
        for c in classes:
            value = int(c["value"])
            colour = palette.get(value)
            hint = c.get("color_hint")
            out.append(
                {
                    "value": value,
                    "name": str(c.get("description") or c.get("name") or value),
                    "color": _hex(colour) if colour is not None else (f"#{hint.lower()}" if hint else "#000000"),
                }
            )
    else:
        for value in present or sorted(palette):
            colour = palette.get(value)
            if colour is not None:
                out.append({"value": int(value), "name": str(value), "color": _hex(colour)})
    return {"type": "categorical", "classes": out}


def rgb(options: RenderOptions, count: int) -> dict[str, Any]:
    bands = list(options.indexes or range(1, min(count, 3) + 1))
    return {"type": "rgb", "bands": [f"b{i}" for i in bands], "rescale": [list(r) for r in options.rescale or []]}


def to_png(doc: dict[str, Any]) -> bytes:
    """A colour bar (continuous, left = min) or a column of swatches (categorical, in order);
    an RGB picture has no legend image: a 1x1 transparent PNG."""
    if doc["type"] == "continuous":
        cmap = (
            _colormap(doc["colormap_name"])
            if doc["colormap_name"] != "gray"
            else {i: (i, i, i, 255) for i in range(256)}
        )
        width, height = _BAR
        row = np.array([list(cmap[round(i * 255 / (width - 1))])[:3] for i in range(width)], dtype=np.uint8)
        data = np.broadcast_to(row.T[:, None, :], (3, height, width)).copy()
        return png.encode(data, np.full((height, width), 255, dtype=np.uint8))
    if doc["type"] == "categorical" and doc["classes"]:
        n = len(doc["classes"])
        data = np.zeros((3, n * _SWATCH, _SWATCH), dtype=np.uint8)
        for i, c in enumerate(doc["classes"]):
            colour = [int(c["color"][k : k + 2], 16) for k in (1, 3, 5)]
            data[:, i * _SWATCH : (i + 1) * _SWATCH, :] = np.array(colour, dtype=np.uint8)[:, None, None]
        return png.encode(data, np.full(data.shape[1:], 255, dtype=np.uint8))
    return png.encode(np.zeros((1, 1, 1), dtype=np.uint8), np.zeros((1, 1), dtype=np.uint8))


def asset_classes(item: dict[str, Any], asset_key: str) -> list[dict[str, Any]] | None:
    """STAC classification:classes of the asset's first band (from a raster attribute table)."""
    bands = item.get("assets", {}).get(asset_key, {}).get("bands") or [{}]
    return bands[0].get("classification:classes") or None


def item_legend(
    container: str, blob: str, *, options: RenderOptions, classes: list[dict[str, Any]] | None, version: str = ""
) -> dict[str, Any]:
    """The legend of the picture the tile routes draw with ``options``."""
    from .tiles import _auto_range, open_reader

    with open_reader(container, blob, options=options, version=version) as reader:
        count = int(reader.dataset.count)  # type: ignore[union-attr]  # open_reader always opens one
        one_band = bool(options.expression) or count == 1 or bool(options.indexes and len(options.indexes) == 1)
        palette = reader.colormap or None
        if palette and one_band and not options.colormap_name and not options.expression:
            present = None
            if not classes:
                image = reader.preview(max_size=256, indexes=(options.indexes or (1,))[0])
                present = sorted(int(v) for v in np.unique(image.array.compressed()))
            return categorical(palette, classes, present)
        if not one_band:
            return rgb(options, count)
        auto = None
        if not options.rescale:
            image = reader.preview(max_size=256, **options.read_kwargs())
            auto = (0.0, 255.0) if image.data.dtype == np.uint8 else _auto_range(image)
        return continuous(options, auto_range=auto)
