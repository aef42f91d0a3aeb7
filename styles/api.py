"""OGC API Styles routes under /api/features/collections/{collectionId}/styles.

Plain Django views as features.api (a style GET is on every map load): DRF authenticates
(token, session) and applies ``ReadPublicWriteAuthenticated``; writes need the model
permissions; errors are OGC exception bodies.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.shortcuts import render
from django.urls import reverse
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions

from features import selectors as features_selectors
from geoplatform.access import plain_view_access
from geoplatform.errors import ApplicationError, Forbidden, ogc_error_response

from . import cartosym, defaults, encodings, negotiation, selectors, services, sld
from .errors import InvalidStyle
from .models import Style

MEDIA_TYPES = {
    "cartosym": cartosym.MEDIA_TYPE,
    "mapbox": encodings.MAPBOX_MEDIA_TYPE,
    "leaflet": encodings.LEAFLET_MEDIA_TYPE,
    "sld": sld.MEDIA_TYPE,
    "html": "text/html",
}
_translations: dict[tuple[Any, ...], tuple[bytes, str]] = {}
_TRANSLATIONS_MAX = 512
_LAYER_TYPES = {"Point": "point", "LineString": "line", "Polygon": "polygon", "Any": "geometry"}
_BODY_TYPES = ("application/vnd.ogc.cartosym+json", "application/json")


class StylesBase(View):
    allowed = "GET, HEAD, OPTIONS"
    http_method_names = ["get", "head", "options", "post", "put", "delete"]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return csrf_exempt(super().as_view(**initkwargs))  # token clients; no session forms here

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            if request.method not in self.allowed.replace(" ", "").split(","):
                raise drf_exceptions.MethodNotAllowed(request.method or "")
            plain_view_access(request)
            response = super().dispatch(request, *args, **kwargs)
        except Exception as exc:
            response = ogc_error_response(exc, request)
        response["Allow"] = self.allowed
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = "ETag, Location"
        response.setdefault("Vary", "Accept")
        return response

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(status=200)

    @staticmethod
    def require(request: HttpRequest, codename: str) -> None:
        if not request.user.has_perm(f"styles.{codename}"):
            raise Forbidden(f"This needs the permission styles.{codename}.")

    @staticmethod
    def preview(request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_authenticated and user.has_perm("features.preview_unpublished"))

    def dataset(self, request: HttpRequest, collection_id: str) -> Any:
        return features_selectors.dataset_get(collection_id=collection_id, include_unpublished=self.preview(request))

    @staticmethod
    def body(request: HttpRequest) -> Any:
        media = request.content_type or ""
        if media not in _BODY_TYPES:
            raise ApplicationError(
                f"Send the style as {cartosym.MEDIA_TYPE} (or application/json), not {media or 'no Content-Type'}.",
                code="unsupported_media_type",
                status_code=415,
            )
        try:
            return json.loads(request.body or b"null")
        except ValueError as exc:
            raise InvalidStyle(f"The body is not JSON: {exc}.") from None

    @staticmethod
    def flags(request: HttpRequest) -> tuple[str, bool]:
        validate = request.GET.get("validate", "yes").lower()
        if validate not in ("yes", "no", "only"):
            raise InvalidStyle("validate is one of yes, no, only.")
        default = request.GET.get("default", "false").lower() in ("true", "1", "yes")
        return validate, default

    @staticmethod
    def cached(request: HttpRequest, parts: list[Any], make: Any) -> HttpResponse:
        etag = '"' + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32] + '"'
        response: HttpResponse = HttpResponseNotModified() if request.META.get("HTTP_IF_NONE_MATCH") == etag else make()
        response["ETag"] = etag
        if response.status_code in (200, 304):
            response["Cache-Control"] = f"public, max-age={int(settings.GEOPLATFORM_STYLES_CACHE_SECONDS)}"
        return response


def _style_url(request: HttpRequest, collection_id: str, style_id: str, suffix: str = "") -> str:
    return (
        request.build_absolute_uri(
            reverse("styles:style", kwargs={"collection_id": collection_id, "style_id": style_id})
        )
        + suffix
    )


def _style_links(request: HttpRequest, style: Style) -> list[dict[str, str]]:
    url = _style_url(request, style.collection_id, style.style_id)
    links = [
        {"href": f"{url}?f={enc}", "rel": "stylesheet", "type": MEDIA_TYPES[enc], "title": f"{style.title} ({enc})"}
        for enc in ("cartosym", "mapbox", "leaflet", "sld")
    ]
    links.append({"href": url + "/metadata", "rel": "describedby", "type": "application/json", "title": "Metadata"})
    return links


class StyleListApi(StylesBase):
    allowed = "GET, HEAD, OPTIONS, POST"

    def get(self, request: HttpRequest, collection_id: str) -> HttpResponse:
        self.dataset(request, collection_id)
        styles = selectors.style_list(collection_id=collection_id)
        default = next((s.style_id for s in styles if s.is_default), None)
        doc = {
            "default": default,
            "styles": [{"id": s.style_id, "title": s.title, "links": _style_links(request, s)} for s in styles],
            "links": [{"href": request.build_absolute_uri(), "rel": "self", "type": "application/json"}],
        }
        version = [collection_id, *(f"{s.style_id}@{s.version}@{s.is_default}" for s in styles)]
        return self.cached(request, version, lambda: HttpResponse(json.dumps(doc), content_type="application/json"))

    def post(self, request: HttpRequest, collection_id: str) -> HttpResponse:
        self.require(request, "add_style")
        features_selectors.dataset_get(collection_id=collection_id, include_unpublished=True)
        validate, default = self.flags(request)
        doc = self.body(request)
        if validate == "only":
            services.style_check(doc, collection_id=collection_id)
            return HttpResponse(status=204)
        style_id = request.GET.get("id") or _slug(
            (doc or {}).get("metadata", {}).get("title", "") if isinstance(doc, dict) else ""
        )
        style = services.style_create(
            collection_id=collection_id, style_id=style_id, doc=doc, user=request.user, default=default
        )
        response = HttpResponse(
            json.dumps({"id": style.style_id, "links": _style_links(request, style)}),
            status=201,
            content_type="application/json",
        )
        response["Location"] = _style_url(request, collection_id, style.style_id)
        return response


def _slug(title: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
    return "-".join(p for p in out.split("-") if p)[:63] or "style"


class StyleApi(StylesBase):
    allowed = "GET, HEAD, OPTIONS, PUT, DELETE"

    def get(self, request: HttpRequest, collection_id: str, style_id: str) -> HttpResponse:
        encoding = negotiation.choose(request.GET.get("f"), request.META.get("HTTP_ACCEPT", ""))
        style = selectors.style_get_served(
            collection_id=collection_id, style_id=style_id, include_unpublished=self.preview(request)
        )
        # The page needs the whole collection row; the encodings only its id and bbox.
        dataset = self.dataset(request, collection_id) if encoding == "html" else None

        def make() -> HttpResponse:
            return self.render_style(request, dataset, style, encoding)

        return self.cached(
            request, [collection_id, style_id, style.version, style.updated_at, encoding, request.get_host()], make
        )

    def render_style(self, request: HttpRequest, dataset: Any | None, style: Style, encoding: str) -> HttpResponse:
        if encoding == "html":
            return self.translate(request, dataset, style, encoding)
        # Translations of a style version are kept (per process): a map load asks for the same
        # few styles again and again, and a new version is a new key.
        key = (style.pk, style.version, style.updated_at, encoding, request.get_host(), request.is_secure())
        cached = _translations.get(key)
        if cached is None:
            made = self.translate(request, dataset, style, encoding)
            cached = (made.content, made["Content-Type"])
            if len(_translations) >= _TRANSLATIONS_MAX:
                _translations.pop(next(iter(_translations)))
            _translations[key] = cached
        return HttpResponse(cached[0], content_type=cached[1])

    def translate(self, request: HttpRequest, dataset: Any | None, style: Style, encoding: str) -> HttpResponse:
        doc = style.cartosym
        cid = style.collection_id
        name = f"{cid}/{style.style_id}"
        if encoding == "cartosym":
            return HttpResponse(json.dumps(doc), content_type=cartosym.MEDIA_TYPE)
        if encoding == "leaflet":
            return HttpResponse(
                json.dumps(encodings.to_leaflet(doc, name=name)), content_type=encodings.LEAFLET_MEDIA_TYPE
            )
        if encoding == "sld":
            body = sld.to_sld(doc, layer=cid, name=style.style_id)
            return HttpResponse(body, content_type=sld.MEDIA_TYPE)
        if encoding == "mapbox":
            # Over the collection's vector tiles (OGC API Tiles, WebMercatorQuad, MVT: one layer
            # named after the collection), as any MapLibre client draws a collection of any size.
            tileset = request.build_absolute_uri(reverse("features:tileset", args=[cid, "WebMercatorQuad"]))
            mapbox = encodings.to_mapbox(
                doc,
                name=name,
                source_url=tileset + "?f=tilejson",
                glyphs=str(settings.GEOPLATFORM_STYLES_GLYPHS_URL),
                bounds=getattr(style, "collection_bbox", None),
                source_layer=cid,
            )
            return HttpResponse(json.dumps(mapbox), content_type=encodings.MAPBOX_MEDIA_TYPE)
        context = {
            "c": dataset,
            "style": style,
            "links": _style_links(request, style),
            "legend": encodings.legend(doc),
            "cartosym": json.dumps(doc, indent=2),
            "mapbox_url": request.get_full_path().split("?")[0] + "?f=mapbox",
            "bbox": json.dumps(getattr(dataset, "bbox", None) or [-180, -85, 180, 85]),
        }
        return render(request, "styles/style.html", context)

    def put(self, request: HttpRequest, collection_id: str, style_id: str) -> HttpResponse:
        self.require(request, "change_style")
        features_selectors.dataset_get(collection_id=collection_id, include_unpublished=True)
        validate, default = self.flags(request)
        doc = self.body(request)
        if validate == "only":
            services.style_check(doc, collection_id=collection_id)
            return HttpResponse(status=204)
        services.style_replace(
            collection_id=collection_id, style_id=style_id, doc=doc, user=request.user, default=default
        )
        return HttpResponse(status=204)

    def delete(self, request: HttpRequest, collection_id: str, style_id: str) -> HttpResponse:
        self.require(request, "delete_style")
        services.style_delete(collection_id=collection_id, style_id=style_id, user=request.user)
        return HttpResponse(status=204)


class StyleMetadataApi(StylesBase):
    def get(self, request: HttpRequest, collection_id: str, style_id: str) -> HttpResponse:
        dataset = self.dataset(request, collection_id)
        style = selectors.style_get(collection_id=collection_id, style_id=style_id)
        url = _style_url(request, collection_id, style_id)
        specs = {
            "cartosym": (
                "OGC Cartographic Symbology 1.0 (CartoSym-JSON)",
                "1.0",
                "https://docs.ogc.org/DRAFTS/18-067r4.html",
            ),
            "mapbox": ("MapLibre / Mapbox GL style", "8", "https://maplibre.org/maplibre-style-spec/"),
            "leaflet": ("GeoPlatform Leaflet style", "1", "docs/apps/styles.md"),
            "sld": ("OGC SLD / Symbology Encoding", "1.1", "https://www.ogc.org/standard/sld/"),
        }
        doc = {
            "id": style.style_id,
            "title": style.title,
            "description": style.description,
            "scope": "style",
            "version": str(style.version),
            "default": style.is_default,
            "dates": {"creation": style.created_at.isoformat(), "revision": style.updated_at.isoformat()},
            "stylesheets": [
                {
                    "title": title,
                    "version": version,
                    "specification": spec,
                    "native": enc == "cartosym",
                    "link": {"href": f"{url}?f={enc}", "rel": "stylesheet", "type": MEDIA_TYPES[enc]},
                }
                for enc, (title, version, spec) in specs.items()
            ],
            "layers": [{"id": dataset.collection_id, "type": _LAYER_TYPES[defaults.family(dataset.geometry_type)]}],
            "links": [
                {"href": request.build_absolute_uri(), "rel": "self", "type": "application/json"},
                {"href": url, "rel": "style", "type": cartosym.MEDIA_TYPE},
            ],
        }
        return self.cached(
            request,
            ["meta", collection_id, style_id, style.version, style.updated_at, request.get_host()],
            lambda: HttpResponse(json.dumps(doc), content_type="application/json"),
        )
