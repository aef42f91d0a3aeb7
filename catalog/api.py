"""STAC API 1.0 (core, collections, ogcapi-features, item-search) over pgSTAC.

Thin views: parse, call one selector, write the JSON PostgreSQL built into the response.
Errors answer with the OGC exception body ``{"code", "description"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from geoplatform.deployment import read_only_methods
from geoplatform.errors import ogc_exception_handler
from geoplatform.negotiation import FormatNegotiation
from geoplatform.permissions import ReadPublicWriteAuthenticated

from . import search as stac_search
from . import selectors
from .errors import CollectionNotFound, InvalidSearch, ItemNotFound

STAC_VERSION = "1.1.0"
JSON = "application/json"
GEOJSON = "application/geo+json"
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


class AnyAcceptNegotiation(FormatNegotiation):
    """Views write their own bodies; a client asking for geo+json must not get a 406."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> Any:
        renderers = list(renderers)
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except drf_exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


class SearchIsRead(BasePermission):
    """POST /search only reads: it follows the public-read setting like GET."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.GEOPLATFORM_PUBLIC_READ or (request.user and request.user.is_authenticated))


class StacApi(APIView):
    permission_classes = [ReadPublicWriteAuthenticated]
    content_negotiation_class = AnyAcceptNegotiation

    def get_exception_handler(self) -> Any:
        """OGC exception bodies instead of the platform's error body."""
        return ogc_exception_handler


def _base(request: Request) -> str:
    return request.build_absolute_uri(reverse("stac-landing"))


def _json(body: str, content_type: str = JSON) -> HttpResponse:
    return HttpResponse(body, content_type=content_type)


def _with_links(body: str, links: list[dict[str, Any]]) -> str:
    """Add ``links`` to a JSON object text without decoding it (pages can be large)."""
    return f'{body[:-1]}, "links": {json.dumps(links)}}}'


def _query(params: dict[str, Any]) -> str:
    flat = {
        k: ",".join(map(str, v)) if isinstance(v, list) else json.dumps(v) if isinstance(v, dict) else v
        for k, v in params.items()
    }
    return urlencode(flat)


def _page_links(url: str, search: dict[str, Any], tokens: dict[str, str | None], post: bool) -> list[dict[str, Any]]:
    links = []
    for rel, token in tokens.items():
        if not token:
            continue
        params = stac_search.page_params(search, token)
        if post:
            links.append({"rel": rel, "type": GEOJSON, "href": url, "method": "POST", "body": params, "merge": False})
        else:
            links.append({"rel": rel, "type": GEOJSON, "href": f"{url}?{_query(params)}", "method": "GET"})
    return links


SEARCH_PARAMETERS = [
    OpenApiParameter("bbox", str, description="minx,miny,maxx,maxy (WGS 84); 6 numbers with heights."),
    OpenApiParameter("datetime", str, description="RFC 3339 instant or interval a/b; '..' leaves an end open."),
    OpenApiParameter("limit", int, description=f"Page size, 1..{stac_search.MAX_LIMIT} (larger is clamped)."),
    OpenApiParameter("token", str, description="Paging token from a next/prev link."),
]
_DOC = OpenApiResponse(OpenApiTypes.OBJECT, description="STAC JSON document.")
# Items and item pages are GeoJSON: documented as application/geo+json, the type they are sent with.
_GEODOC = {(200, GEOJSON): OpenApiResponse(OpenApiTypes.OBJECT, description="STAC Item or ItemCollection (GeoJSON).")}
_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description='Invalid parameter: {"code", "description"}.'),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description='Not found: {"code", "description"}.'),
}


class StacLandingApi(StacApi):
    @extend_schema(operation_id="stac_landing", tags=["stac"], responses={200: _DOC})
    def get(self, request: Request) -> HttpResponse:
        base = _base(request)
        links: list[dict[str, Any]] = [
            {"rel": "self", "type": JSON, "href": base},
            {"rel": "root", "type": JSON, "href": base},
            {
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "href": request.build_absolute_uri(reverse("schema")),
            },
            {"rel": "service-doc", "type": "text/html", "href": request.build_absolute_uri(reverse("swagger-ui"))},
            {"rel": "conformance", "type": JSON, "href": f"{base}conformance"},
            {"rel": "data", "type": JSON, "href": f"{base}collections"},
            {"rel": "search", "type": GEOJSON, "href": f"{base}search", "method": "GET"},
            {"rel": "search", "type": GEOJSON, "href": f"{base}search", "method": "POST"},
        ]
        for collection_id, title in selectors.collection_titles_list():
            child = {"rel": "child", "type": JSON, "href": f"{base}collections/{collection_id}"}
            links.append({**child, "title": title} if title else child)
        body = {
            "type": "Catalog",
            "id": "geoplatform",
            "stac_version": STAC_VERSION,
            "title": "GeoPlatform STAC API",
            "description": "Datasets published by GeoPlatform: vectors, rasters and Zarr.",
            "conformsTo": CONFORMANCE,
            "links": links,
        }
        return _json(json.dumps(body))


class StacConformanceApi(StacApi):
    @extend_schema(operation_id="stac_conformance", tags=["stac"], responses={200: _DOC})
    def get(self, request: Request) -> HttpResponse:
        return _json(json.dumps({"conformsTo": CONFORMANCE}))


class StacCollectionListApi(StacApi):
    @extend_schema(operation_id="stac_collections", tags=["stac"], responses={200: _DOC})
    def get(self, request: Request) -> HttpResponse:
        base = _base(request)
        collections = selectors.collections_document_get(base=base)
        links = [
            {"rel": "self", "type": JSON, "href": f"{base}collections"},
            {"rel": "root", "type": JSON, "href": base},
            {"rel": "parent", "type": JSON, "href": base},
        ]
        return _json(f'{{"collections": {collections}, "links": {json.dumps(links)}}}')


class StacCollectionApi(StacApi):
    @extend_schema(operation_id="stac_collection", tags=["stac"], responses={200: _DOC, 404: _ERRORS[404]})
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        body = selectors.collection_document_get(collection_id=collection_id, base=_base(request))
        if body is None:
            raise CollectionNotFound(f"No collection {collection_id!r}; see /api/stac/collections.")
        return _json(body)


class StacItemListApi(StacApi):
    @extend_schema(
        operation_id="stac_collection_items",
        tags=["stac"],
        parameters=SEARCH_PARAMETERS,
        responses={**_GEODOC, **_ERRORS},
    )
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        params = {k: request.query_params.get(k) for k in ("bbox", "datetime", "limit", "token")}
        search = stac_search.build_search(params, collection_id=collection_id)
        if not selectors.collection_exists(collection_id=collection_id):
            raise CollectionNotFound(f"No collection {collection_id!r}; see /api/stac/collections.")
        base = _base(request)
        body, next_token, prev_token = selectors.search_page(search=search, base=base)
        url = f"{base}collections/{collection_id}/items"
        page = {k: v for k, v in search.items() if k != "collections"}
        links = [
            {"rel": "self", "type": GEOJSON, "href": request.build_absolute_uri()},
            {"rel": "root", "type": JSON, "href": base},
            {"rel": "collection", "type": JSON, "href": f"{base}collections/{collection_id}"},
            *_page_links(url, page, {"next": next_token, "prev": prev_token}, post=False),
        ]
        return _json(_with_links(body, links), GEOJSON)


class StacItemApi(StacApi):
    @extend_schema(operation_id="stac_item", tags=["stac"], responses={**_GEODOC, 404: _ERRORS[404]})
    def get(self, request: Request, collection_id: str, item_id: str) -> HttpResponse:
        body = selectors.item_document_get(collection_id=collection_id, item_id=item_id, base=_base(request))
        if body is None:
            if not selectors.collection_exists(collection_id=collection_id):
                raise CollectionNotFound(f"No collection {collection_id!r}; see /api/stac/collections.")
            raise ItemNotFound(f"No item {item_id!r} in collection {collection_id!r}.")
        return _json(body, GEOJSON)


@read_only_methods("POST")  # a search body only reads: a reader deployment serves it
class StacSearchApi(StacApi):
    permission_classes = [SearchIsRead]

    @extend_schema(
        operation_id="stac_search_get",
        tags=["stac"],
        parameters=[
            *SEARCH_PARAMETERS,
            OpenApiParameter("intersects", str, description="A GeoJSON geometry (JSON text); not with bbox."),
            OpenApiParameter("ids", str, description="Comma-separated item ids."),
            OpenApiParameter("collections", str, description="Comma-separated collection ids."),
        ],
        responses={**_GEODOC, 400: _ERRORS[400]},
    )
    def get(self, request: Request) -> HttpResponse:
        params = {k: request.query_params.get(k) for k in stac_search.SEARCH_FIELDS}
        return self._search(request, stac_search.build_search(params), post=False)

    @extend_schema(
        operation_id="stac_search_post",
        tags=["stac"],
        request=OpenApiTypes.OBJECT,
        responses={**_GEODOC, 400: _ERRORS[400]},
    )
    def post(self, request: Request) -> HttpResponse:
        if not isinstance(request.data, dict):
            raise InvalidSearch("The search body must be a JSON object.")
        return self._search(request, stac_search.build_search(request.data, body=True), post=True)

    def _search(self, request: Request, search: dict[str, Any], *, post: bool) -> HttpResponse:
        base = _base(request)
        body, next_token, prev_token = selectors.search_page(search=search, base=base)
        links = [
            {"rel": "self", "type": GEOJSON, "href": request.build_absolute_uri()},
            {"rel": "root", "type": JSON, "href": base},
            *_page_links(f"{base}search", search, {"next": next_token, "prev": prev_token}, post=post),
        ]
        return _json(_with_links(body, links), GEOJSON)
