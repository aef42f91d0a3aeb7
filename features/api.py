"""OGC API Features over HTTP: thin views around :mod:`features.selectors` and :mod:`features.ogc`.

Every response: JSON/GeoJSON or HTML (``f=`` or the Accept header), an ETag with
Cache-Control, CORS headers; errors as OGC exception bodies ``{"code", "description"}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from geoplatform.errors import ApplicationError

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


class _KeepRenderer(BaseContentNegotiation):
    """Views answer in the format they choose (``f``/Accept); DRF must not refuse first."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


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


class OgcApi(APIView):
    """Base of the OGC views: OGC exception bodies, CORS, caching headers."""

    content_negotiation_class = _KeepRenderer

    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]
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

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = "ETag, Link, OGC-NumberMatched-Type"
        if request.method == "OPTIONS":
            response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Accept, Authorization, If-None-Match, Content-Type"
        if response.status_code == 200 and request.method in ("GET", "HEAD") and "Cache-Control" not in response:
            # Reviewers see collections awaiting review: never let a shared cache keep those.
            scope = "private" if self.preview(request) else "public"
            response["Cache-Control"] = f"{scope}, max-age={conf.cache_seconds()}"
        response.setdefault("Vary", "Accept")
        return response

    # helpers -----------------------------------------------------------------------------------

    def url_maker(self, request: HttpRequest) -> Callable[[str], str]:
        base = request.build_absolute_uri(reverse("features:landing"))
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
    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        html = wants_html(request)
        doc = ogc.landing_document(self.url_maker(request), "GeoPlatform features")
        if html:
            return render(request, "features/landing.html", {"doc": doc})
        return self.json(doc)


class ConformanceApi(OgcApi):
    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        doc = {"conformsTo": ogc.CONFORMANCE}
        if wants_html(request):
            return render(request, "features/conformance.html", {"doc": doc})
        return self.json(doc)


class OpenApiApi(OgcApi):
    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        datasets = selectors.dataset_list(include_unpublished=self.preview(request))
        doc = ogc.openapi_document(datasets, request.build_absolute_uri(reverse("features:landing")).rstrip("/"))
        if wants_html(request):
            return render(request, "features/openapi.html", {"doc": json.dumps(doc, indent=2)})
        return self.json(doc, ogc.OPENAPI_JSON)


class CollectionListApi(OgcApi):
    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
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
    @extend_schema(exclude=True)
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        html = wants_html(request)
        dataset = selectors.dataset_get(collection_id=collection_id, include_unpublished=self.preview(request))
        doc = ogc.collection_document(dataset, self.url_maker(request))

        def make() -> HttpResponse:
            if html:
                return render(request, "features/collection.html", {"c": doc})
            return self.json(doc)

        return self.conditional(request, self.etag(request, html, _datasets_version([dataset])), make)


class ItemListApi(OgcApi):
    @extend_schema(exclude=True)
    def get(self, request: Request, collection_id: str) -> HttpResponse | StreamingHttpResponse:
        html = wants_html(request)
        dataset = selectors.dataset_get(collection_id=collection_id, include_unpublished=self.preview(request))
        query, info = ogc.build_query(dataset, request.GET.dict())
        etag = self.etag(request, html, _datasets_version([dataset]))
        if request.META.get("HTTP_IF_NONE_MATCH") == etag:
            return self.conditional(request, etag, HttpResponseNotModified)
        page = selectors.items_page(dataset=dataset, query=query, filtered=info["filtered"])
        links = _page_links(request, self.url_maker(request), dataset, query, page)
        if html:
            features = [json.loads(f) for f in page.features]
            context = {
                "c": dataset,
                "features": features,
                "page": page,
                "links": links,
                "query": query,
                "columns": query.properties if query.properties is not None else query.columns,
                "geojson": {"type": "FeatureCollection", "features": features},
            }
            response: HttpResponse | StreamingHttpResponse = render(request, "features/items.html", context)
        else:
            head = {
                "type": "FeatureCollection",
                "numberReturned": len(page.features),
                "numberMatched": page.number_matched,
                "numberMatchedExact": page.matched_exact,
                "timeStamp": timezone.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
                "links": links,
            }
            response = StreamingHttpResponse(_stream(head, page.features), content_type=ogc.GEOJSON)
            response["OGC-NumberMatched-Type"] = "exact" if page.matched_exact else "estimate"
        response["ETag"] = etag
        return response


def _stream(head: dict[str, Any], features: list[str]) -> Iterator[bytes]:
    yield (json.dumps(head)[:-1] + ', "features": [').encode()
    for start in range(0, len(features), 500):
        prefix = "," if start else ""
        yield (prefix + ",".join(features[start : start + 500])).encode()
    yield b"]}"


def _page_links(
    request: HttpRequest, url: Callable[[str], str], dataset: VectorDataset, query: Any, page: selectors.ItemsPage
) -> list[dict[str, str]]:
    cid = dataset.collection_id
    base = url(f"collections/{cid}/items")

    def with_params(**changes: Any) -> str:
        params = request.GET.copy()
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = str(value)
        return base + ("?" + params.urlencode() if params else "")

    fmt = "html" if wants_html(request) else "json"
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
    @extend_schema(exclude=True)
    def get(self, request: Request, collection_id: str, feature_id: str) -> HttpResponse:
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
