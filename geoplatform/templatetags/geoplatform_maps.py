"""``{% load geoplatform_maps %}{% basemap %}``: every map page's basemap, from one setting.

Writes the basemap's configuration as JSON and loads static/geoplatform/basemap.js, whose
``GeoplatformBasemap.leaflet(map)`` / ``.maplibreStyle()`` / ``.addToMapLibre(map)`` add it.
The tiles are the platform's own (rasters app, /api/raster/basemap/...) unless
GEOPLATFORM_BASEMAP_URL names an external XYZ template. The route is found by its name, so
this core module imports no app.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, json_script

register = template.Library()


def basemap_config() -> dict[str, Any]:
    external = settings.GEOPLATFORM_BASEMAP_URL
    try:
        tilejson = reverse("raster-basemap-tilejson")
    except NoReverseMatch:  # the rasters app is not installed: no basemap of ours
        tilejson = ""
    tiles = external or (tilejson.rsplit("/", 1)[0] + "/tiles/{z}/{x}/{y}.jpg" if tilejson else "")
    return {
        "tiles": tiles,
        "tilejson": "" if external else tilejson,
        "attribution": settings.GEOPLATFORM_BASEMAP_ATTRIBUTION,
        # Our tiles stop at MAXZOOM (maps overzoom them); an external service has its own.
        "maxzoom": 19 if external else int(settings.GEOPLATFORM_BASEMAP_MAXZOOM),
        "external": bool(external),
    }


@register.simple_tag
def basemap() -> str:
    return format_html(
        '{}\n<script src="{}"></script>',
        json_script(basemap_config(), "geoplatform-basemap"),
        static("geoplatform/basemap.js"),
    )
