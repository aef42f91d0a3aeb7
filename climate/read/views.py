"""HTTP views of the read API: EDR (OGC exception bodies) and the /api/xarray routes.

Thin: parse the request, call one function of :mod:`.edr` / :mod:`.xr`/ :mod:`.tiles`, render.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from geoplatform.access import plain_view_access
from geoplatform.errors import normalise, ogc_error_response

from . import coveragejson, cube, edr, formats, series, sources, tiles
from .errors import InvalidQuery
from .formats import MEDIA_TYPES

TITLE = "GeoPlatform climate (OGC API EDR)"


def wants_html(request: HttpRequest) -> bool:
    f = request.GET.get("f", "").lower()
    if f:
        return f == "html"
    return "text/html" in request.META.get("HTTP_ACCEPT", "")


def include_pending(request: HttpRequest) -> bool:
    """Reviewers (climate.preview_unpublished, staff) see datasets awaiting review."""
    user = getattr(request, "user", None)
    return bool(
        user is not None and user.is_authenticated and (user.is_staff or user.has_perm("climate.preview_unpublished"))
    )


class ReadView(View):
    """GET only; errors as OGC exception bodies ``{"code", "description"}``; CORS for viewers."""

    http_method_names = ["get", "head", "options"]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            # Reads follow GEOPLATFORM_PUBLIC_READ, tokens identify reviewers, throttles apply:
            # the same DRF checks as the features and styles views.
            plain_view_access(request)
            response = super().dispatch(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc, request)
        response["Access-Control-Allow-Origin"] = "*"
        response.setdefault("Vary", "Accept")
        return response

    def handle_exception(self, exc: Exception, request: HttpRequest) -> HttpResponseBase:
        return ogc_error_response(exc, request)

    def url_maker(self, request: HttpRequest, root: str = "/api/edr/") -> Callable[[str], str]:
        base = request.build_absolute_uri(root)
        host = request.build_absolute_uri("/").rstrip("/")
        return lambda path: host + path if path.startswith("/") else base + path

    @staticmethod
    def json(body: Any, content_type: str = "application/json") -> HttpResponse:
        return HttpResponse(json.dumps(body, allow_nan=False), content_type=content_type)


class EdrLandingApi(ReadView):
    def get(self, request: HttpRequest) -> HttpResponse:
        doc = edr.landing(self.url_maker(request), TITLE)
        if wants_html(request):
            return render(
                request, "climate/edr_page.html", {"doc": doc, "title": doc["title"], "raw": json.dumps(doc, indent=2)}
            )
        return self.json(doc)


class EdrConformanceApi(ReadView):
    def get(self, request: HttpRequest) -> HttpResponse:
        doc = {"conformsTo": edr.CONFORMANCE}
        if wants_html(request):
            return render(
                request, "climate/edr_page.html", {"doc": doc, "title": "Conformance", "raw": json.dumps(doc, indent=2)}
            )
        return self.json(doc)


class EdrCollectionListApi(ReadView):
    def get(self, request: HttpRequest) -> HttpResponse:
        url = self.url_maker(request)
        pending = include_pending(request)
        collections = [
            edr.collection(
                source,
                sources.dataset_get(source.collection_id, source.item_id, include_pending=pending, warm=False),
                url,
            )
            for source in sources.source_list(include_pending=pending)
        ]
        doc = {
            "links": [
                {"href": url("collections"), "rel": "self", "type": "application/json"},
                {"href": url("collections?f=html"), "rel": "alternate", "type": "text/html"},
            ],
            "collections": collections,
        }
        if wants_html(request):
            return render(
                request, "climate/edr_page.html", {"doc": doc, "title": "Collections", "raw": json.dumps(doc, indent=2)}
            )
        return self.json(doc)


class EdrCollectionApi(ReadView):
    def get(self, request: HttpRequest, collection_id: str) -> HttpResponse:
        source, ds = _source(request, collection_id, warm=False)
        doc = edr.collection(source, ds, self.url_maker(request))
        if wants_html(request):
            return render(
                request, "climate/edr_page.html", {"doc": doc, "title": doc["title"], "raw": json.dumps(doc, indent=2)}
            )
        return self.json(doc)


def _source(
    request: HttpRequest, edr_id: str, *, time_series: bool = False, warm: bool = True
) -> tuple[sources.Source, Any]:
    collection_id, item_id = sources.split_edr_id(edr_id)
    pending = include_pending(request)
    ds = sources.dataset_get(collection_id, item_id, include_pending=pending, time_series=time_series, warm=warm)
    return sources.Source(collection_id, item_id, item_id), ds


class EdrQueryApi(ReadView):
    query = "position"

    def get(self, request: HttpRequest, collection_id: str) -> HttpResponse:
        fmt = edr.output_format(self.query, request.GET.get("f"), request.META.get("HTTP_ACCEPT", ""))
        _, ds = _source(request, collection_id, time_series=self.query == "position")
        subset = edr.RUNNERS[self.query](ds, request.GET)
        if fmt == "CSV":
            return HttpResponse(formats.to_csv(subset.ds, subset.names, subset.mask), content_type=MEDIA_TYPES["CSV"])
        if fmt == "GeoJSON":
            return self.json(formats.to_geojson(subset.ds, subset.names), MEDIA_TYPES["GeoJSON"])
        if fmt == "NetCDF":
            response = HttpResponse(
                formats.to_netcdf(subset.ds, subset.names, subset.mask), content_type=MEDIA_TYPES["NetCDF"]
            )
            response["Content-Disposition"] = f'attachment; filename="{collection_id}-{self.query}.nc"'
            return response
        doc = coveragejson.coverage(subset.ds, subset.names, mask=subset.mask, point=subset.point)
        if fmt == "HTML":
            title = f"{self.query} query on {collection_id}"
            return render(
                request, "climate/edr_page.html", {"doc": doc, "title": title, "raw": json.dumps(doc, indent=1)}
            )
        return self.json(doc, MEDIA_TYPES["CoverageJSON"])


class JsonReadView(ReadView):
    """The /api/xarray routes answer with the platform's JSON error body, not OGC's."""

    def handle_exception(self, exc: Exception, request: HttpRequest) -> HttpResponseBase:
        from geoplatform.errors import json_body

        error = normalise(exc, request)
        return JsonResponse(json_body(error, request), status=error.status, headers=error.headers)


def _dataset(request: HttpRequest, collection: str, item: str, *, time_series: bool = False) -> Any:
    return sources.dataset_get(collection, item, include_pending=include_pending(request), time_series=time_series)


class XarrayPointApi(JsonReadView):
    def get(self, request: HttpRequest, collection: str, item: str) -> HttpResponse:
        return self.json(series.point(_dataset(request, collection, item, time_series=True), request.GET))


class XarrayStatisticsApi(JsonReadView):
    def get(self, request: HttpRequest, collection: str, item: str) -> HttpResponse:
        return self.json(series.statistics(_dataset(request, collection, item), request.GET))


class XarrayClimatologyApi(JsonReadView):
    def get(self, request: HttpRequest, collection: str, item: str) -> HttpResponse:
        return self.json(series.climatology(_dataset(request, collection, item), request.GET))


class XarrayAnomalyApi(JsonReadView):
    def get(self, request: HttpRequest, collection: str, item: str) -> HttpResponse:
        return self.json(series.anomaly(_dataset(request, collection, item), request.GET))


AGGREGATE_FORMATS = {
    "json": "application/json",
    "tif": "image/tiff; application=geotiff",
    "png": "image/png",
    "npy": "application/x-binary",
}


class XarrayAggregateApi(JsonReadView):
    def get(self, request: HttpRequest, collection: str, item: str) -> HttpResponse:
        fmt = request.GET.get("format", "json").lower()
        if fmt not in AGGREGATE_FORMATS:
            raise InvalidQuery(f"format: {fmt!r} is not one of {', '.join(AGGREGATE_FORMATS)}.")
        grid, meta = series.aggregate(_dataset(request, collection, item), request.GET)
        if fmt == "json":
            return self.json(series.grid_json(grid, meta))
        if fmt == "npy":
            out = io.BytesIO()
            np.save(out, np.asarray(grid.values, dtype="float32"))
            body = out.getvalue()
        else:
            rescale = tiles.parse_rescale(request.GET.get("rescale"))
            body = tiles.grid_image(grid, fmt, rescale, request.GET.get("colormap_name"))
        return HttpResponse(body, content_type=AGGREGATE_FORMATS[fmt])


class XarrayTileApi(JsonReadView):
    def get(self, request: HttpRequest, collection: str, item: str, tms: str, z: int, x: int, y: int) -> HttpResponse:
        body = tiles.tile(_dataset(request, collection, item), request.GET, tms, z, x, y)
        response = HttpResponse(body, content_type="image/png")
        response["Cache-Control"] = "public, max-age=3600"
        return response


class XarrayTileJsonApi(JsonReadView):
    def get(self, request: HttpRequest, collection: str, item: str, tms: str) -> HttpResponse:
        query = request.GET.urlencode()
        template = request.build_absolute_uri(f"/api/xarray/{collection}/{item}/tiles/{tms}/") + "{z}/{x}/{y}.png"
        doc = tiles.tilejson(
            _dataset(request, collection, item), request.GET, tms, template + (f"?{query}" if query else "")
        )
        return self.json(doc)


class XarrayLegendApi(JsonReadView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(tiles.legend_png(request.GET.get("colormap_name")), content_type="image/png")


class XarrayViewerPage(ReadView):
    """The map viewer: tiles with a time slider and legend; a click charts the time series."""

    def get(self, request: HttpRequest, collection: str, item: str) -> HttpResponse:
        ds = _dataset(request, collection, item)
        names = cube.parameters(ds)
        context = {"collection": collection, "item": item, "variables": names, "title": f"{collection} / {item}"}
        return render(request, "climate/viewer.html", context)
