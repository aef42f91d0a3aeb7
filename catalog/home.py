"""The catalogue home page (``/``): every dataset of every registered kind, searchable by
text and map extent, with links to its map, API and STAC entries."""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from geoplatform.templatetags.geoplatform_maps import basemap_config

from . import datasets

_MAX_LAT = 85.0511287798066


def _bbox(raw: str) -> tuple[float, float, float, float] | None:
    try:
        w, s, e, n = (float(v) for v in raw.split(","))
    except ValueError:
        return None
    return (w, s, e, n) if all(math.isfinite(v) for v in (w, s, e, n)) and w <= e and s <= n else None


def _merc_y(lat: float) -> float:
    """0 (north edge) .. 256 (south edge) of the z0 Web Mercator tile."""
    lat = max(-_MAX_LAT, min(_MAX_LAT, lat))
    return (1 - math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / math.pi) / 2 * 256


def thumbnail_box(bbox: tuple[float, float, float, float] | None) -> dict[str, float] | None:
    """The extent as a rectangle on the 256 px world tile (at least 3 px, so a point shows)."""
    if bbox is None:
        return None
    w, s, e, n = bbox
    x0, x1 = (w + 180) / 360 * 256, (e + 180) / 360 * 256
    y0, y1 = _merc_y(n), _merc_y(s)
    width, height = max(x1 - x0, 3.0), max(y1 - y0, 3.0)
    return {"x": x0 - (width - (x1 - x0)) / 2, "y": y0 - (height - (y1 - y0)) / 2, "w": width, "h": height}


class HomePageView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        text = request.GET.get("q", "").strip()
        bbox_raw = request.GET.get("bbox", "").strip()
        bbox = _bbox(bbox_raw) if bbox_raw else None
        kind = request.GET.get("kind", "")
        found = datasets.dataset_list(user=request.user, text=text, bbox=bbox, kind=kind)
        rows: list[dict[str, Any]] = [{"d": d, "thumb": thumbnail_box(d.bbox)} for d in found]
        context = {
            "rows": rows,
            "q": text,
            "bbox": bbox_raw,
            "bbox_error": bool(bbox_raw and bbox is None),
            "kind": kind,
            "kinds": sorted({d.kind for d in found} | {"vector", "raster", "raster-collection"}),
            "extents": [
                {"id": d.id, "title": d.title, "bbox": d.bbox, "url": d.map_url} for d in found if d.bbox is not None
            ],
            # The world tile of the basemap under every extent thumbnail (no outside request).
            "basemap_z0": basemap_config()["tiles"].replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"),
            "stac_search": "/api/stac/search" + (f"?bbox={bbox_raw}" if bbox else ""),
        }
        return render(request, "catalog/home.html", context)
