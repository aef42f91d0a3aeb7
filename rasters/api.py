"""The raster read API: thin views over selectors (which COG) and tiles (rio-tiler work)."""

from __future__ import annotations

import hashlib
import math
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render as render_html
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from geoplatform.api import error_responses
from geoplatform.deployment import read_only_methods

from . import basemap, conf, legend, links, mosaic, selectors, tiles
from .errors import InvalidRasterRequest

_RENDER_KEYS = ("bidx", "expression", "rescale", "colormap_name")
_RENDER_DOC = [
    OpenApiParameter("bidx", str, description="Band indexes, comma separated (e.g. 3,2,1)."),
    OpenApiParameter("expression", str, description="Band math, e.g. (b4-b3)/(b4+b3)."),
    OpenApiParameter("rescale", str, many=True, description="min,max (one per band, or one for all)."),
    OpenApiParameter("colormap_name", str, description="A rio-tiler colormap (viridis, terrain, ...)."),
    OpenApiParameter("nodata", str, description="Override nodata (number or nan)."),
    OpenApiParameter("resampling", str, enum=list(tiles.RESAMPLING)),
    OpenApiParameter("asset", str, description="visualization, analysis or archive (default: best for the use)."),
]


class PublicReadIncludingPost(BasePermission):
    """Reads, and POST requests that only read (clip), follow GEOPLATFORM_PUBLIC_READ."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.GEOPLATFORM_PUBLIC_READ or (request.user and request.user.is_authenticated))


def _number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise InvalidRasterRequest(f"{name} must be a number, not {value!r}.") from exc
    if name != "nodata" and not math.isfinite(number):
        raise InvalidRasterRequest(f"{name} must be a finite number.")
    return number


def _int(request: Request, name: str, default: int | None = None, lo: int = 1, hi: int = 100_000) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidRasterRequest(f"{name} must be an integer, not {raw!r}.") from exc
    if not lo <= value <= hi:
        raise InvalidRasterRequest(f"{name} must be within {lo}..{hi}.")
    return value


def render_options(request: Request, asset: selectors.RasterAsset | None = None) -> tiles.RenderOptions:
    """Query parameters -> RenderOptions; the item's default rendering when none is given."""
    q = request.query_params
    given: dict[str, str] = {k: str(q.get(k)) for k in _RENDER_KEYS if q.get(k)}
    rescale_values = q.getlist("rescale")
    if not given and asset is not None:
        given = asset.render
        rescale_values = [given["rescale"]] if given.get("rescale") else []
    indexes = None
    if given.get("bidx"):
        try:
            indexes = tuple(int(v) for v in str(given["bidx"]).split(","))
        except ValueError as exc:
            raise InvalidRasterRequest("bidx must be band numbers separated by commas, e.g. 3,2,1.") from exc
        if any(i < 1 for i in indexes):
            raise InvalidRasterRequest("Band numbers start at 1.")
    rescale = None
    if rescale_values:
        pairs = []
        for item in rescale_values:
            parts = item.split(",")
            if len(parts) != 2:
                raise InvalidRasterRequest("rescale must be min,max (repeat it for each band).")
            lo, hi = (_number(v, "rescale") for v in parts)
            if hi <= lo:
                raise InvalidRasterRequest("rescale needs min < max.")
            pairs.append((lo, hi))
        rescale = tuple(pairs)
    resampling = q.get("resampling", "nearest")
    if resampling not in tiles.RESAMPLING:
        raise InvalidRasterRequest(f"resampling must be one of {', '.join(tiles.RESAMPLING)}.")
    nodata = _number(q["nodata"], "nodata") if q.get("nodata") else None
    return tiles.RenderOptions(
        indexes=indexes,
        expression=given.get("expression") or None,
        rescale=rescale,
        colormap_name=given.get("colormap_name") or None,
        nodata=nodata,
        resampling=resampling,
    )


def _etag(asset: selectors.RasterAsset, request: Request, fmt: str = "") -> str:
    # ``fmt``: a format chosen by Accept is not in the path, yet gives other bytes.
    seed = f"{asset.etag_seed}|{request.get_full_path()}|{fmt}"
    return '"' + hashlib.sha256(seed.encode()).hexdigest()[:32] + '"'


def _not_modified(request: Request, etag: str) -> bool:
    sent = request.META.get("HTTP_IF_NONE_MATCH", "")
    return etag in [t.strip() for t in sent.split(",")] or sent.strip() == "*"


def _cached(content: bytes, media_type: str, etag: str, filename: str | None = None) -> HttpResponse:
    response = HttpResponse(content, content_type=media_type)
    response["ETag"] = etag
    scope = "public" if settings.GEOPLATFORM_PUBLIC_READ else "private"
    response["Cache-Control"] = f"{scope}, max-age={conf.get('TILE_CACHE_SECONDS')}"
    if filename:
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _not_modified_response(etag: str) -> HttpResponse:
    response = HttpResponse(status=304)
    response["ETag"] = etag
    return response


def _can_preview(request: Request) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.has_perm("rasters.preview_unpublished"))


def _asset(collection_id: str, item_id: str, request: Request, purpose: str) -> selectors.RasterAsset:
    asset = selectors.raster_asset_get(
        collection_id=collection_id,
        item_id=item_id,
        asset=request.query_params.get("asset") or None,
        purpose=purpose,
        include_pending=_can_preview(request),
    )
    if asset.item.get("properties", {}).get("geoplatform:pending"):
        request._raster_pending = True  # type: ignore[attr-defined]  # see _RasterApi
    return asset


class _RasterApi(APIView):
    """Item-level views: a reviewer's preview of an item awaiting review is never cached
    by shared caches."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.content_negotiation_class is ImageNegotiation and not kwargs.get("fmt"):
            patch_vary_headers(response, ["Accept"])  # the format may come from Accept
        if getattr(request, "_raster_pending", False):
            response["Cache-Control"] = "private, no-store"
        return response


def _images(*fmts: str) -> dict[tuple[int, str], type]:
    """The documented 200s of an image route: one per format it can send (the extension decides)."""
    return {(200, tiles.FORMATS[f][1]): bytes for f in fmts or tuple(tiles.FORMATS)}


def _fmt(fmt: str | None, default: str, allowed: tuple[str, ...]) -> str:
    fmt = (fmt or default).lower()
    if fmt not in allowed:
        raise InvalidRasterRequest(f"Format {fmt!r} is not supported here; use one of {', '.join(allowed)}.")
    return fmt


# Media types a client may name in Accept, by output format (tiles.FORMATS gives what we send).
_ACCEPT_FORMATS = {
    "image/tiff": "tif",
    "image/geotiff": "tif",
    "application/geotiff": "tif",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "application/x-binary": "npy",
    "application/x-npy": "npy",
    "application/octet-stream": "npy",
}


def _accepted(request: Request, allowed: tuple[str, ...]) -> str | None:
    """The first format of ``allowed`` that the Accept header names (by q-value, then order)."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(request.META.get("HTTP_ACCEPT", "").split(",")):
        media, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        fmt = _ACCEPT_FORMATS.get(media.strip().lower())
        if fmt in allowed and q > 0:
            ranked.append((-q, index, fmt))
    return min(ranked)[2] if ranked else None


def output_format(request: Request, path_fmt: str | None, default: str, allowed: tuple[str, ...]) -> str:
    """The output format of an image route: the path's extension decides; otherwise the
    ``format`` query parameter, then an image type named in Accept, then ``default``. An
    unknown extension or ``format`` is a 400 listing the supported ones."""
    if path_fmt:
        return _fmt(path_fmt, default, allowed)
    if request.query_params.get("format"):
        return _fmt(request.query_params["format"], default, allowed)
    return _accepted(request, allowed) or default


class ImageNegotiation(BaseContentNegotiation):
    """Image routes pick their own output format (:func:`output_format`); DRF's renderer only
    writes JSON error bodies. DRF's default would answer ``?format=tif`` with 404 (its
    URL_FORMAT_OVERRIDE) and ``Accept: image/tiff`` with 406 (no renderer of that type)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        renderer = renderers[0]
        return renderer, renderer.media_type


_FORMAT_DOC = OpenApiParameter(
    "format",
    str,
    description="Output format when the path has no extension (the extension decides when present); "
    "else an image type in Accept; unknown formats are a 400 listing the supported ones.",
)


class RasterTileApi(_RasterApi):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(
        operation_id="raster_tile",
        parameters=_RENDER_DOC,
        responses={**_images(), **error_responses(400, 404)},
    )
    def get(
        self,
        request: Request,
        collection_id: str,
        item_id: str,
        tms: str,
        z: str,
        x: str,
        y: str,
        fmt: str,
        scale: str | None = None,
    ) -> HttpResponse:
        asset = _asset(collection_id, item_id, request, "tiles")
        etag = _etag(asset, request)
        if _not_modified(request, etag):
            return _not_modified_response(etag)
        options = render_options(request, asset)
        image, colormap = tiles.tile(
            asset.container,
            asset.blob,
            tms_id=tms,
            z=int(z),
            x=int(x),
            y=int(y),
            scale=int(scale or 1),
            options=options,
            version=asset.etag_seed,
        )
        content, media_type = tiles.render(image, fmt=fmt, options=options, colormap=colormap)
        return _cached(content, media_type, etag)


class RasterTileJsonApi(_RasterApi):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(
        operation_id="raster_tilejson", parameters=_RENDER_DOC, responses={200: dict, **error_responses(400, 404)}
    )
    def get(self, request: Request, collection_id: str, item_id: str) -> Response:
        asset = _asset(collection_id, item_id, request, "tiles")
        q = request.query_params
        tms = q.get("tms", "WebMercatorQuad")
        fmt = _fmt(q.get("tile_format"), "png", tuple(tiles.FORMATS))
        scale = _int(request, "tile_scale", 1, 1, 4)
        passthrough = {
            k: v for k, v in q.items() if k not in {"tms", "tile_format", "tile_scale", "minzoom", "maxzoom"}
        }
        if not any(k in passthrough for k in _RENDER_KEYS):
            passthrough.update(asset.render)
        suffix = f"@{scale}x" if scale and scale > 1 else ""
        path = links.base(collection_id, item_id) + f"/tiles/{tms}/{{z}}/{{x}}/{{y}}{suffix}.{fmt}"
        url = request.build_absolute_uri(path).replace("%7B", "{").replace("%7D", "}")
        if passthrough:
            url += "?" + urlencode(passthrough, safe=",")
        tiles.get_tms(tms)
        doc = tiles.tilejson(
            asset.container,
            asset.blob,
            tms_id=tms,
            tiles_url=url,
            minzoom=_int(request, "minzoom", None, 0, 30),
            maxzoom=_int(request, "maxzoom", None, 0, 30),
            version=asset.etag_seed,
        )
        doc["name"] = f"{collection_id}/{item_id}"
        return Response(doc)


class RasterInfoApi(_RasterApi):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(operation_id="raster_info", responses={200: dict, **error_responses(404)})
    def get(self, request: Request, collection_id: str, item_id: str) -> Response:
        asset = _asset(collection_id, item_id, request, "data")
        data = tiles.info(asset.container, asset.blob, version=asset.etag_seed)
        data.update(
            {"asset": asset.key, "raster_type": asset.raster_type, "assets": sorted(asset.item.get("assets", {}))}
        )
        return Response(data)


class RasterStatisticsApi(_RasterApi):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(
        operation_id="raster_statistics", parameters=_RENDER_DOC, responses={200: dict, **error_responses(400, 404)}
    )
    def get(self, request: Request, collection_id: str, item_id: str) -> Response:
        asset = _asset(collection_id, item_id, request, "data")
        options = render_options(request)
        categorical = request.query_params.get("categorical", "false").lower() in {"1", "true", "yes"}
        max_size = _int(request, "max_size", 1024, 16, int(conf.get("PREVIEW_MAX_SIZE"))) or 1024
        return Response(
            tiles.statistics(
                asset.container,
                asset.blob,
                options=options,
                categorical=categorical,
                max_size=max_size,
                version=asset.etag_seed,
            )
        )


class RasterPointApi(_RasterApi):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(
        operation_id="raster_point",
        parameters=[
            OpenApiParameter("lon", float, required=True),
            OpenApiParameter("lat", float, required=True),
            *_RENDER_DOC,
        ],
        responses={200: dict, **error_responses(400, 404)},
    )
    def get(self, request: Request, collection_id: str, item_id: str) -> Response:
        q = request.query_params
        if not q.get("lon") or not q.get("lat"):
            raise InvalidRasterRequest("lon and lat are required (degrees, EPSG:4326).")
        lon, lat = _number(q["lon"], "lon"), _number(q["lat"], "lat")
        asset = _asset(collection_id, item_id, request, "data")
        result = tiles.point(
            asset.container, asset.blob, lon=lon, lat=lat, options=render_options(request), version=asset.etag_seed
        )
        return Response({**result, "collection_id": collection_id, "item_id": item_id, "asset": asset.key})


class RasterExtractApi(_RasterApi):
    permission_classes = [PublicReadIncludingPost]
    content_negotiation_class = ImageNegotiation

    @extend_schema(
        operation_id="raster_extract",
        parameters=[
            OpenApiParameter("bbox", str, required=True),
            OpenApiParameter("bbox_crs", str),
            _FORMAT_DOC,
            *_RENDER_DOC,
        ],
        responses={**_images("tif", "png", "jpg", "webp", "npy"), **error_responses(400, 404, 413)},
    )
    def get(self, request: Request, collection_id: str, item_id: str, fmt: str | None = None) -> HttpResponse:
        q = request.query_params
        out_fmt = output_format(request, fmt, "tif", ("tif", "png", "jpg", "webp", "npy"))
        if not q.get("bbox"):
            raise InvalidRasterRequest("bbox is required: minx,miny,maxx,maxy (EPSG:4326 unless bbox_crs).")
        try:
            bbox_crs = CRS.from_user_input(q.get("bbox_crs") or "EPSG:4326")
        except CRSError as exc:
            raise InvalidRasterRequest(f"Unknown bbox_crs {q.get('bbox_crs')!r}.") from exc
        bbox = tiles.parse_bbox(q["bbox"], crs=bbox_crs)
        asset = _asset(collection_id, item_id, request, "tiles" if out_fmt in {"png", "jpg", "webp"} else "data")
        options = render_options(request, asset if out_fmt in {"png", "jpg", "webp"} else None)
        image, colormap = tiles.extract(
            asset.container,
            asset.blob,
            bbox=bbox,
            bbox_crs=bbox_crs,
            width=_int(request, "width"),
            height=_int(request, "height"),
            max_size=_int(request, "max_size"),
            options=options,
            version=asset.etag_seed,
        )
        content, media_type = tiles.render(image, fmt=out_fmt, options=options, colormap=colormap)
        return _cached(content, media_type, _etag(asset, request, out_fmt), filename=f"{item_id}-extract.{out_fmt}")


@read_only_methods("POST")  # the geometry body only reads: a reader deployment serves it
class RasterClipApi(_RasterApi):
    permission_classes = [PublicReadIncludingPost]
    content_negotiation_class = ImageNegotiation

    @extend_schema(
        operation_id="raster_clip",
        request=dict,
        parameters=[_FORMAT_DOC, *_RENDER_DOC],
        responses={**_images("tif", "png", "npy"), **error_responses(400, 404, 413)},
    )
    def post(self, request: Request, collection_id: str, item_id: str, fmt: str | None = None) -> HttpResponse:
        out_fmt = output_format(request, fmt, "tif", ("tif", "png", "npy"))
        body = request.data
        geometry = body.get("geometry") if isinstance(body, dict) and body.get("type") == "Feature" else body
        if not isinstance(geometry, dict) or "type" not in geometry:
            raise InvalidRasterRequest("Send a GeoJSON Polygon/MultiPolygon geometry or Feature as the JSON body.")
        asset = _asset(collection_id, item_id, request, "tiles" if out_fmt == "png" else "data")
        options = render_options(request, asset if out_fmt == "png" else None)
        image, colormap = tiles.clip(
            asset.container,
            asset.blob,
            geometry=geometry,
            width=_int(request, "width"),
            height=_int(request, "height"),
            max_size=_int(request, "max_size"),
            options=options,
            version=asset.etag_seed,
        )
        content, media_type = tiles.render(image, fmt=out_fmt, options=options, colormap=colormap)
        return _cached(content, media_type, _etag(asset, request, out_fmt), filename=f"{item_id}-clip.{out_fmt}")


class RasterPreviewApi(_RasterApi):
    permission_classes = [PublicReadIncludingPost]
    content_negotiation_class = ImageNegotiation

    @extend_schema(
        operation_id="raster_preview",
        parameters=[OpenApiParameter("max_size", int), _FORMAT_DOC, *_RENDER_DOC],
        responses={**_images("png", "jpg", "webp", "tif", "npy"), **error_responses(400, 404)},
    )
    def get(self, request: Request, collection_id: str, item_id: str, fmt: str | None = None) -> HttpResponse:
        out_fmt = output_format(request, fmt, "png", ("png", "jpg", "webp", "tif", "npy"))
        asset = _asset(collection_id, item_id, request, "tiles")
        etag = _etag(asset, request, out_fmt)
        if _not_modified(request, etag):
            return _not_modified_response(etag)
        options = render_options(request, asset)
        max_size = _int(request, "max_size", 1024, 1, 1_000_000) or 1024
        image, colormap = tiles.preview(
            asset.container, asset.blob, max_size=max_size, options=options, version=asset.etag_seed
        )
        content, media_type = tiles.render(image, fmt=out_fmt, options=options, colormap=colormap)
        return _cached(content, media_type, etag)


class RasterViewerApi(_RasterApi):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(operation_id="raster_viewer", responses={(200, "text/html"): str, **error_responses(404)})
    def get(self, request: Request, collection_id: str, item_id: str) -> HttpResponse:
        asset = _asset(collection_id, item_id, request, "tiles")
        query = request.GET.urlencode()
        context = {
            "title": asset.item.get("properties", {}).get("title") or f"{collection_id}/{item_id}",
            "tilejson_url": links.tilejson(collection_id, item_id) + (f"?{query}" if query else ""),
            "info_url": links.base(collection_id, item_id) + "/info",
            "point_url": links.base(collection_id, item_id) + "/point",
            "legend_url": links.base(collection_id, item_id) + "/legend" + (f"?{query}" if query else ""),
            "stac_url": links.stac_item(collection_id, item_id),
        }
        return render_html(request, "rasters/viewer.html", context)


def _mosaic_tile_response(request: Request, render: Any, fmt: str) -> HttpResponse:
    """Shared by the collection and search mosaics: ``render(options, pixel_selection)`` -> (image, used)."""
    options = render_options(request)
    image, used = render(options, request.query_params.get("pixel_selection", "first"))
    content, media_type = tiles.render(image, fmt=fmt, options=options)
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    if _not_modified(request, etag):
        return _not_modified_response(etag)
    response = _cached(content, media_type, etag)
    response["X-Mosaic-Items"] = ",".join(used)[:2000]
    return response


class MosaicTileApi(APIView):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(
        operation_id="raster_mosaic_tile",
        parameters=[OpenApiParameter("pixel_selection", str, enum=list(mosaic.PIXEL_SELECTION)), *_RENDER_DOC],
        responses={**_images(), **error_responses(400, 404)},
    )
    def get(
        self, request: Request, collection_id: str, tms: str, z: str, x: str, y: str, fmt: str, scale: str | None = None
    ) -> HttpResponse:
        def render(options: tiles.RenderOptions, pixel_selection: str) -> Any:
            return mosaic.tile(
                collection_id, tms_id=tms, z=int(z), x=int(x), y=int(y), scale=int(scale or 1), options=options,
                pixel_selection=pixel_selection,
            )  # fmt: skip

        return _mosaic_tile_response(request, render, fmt)


class SearchMosaicTileApi(APIView):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(
        operation_id="raster_search_mosaic_tile",
        parameters=[OpenApiParameter("pixel_selection", str, enum=list(mosaic.PIXEL_SELECTION)), *_RENDER_DOC],
        responses={**_images(), **error_responses(400, 404)},
    )
    def get(
        self, request: Request, search_id: str, tms: str, z: str, x: str, y: str, fmt: str, scale: str | None = None
    ) -> HttpResponse:
        def render(options: tiles.RenderOptions, pixel_selection: str) -> Any:
            return mosaic.search_tile(
                search_id, tms_id=tms, z=int(z), x=int(x), y=int(y), scale=int(scale or 1), options=options,
                pixel_selection=pixel_selection,
            )  # fmt: skip

        return _mosaic_tile_response(request, render, fmt)


class SearchMosaicTileJsonApi(APIView):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(
        operation_id="raster_search_mosaic_tilejson",
        parameters=_RENDER_DOC,
        responses={200: dict, **error_responses(400, 404)},
    )
    def get(self, request: Request, search_id: str) -> Response:
        q = request.query_params
        tms = q.get("tms", "WebMercatorQuad")
        tiles.get_tms(tms)
        fmt = _fmt(q.get("tile_format"), "png", tuple(tiles.FORMATS))
        passthrough = {k: v for k, v in q.items() if k not in {"tms", "tile_format"}}
        url = request.build_absolute_uri(links.search_mosaic_tile_template(search_id, tms=tms, fmt=fmt))
        url = url.replace("%7B", "{").replace("%7D", "}")
        if passthrough:
            url += "?" + urlencode(passthrough, safe=",")
        return Response(mosaic.search_tilejson(search_id, tms_id=tms, tiles_url=url))


class MosaicTileJsonApi(APIView):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(
        operation_id="raster_mosaic_tilejson",
        parameters=_RENDER_DOC,
        responses={200: dict, **error_responses(400, 404)},
    )
    def get(self, request: Request, collection_id: str) -> Response:
        q = request.query_params
        tms = q.get("tms", "WebMercatorQuad")
        tiles.get_tms(tms)
        fmt = _fmt(q.get("tile_format"), "png", tuple(tiles.FORMATS))
        passthrough = {k: v for k, v in q.items() if k not in {"tms", "tile_format", "minzoom", "maxzoom"}}
        path = f"{links.PREFIX}/mosaic/collections/{collection_id}/tiles/{tms}/{{z}}/{{x}}/{{y}}.{fmt}"
        url = request.build_absolute_uri(path).replace("%7B", "{").replace("%7D", "}")
        if passthrough:
            url += "?" + urlencode(passthrough, safe=",")
        return Response(
            mosaic.tilejson(
                collection_id, tiles_url=url,
                minzoom=_int(request, "minzoom", None, 0, 30), maxzoom=_int(request, "maxzoom", None, 0, 30),
            )
        )  # fmt: skip


class BasemapTileApi(APIView):
    """The platform's offline basemap (shaded relief + country outlines); always public: it
    shows nothing of the platform's data."""

    permission_classes: list[type[BasePermission]] = []
    authentication_classes: list[type] = []
    content_negotiation_class = ImageNegotiation

    @extend_schema(
        operation_id="raster_basemap_tile",
        responses={**{(200, basemap.FORMATS[f][1]): bytes for f in basemap.FORMATS}, **error_responses(400, 404)},
    )
    def get(self, request: Request, z: str, x: str, y: str, fmt: str, scale: str | None = None) -> HttpResponse:
        basemap.check_tile(int(z), int(x), int(y))
        etag = f'"bm-{basemap.version()}-{z}-{x}-{y}-{scale or 1}-{fmt}"'
        if _not_modified(request, etag):
            return _not_modified_response(etag)
        content, media_type = basemap.tile(int(z), int(x), int(y), scale=int(scale or 1), fmt=fmt)
        response = HttpResponse(content, content_type=media_type)
        response["ETag"] = etag
        response["Cache-Control"] = "public, max-age=86400"
        return response


class BasemapTileJsonApi(APIView):
    permission_classes: list[type[BasePermission]] = []
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="raster_basemap_tilejson",
        parameters=[OpenApiParameter("tile_format", str, enum=list(basemap.FORMATS))],
        responses={200: dict, **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        fmt = _fmt(request.query_params.get("tile_format"), "jpg", tuple(basemap.FORMATS))
        url = settings.GEOPLATFORM_BASEMAP_URL or request.build_absolute_uri(
            basemap.tile_template(links.PREFIX, fmt)
        ).replace("%7B", "{").replace("%7D", "}")
        return Response(basemap.tilejson(url))


def _legend_response(request: Request, doc: dict[str, Any], fmt: str | None) -> HttpResponse | Response:
    chosen = (fmt or request.query_params.get("f") or "").lower()
    if not chosen:
        chosen = "png" if "image/png" in request.META.get("HTTP_ACCEPT", "") else "json"
    if chosen not in {"png", "json"}:
        raise InvalidRasterRequest(f"A legend is json or png, not {chosen!r}.")
    if chosen == "png":
        return HttpResponse(legend.to_png(doc), content_type="image/png")
    return Response(doc)


_LEGEND_DOC = [*_RENDER_DOC, OpenApiParameter("f", str, enum=["json", "png"])]


class RasterLegendApi(_RasterApi):
    """The legend of the item as its tiles draw it (same rendering parameters)."""

    permission_classes = [PublicReadIncludingPost]
    content_negotiation_class = ImageNegotiation

    @extend_schema(
        operation_id="raster_legend",
        parameters=_LEGEND_DOC,
        responses={(200, "application/json"): dict, (200, "image/png"): bytes, **error_responses(400, 404)},
    )
    def get(self, request: Request, collection_id: str, item_id: str, fmt: str | None = None) -> Any:
        asset = _asset(collection_id, item_id, request, "tiles")
        options = render_options(request, asset)
        doc = legend.item_legend(
            asset.container, asset.blob, options=options,
            classes=legend.asset_classes(asset.item, asset.key), version=asset.etag_seed,
        )  # fmt: skip
        doc["raster_type"] = asset.raster_type
        return _legend_response(request, doc, fmt)


class MosaicLegendApi(APIView):
    """A mosaic's legend: from its rendering parameters alone (its items may differ)."""

    permission_classes = [PublicReadIncludingPost]
    content_negotiation_class = ImageNegotiation

    @extend_schema(
        operation_id="raster_mosaic_legend",
        parameters=_LEGEND_DOC,
        responses={(200, "application/json"): dict, (200, "image/png"): bytes, **error_responses(400, 404)},
    )
    def get(self, request: Request, collection_id: str, fmt: str | None = None) -> Any:
        mosaic.collection_index(collection_id)  # 404 for an unknown collection
        options = render_options(request)
        single = bool(options.expression or options.colormap_name or (options.indexes and len(options.indexes) == 1))
        doc = legend.continuous(options) if single else legend.rgb(options, 3)
        doc["collection"] = collection_id
        return _legend_response(request, doc, fmt)


class MosaicViewerApi(APIView):
    permission_classes = [PublicReadIncludingPost]

    @extend_schema(operation_id="raster_mosaic_viewer", responses={(200, "text/html"): str, **error_responses(404)})
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        mosaic.collection_index(collection_id)  # 404 for an unknown collection
        query = request.GET.urlencode()
        suffix = f"?{query}" if query else ""
        base = f"{links.PREFIX}/mosaic/collections/{collection_id}"
        context = {
            "title": f"{collection_id} (mosaic)",
            "tilejson_url": f"{base}/tilejson.json{suffix}",
            "legend_url": f"{base}/legend{suffix}",
            "stac_url": links.stac_collection(collection_id),
        }
        return render_html(request, "rasters/mosaic_viewer.html", context)
