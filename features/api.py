"""OGC API Features over HTTP: thin views around :mod:`features.selectors` and :mod:`features.ogc`.

Every response: JSON/GeoJSON or HTML (``f=`` or the Accept header), an ETag with
Cache-Control, CORS headers; errors as OGC exception bodies ``{"code", "description"}``.

Plain Django views, not DRF's APIView: DRF's negotiation, Response rendering and finalising
cost ~0.3 ms a request, a tenth of a whole items page (docs/architecture.md). DRF itself still
authenticates (token, session), applies ``ReadPublicWriteAuthenticated`` and its throttles
(:func:`geoplatform.access.plain_view_access`); errors come from the platform's one normaliser as OGC bodies.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions

from geoplatform.access import plain_view_access
from geoplatform.errors import ogc_error_response

from . import conf, crs, hooks, ogc, queryables, selectors
from .errors import InvalidQuery
from .models import VectorDataset

logger = logging.getLogger(__name__)

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


class OgcApi(View):
    """Base of the OGC views: OGC exception bodies, CORS, caching headers."""

    http_method_names = ["get", "head", "options"]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        # Only safe methods exist here; anything else is an OGC 405, not Django's CSRF page.
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            plain_view_access(request)
            response = super().dispatch(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc, request)
        return self.finalize_response(request, response)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raise drf_exceptions.MethodNotAllowed(request.method or "")

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(status=200)

    def handle_exception(self, exc: Exception, request: HttpRequest) -> HttpResponseBase:
        return ogc_error_response(exc, request)

    def finalize_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response["Allow"] = _ALLOWED
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = "ETag, Link, OGC-NumberMatched-Type, Content-Crs"
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
        doc = {"conformsTo": [*ogc.CONFORMANCE, *hooks.conformance()]}
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
            docs = [ogc.collection_document(d, url, in_list=True) for d in datasets]
            if html:
                return render(request, "features/collections.html", {"collections": docs})
            return self.json(
                {
                    "links": [
                        ogc.link(url("collections?f=json"), "self", "application/json", "Collections"),
                        ogc.link(url("collections?f=html"), "alternate", "text/html", "Collections as HTML"),
                    ],
                    "crs": crs.supported_uris(),  # the list "#/crs" refers to (Part 2)
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
        if html and params.get("crs"):  # the HTML page's map draws CRS84; still refuse an unknown CRS
            crs.parse(params.pop("crs"), "crs")
        # Large pages stream out of PostgreSQL chunk by chunk: Python holds one chunk, not the page.
        stream = not html and ogc.parse_limit(params.get("limit")) >= STREAM_FROM_LIMIT
        result = selectors.items_page(
            collection_id=collection_id,
            include_unpublished=preview,
            build=lambda dataset: ogc.build_query(dataset, params),
            stream=stream,
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
                "map_style": hooks.map_style(dataset.collection_id),
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
            if page.chunks is not None:
                response = StreamingHttpResponse(_streamed_body(head, page.chunks), content_type=ogc.GEOJSON)
            else:
                # The page is already one text, built by PostgreSQL: one chunk with a
                # Content-Length (no chunked encoding, one write). Still a streaming response, as
                # clients of this view (and its tests) have always read it.
                body = "".join((json.dumps(head)[:-1], ', "features": [', page.body, "]}")).encode()
                response = StreamingHttpResponse(iter((body,)), content_type=ogc.GEOJSON)
                response["Content-Length"] = str(len(body))
            response["OGC-NumberMatched-Type"] = "exact" if page.matched_exact else "estimate"
            response["Content-Crs"] = f"<{query.crs.uri}>"
        response["ETag"] = self.etag(request, html, collection_id, result.version)
        return response


# Pages of at least this many features are streamed (smaller ones are one text: fewer writes).
STREAM_FROM_LIMIT = 1000


def _streamed_body(head: dict[str, Any], chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The FeatureCollection around the page's chunks of Features (each joined by "," already)."""
    try:
        yield (json.dumps(head)[:-1] + ', "features": [').encode()
        first = True
        for chunk in chunks:
            yield chunk if first else b"," + chunk
            first = False
        yield b"]}"
    finally:  # a client gone midway: end the COPY now, not when the generator is collected
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


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
        unknown = sorted(set(request.GET) - {"f", "crs"})
        if unknown:
            raise InvalidQuery(f"Unknown query parameter(s): {', '.join(unknown)}. Known: crs, f.")
        out_crs = crs.DEFAULT if html else crs.parse(request.GET.get("crs"), "crs")
        dataset = selectors.dataset_get(collection_id=collection_id, include_unpublished=self.preview(request))
        text = selectors.feature_get(dataset=dataset, feature_id=feature_id, crs=out_crs)
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
            response = HttpResponse(body, content_type=ogc.GEOJSON)
            response["Content-Crs"] = f"<{out_crs.uri}>"
            return response

        return self.conditional(request, etag, make)


class QueryablesApi(OgcApi):
    """The properties a ``filter`` may name, as JSON Schema (OGC API Features Part 3)."""

    def get(self, request: HttpRequest, collection_id: str) -> HttpResponse:
        html = wants_html(request)
        dataset = selectors.dataset_get(collection_id=collection_id, include_unpublished=self.preview(request))
        doc = queryables.queryables_document(dataset, self.url_maker(request))

        def make() -> HttpResponse:
            if html:
                return render(request, "features/queryables.html", {"doc": json.dumps(doc, indent=2)})
            return self.json(doc, queryables.SCHEMA_JSON)

        return self.conditional(request, self.etag(request, html, _datasets_version([dataset])), make)
