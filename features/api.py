"""OGC API Features over HTTP: thin views around :mod:`features.selectors` and :mod:`features.ogc`.

Every response: JSON/GeoJSON or HTML (``f=`` or the Accept header), an ETag with
Cache-Control, CORS headers; errors as OGC exception bodies ``{"code", "description"}``.

Plain Django views, not DRF's APIView: DRF's request wrapping, negotiation and response
finalising cost ~0.3 ms a request, a tenth of a whole items page. DRF's authentication
classes still decide who the caller is when the request carries credentials (tokens), and
``ReadPublicWriteAuthenticated`` still gates reads.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from geoplatform.errors import ApplicationError, unavailable_or_same
from geoplatform.permissions import ReadPublicWriteAuthenticated

from . import conf, ogc, selectors
from .errors import InvalidQuery
from .models import VectorDataset

logger = logging.getLogger(__name__)

_OGC_CODES = {
    400: "InvalidParameterValue",
    401: "NotAuthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
}
_JSON_TYPES = ("application/json", "application/geo+json", "application/vnd.oai.openapi+json")
_ALLOWED = "GET, HEAD, OPTIONS"


def _accept_prefers_html(accept: str) -> bool:
    best: dict[str, tuple[float, int]] = {}
    for index, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        kind = "html" if media == "text/html" else "json" if media.startswith(_JSON_TYPES) else None
        if kind and (kind not in best or q > best[kind][0]):
            best[kind] = (q, -index)
    if "html" not in best:
        return False
    return "json" not in best or best["html"] > best["json"]


def wants_html(request: HttpRequest) -> bool:
    f = request.GET.get("f")
    if f:
        if f in ("html", "text/html"):
            return True
        if f in ("json", "geojson", "application/json", "application/geo+json"):
            return False
        raise InvalidQuery(f"Unknown format f={f!r}; use f=json or f=html.")
    return _accept_prefers_html(request.META.get("HTTP_ACCEPT", ""))


@functools.lru_cache(maxsize=8)
def _landing_path(script_prefix: str) -> str:
    """reverse() of the landing page, once per script prefix (it costs ~40 us a call)."""
    return reverse("features:landing")


def _authenticate(request: HttpRequest) -> Any:
    """The caller: DRF's authentication classes when the request carries credentials (a bad
    token is a 401, as before), else the session user Django's middleware already attached
    (the same user DRF's SessionAuthentication would find, ~70 us cheaper).
    ``_force_auth_user`` is how DRF's test client (``force_authenticate``) passes a user."""
    if request.META.get("HTTP_AUTHORIZATION") or hasattr(request, "_force_auth_user"):
        classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
        authenticators = [cls() for cls in classes]
        drf_request = Request(request, authenticators=authenticators)
        user = drf_request.user  # also sets request.user
        allowed = ReadPublicWriteAuthenticated().has_permission(drf_request, None)
    else:
        user = request.user  # type: ignore[attr-defined]
        allowed = ReadPublicWriteAuthenticated().has_permission(request, None)  # type: ignore[arg-type]
    if not allowed:
        raise drf_exceptions.NotAuthenticated()
    return user


class OgcApi(View):
    """Base of the OGC views: OGC exception bodies, CORS, caching headers."""

    http_method_names = ["get", "head", "options"]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        # Only safe methods exist here; anything else is an OGC 405, not Django's CSRF page.
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            _authenticate(request)
            response = super().dispatch(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        return self.finalize_response(request, response)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raise drf_exceptions.MethodNotAllowed(request.method or "")

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(status=200)

    def handle_exception(self, exc: Exception) -> HttpResponse:
        exc = unavailable_or_same(exc)
        if isinstance(exc, ApplicationError):
            status, description = exc.status_code, exc.message
        elif isinstance(exc, Http404):
            status, description = 404, str(exc) or "Not found."
        elif isinstance(exc, DjangoPermissionDenied):
            status, description = 403, str(exc) or "Forbidden."
        elif isinstance(exc, drf_exceptions.APIException):
            status, description = exc.status_code, str(exc.detail)
        else:
            logger.exception("Unhandled error in an OGC API view", extra={"error_source": "platform"})
            status, description = 500, "Internal error; it has been logged."
        body = {"code": _OGC_CODES.get(status, "ServerError" if status >= 500 else "Error"), "description": description}
        return JsonResponse(body, status=status)

    def finalize_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response["Allow"] = _ALLOWED
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = "ETag, Link, OGC-NumberMatched-Type"
        if request.method == "OPTIONS":
            response["Access-Control-Allow-Methods"] = _ALLOWED
            response["Access-Control-Allow-Headers"] = "Accept, Authorization, If-None-Match, Content-Type"
        if response.status_code == 200 and request.method in ("GET", "HEAD") and "Cache-Control" not in response:
            # Reviewers see collections awaiting review: never let a shared cache keep those.
            scope = "private" if self.preview(request) else "public"
            response["Cache-Control"] = f"{scope}, max-age={conf.cache_seconds()}"
        response.setdefault("Vary", "Accept")
        return response

    # helpers -----------------------------------------------------------------------------------

    def url_maker(self, request: HttpRequest) -> Callable[[str], str]:
        base = request.build_absolute_uri(_landing_path(get_script_prefix()))
        return lambda path: base + path

    @staticmethod
    def preview(request: Any) -> bool:
        """Accounts allowed to see collections awaiting review (reviewers, staff)."""
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated and user.has_perm("features.preview_unpublished"))

    def etag(self, request: HttpRequest, *parts: Any) -> str:
        basis = "|".join([request.get_full_path(), request.META.get("HTTP_ACCEPT", ""), *map(str, parts)])
        return '"' + hashlib.sha256(basis.encode()).hexdigest()[:32] + '"'

    def conditional(self, request: HttpRequest, etag: str, make: Callable[[], HttpResponse]) -> HttpResponse:
        if request.META.get("HTTP_IF_NONE_MATCH") == etag:
            response: HttpResponse = HttpResponseNotModified()
        else:
            response = make()
        response["ETag"] = etag
        return response

    def json(self, body: Any, content_type: str = "application/json") -> HttpResponse:
        return HttpResponse(json.dumps(body), content_type=content_type)


def _datasets_version(datasets: list[VectorDataset]) -> str:
    return ";".join(f"{d.collection_id}@{d.updated_at.isoformat()}" for d in datasets)


class LandingApi(OgcApi):
    def get(self, request: HttpRequest) -> HttpResponse:
        html = wants_html(request)
        doc = ogc.landing_document(self.url_maker(request), "GeoPlatform features")
        if html:
            return render(request, "features/landing.html", {"doc": doc})
        return self.json(doc)


class ConformanceApi(OgcApi):
    def get(self, request: HttpRequest) -> HttpResponse:
        doc = {"conformsTo": ogc.CONFORMANCE}
        if wants_html(request):
            return render(request, "features/conformance.html", {"doc": doc})
        return self.json(doc)


class OpenApiApi(OgcApi):
    def get(self, request: HttpRequest) -> HttpResponse:
        datasets = selectors.dataset_list(include_unpublished=self.preview(request))
        doc = ogc.openapi_document(datasets, request.build_absolute_uri(reverse("features:landing")).rstrip("/"))
        if wants_html(request):
            return render(request, "features/openapi.html", {"doc": json.dumps(doc, indent=2)})
        return self.json(doc, ogc.OPENAPI_JSON)


class CollectionListApi(OgcApi):
    def get(self, request: HttpRequest) -> HttpResponse:
        html = wants_html(request)
        datasets = selectors.dataset_list(include_unpublished=self.preview(request))
        url = self.url_maker(request)

        def make() -> HttpResponse:
            docs = [ogc.collection_document(d, url) for d in datasets]
            if html:
                return render(request, "features/collections.html", {"collections": docs})
            return self.json(
                {
                    "links": [
                        ogc.link(url("collections?f=json"), "self", "application/json", "Collections"),
                        ogc.link(url("collections?f=html"), "alternate", "text/html", "Collections as HTML"),
                    ],
                    "collections": docs,
                }
            )

        return self.conditional(request, self.etag(request, html, _datasets_version(datasets)), make)


class CollectionDetailApi(OgcApi):
    def get(self, request: HttpRequest, collection_id: str) -> HttpResponse:
        html = wants_html(request)
        dataset = selectors.dataset_get(collection_id=collection_id, include_unpublished=self.preview(request))
        doc = ogc.collection_document(dataset, self.url_maker(request))

        def make() -> HttpResponse:
            if html:
                return render(request, "features/collection.html", {"c": doc})
            return self.json(doc)

        return self.conditional(request, self.etag(request, html, _datasets_version([dataset])), make)


class ItemListApi(OgcApi):
    def get(self, request: HttpRequest, collection_id: str) -> HttpResponse | StreamingHttpResponse:
        html = wants_html(request)
        preview = self.preview(request)
        if request.META.get("HTTP_IF_NONE_MATCH"):  # answer 304 without reading the page
            version = selectors.dataset_version(collection_id=collection_id, include_unpublished=preview)
            etag = self.etag(request, html, collection_id, version)
            if request.META["HTTP_IF_NONE_MATCH"] == etag:
                return self.conditional(request, etag, HttpResponseNotModified)
        params = request.GET.dict()
        result = selectors.items_page(
            collection_id=collection_id,
            include_unpublished=preview,
            build=lambda dataset: ogc.build_query(dataset, params),
        )
        dataset, query, page = result.dataset, result.query, result.page
        links = _page_links(request, self.url_maker(request), dataset, query, page, html)
        response: HttpResponse | StreamingHttpResponse
        if html:
            features = page.features()
            context = {
                "c": dataset,
                "features": features,
                "page": page,
                "links": links,
                "query": query,
                "columns": query.properties if query.properties is not None else query.columns,
                "geojson": {"type": "FeatureCollection", "features": features},
            }
            response = render(request, "features/items.html", context)
        else:
            head = {
                "type": "FeatureCollection",
                "numberReturned": page.returned,
                "numberMatched": page.number_matched,
                "numberMatchedExact": page.matched_exact,
                "timeStamp": timezone.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
                "links": links,
            }
            # The page is already one text, built by PostgreSQL: one chunk with a
            # Content-Length (no chunked encoding, one write). Still a streaming response, as
            # clients of this view (and its tests) have always read it.
            body = "".join((json.dumps(head)[:-1], ', "features": [', page.body, "]}")).encode()
            response = StreamingHttpResponse(iter((body,)), content_type=ogc.GEOJSON)
            response["Content-Length"] = str(len(body))
            response["OGC-NumberMatched-Type"] = "exact" if page.matched_exact else "estimate"
        response["ETag"] = self.etag(request, html, collection_id, result.version)
        return response


def _page_links(
    request: HttpRequest,
    url: Callable[[str], str],
    dataset: VectorDataset,
    query: Any,
    page: selectors.ItemsPage,
    html: bool,
) -> list[dict[str, str]]:
    cid = dataset.collection_id
    base = url(f"collections/{cid}/items")

    # Each request parameter is URL-encoded once; links replace (or drop) only the ones they
    # change, in place, like QueryDict.urlencode() (which costs one urlencode() per value per link).
    encoded = [(key, [urlencode({key: v}) for v in values]) for key, values in request.GET.lists()]

    def with_params(**changes: Any) -> str:
        parts: list[str] = []
        for key, texts in encoded:
            if key not in changes:
                parts += texts
            elif changes[key] is not None:
                parts.append(urlencode({key: str(changes[key])}))
        present = {key for key, _ in encoded}
        parts += [urlencode({k: str(v)}) for k, v in changes.items() if v is not None and k not in present]
        return base + ("?" + "&".join(parts) if parts else "")

    fmt = "html" if html else "json"
    links = [
        ogc.link(with_params(f=fmt), "self", "text/html" if fmt == "html" else ogc.GEOJSON, "This page"),
        ogc.link(
            with_params(f="html" if fmt == "json" else "json"),
            "alternate",
            ogc.GEOJSON if fmt == "html" else "text/html",
            "This page in the other format",
        ),
        ogc.link(url(f"collections/{cid}"), "collection", "application/json", dataset.title or cid),
    ]
    kind = "text/html" if fmt == "html" else ogc.GEOJSON
    if page.has_more:
        next_offset = query.offset + query.limit
        if query.sortby:
            links.append(ogc.link(with_params(f=fmt, offset=next_offset, cursor=None), "next", kind, "Next page"))
        else:  # keyset: deep pages cost the same as the first
            links.append(
                ogc.link(with_params(f=fmt, offset=next_offset, cursor=page.last_id), "next", kind, "Next page")
            )
    if query.offset > 0:
        links.append(
            ogc.link(
                with_params(f=fmt, offset=max(0, query.offset - query.limit), cursor=None),
                "prev",
                kind,
                "Previous page",
            )
        )
    return links


class ItemDetailApi(OgcApi):
    def get(self, request: HttpRequest, collection_id: str, feature_id: str) -> HttpResponse:
        html = wants_html(request)
        dataset = selectors.dataset_get(collection_id=collection_id, include_unpublished=self.preview(request))
        text = selectors.feature_get(dataset=dataset, feature_id=feature_id)
        url = self.url_maker(request)
        own = f"collections/{collection_id}/items/{feature_id}"
        links = [
            ogc.link(url(own + "?f=json"), "self", ogc.GEOJSON, "This feature"),
            ogc.link(url(own + "?f=html"), "alternate", "text/html", "This feature as HTML"),
            ogc.link(
                url(f"collections/{collection_id}"), "collection", "application/json", dataset.title or collection_id
            ),
        ]
        etag = self.etag(request, html, _datasets_version([dataset]))

        def make() -> HttpResponse:
            if html:
                feature = json.loads(text)
                geojson = {"type": "FeatureCollection", "features": [feature]}
                return render(
                    request, "features/item.html", {"c": dataset, "f": feature, "geojson": geojson, "links": links}
                )
            body = text[:-1] + ', "links": ' + json.dumps(links) + "}"
            return HttpResponse(body, content_type=ogc.GEOJSON)

        return self.conditional(request, etag, make)
