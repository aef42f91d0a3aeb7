"""STAC API 1.0 (core, collections, ogcapi-features, item-search) over pgSTAC.

Thin views: parse, call one selector, write the JSON PostgreSQL built into the response.
Errors answer with the OGC exception body ``{"code", "description"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpResponse, QueryDict
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from geoplatform.deployment import read_only_methods
from geoplatform.errors import ogc_exception_handler
from geoplatform.negotiation import FormatNegotiation
from geoplatform.permissions import ReadPublicWriteAuthenticated

from . import search as stac_search
from . import selectors, services
from .errors import CollectionNotFound, InvalidSearch, InvalidStacDocument, ItemNotFound

STAC_VERSION = "1.1.0"
JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA_JSON = "application/schema+json"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
# Every class here is checked in tests/catalog/test_clients.py: stac-api-validator for those it
# knows (core, collections, features, item-search, filter, sort, fields, query, transaction),
# pystac-client and the API tests for free-text and collection search (the validator has none).
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#fields",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#query",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#filter",
    "https://api.stacspec.org/v1.0.0-rc.1/item-search#free-text",
    "https://api.stacspec.org/v1.0.0-rc.1/ogcapi-features#free-text",
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search",
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search#free-text",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/simple-query",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-operators",
    "https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction",
    "https://api.stacspec.org/v1.0.0/collections/extensions/transaction",
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


MANAGE_PERMISSION = "catalog.manage_stac"


class TransactionsNeedManageStac(BasePermission):
    """Writes (the transactions extension) need catalog.manage_stac; reads are not affected."""

    message = f"Your account lacks the permission {MANAGE_PERMISSION!r} (STAC transactions are for operators)."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(MANAGE_PERMISSION))


class StacApi(APIView):
    permission_classes = [ReadPublicWriteAuthenticated, TransactionsNeedManageStac]
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


def _page_links(
    url: str, request: Request, search: dict[str, Any], tokens: dict[str, str | None], post: bool
) -> list[dict[str, Any]]:
    """next/prev links: a GET link repeats the request's own query string with the new token
    (the client's own spelling of every parameter); a POST link carries the validated search."""
    links = []
    for rel, token in tokens.items():
        if not token:
            continue
        if post:
            body = stac_search.page_params(search, token)
            links.append({"rel": rel, "type": GEOJSON, "href": url, "method": "POST", "body": body, "merge": False})
        else:
            query = request.query_params.copy()
            query["token"] = token
            links.append({"rel": rel, "type": GEOJSON, "href": f"{url}?{query.urlencode()}", "method": "GET"})
    return links


EXTENSION_PARAMETERS = [
    OpenApiParameter("filter", str, description="CQL2 filter (filter extension); text by default, or JSON."),
    OpenApiParameter("filter-lang", str, enum=list(stac_search.FILTER_LANGS), description="Language of filter."),
    OpenApiParameter("filter-crs", str, enum=[stac_search.CRS84], description="CRS of filter geometries."),
    OpenApiParameter("sortby", str, description="Sort extension: comma-separated fields, '-' for descending."),
    OpenApiParameter("fields", str, description="Fields extension: id,-geometry,+properties.x (include/exclude)."),
    OpenApiParameter("query", str, description='Query extension (JSON): {"eo:cloud_cover": {"lt": 10}}.'),
    OpenApiParameter("q", str, description='Free text over title, description and keywords: words, "phrases", OR.'),
]
SEARCH_PARAMETERS = [
    OpenApiParameter("bbox", str, description="minx,miny,maxx,maxy (WGS 84); 6 numbers with heights."),
    OpenApiParameter("datetime", str, description="RFC 3339 instant or interval a/b; '..' leaves an end open."),
    OpenApiParameter("limit", int, description=f"Page size, 1..{stac_search.MAX_LIMIT} (larger is clamped)."),
    OpenApiParameter("token", str, description="Paging token from a next/prev link."),
    *EXTENSION_PARAMETERS,
]
_DOC = OpenApiResponse(OpenApiTypes.OBJECT, description="STAC JSON document.")
# Items and item pages are GeoJSON: documented as application/geo+json, the type they are sent with.
_GEODOC = {(200, GEOJSON): OpenApiResponse(OpenApiTypes.OBJECT, description="STAC Item or ItemCollection (GeoJSON).")}
_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description='Invalid parameter: {"code", "description"}.'),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description='Not found: {"code", "description"}.'),
}
# The transactions extension: bodies are STAC documents; 409 when the id exists or the
# collection is published by the platform's pipelines (change those through its jobs).
_TXN_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Not a valid STAC document."),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="No token."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description=f"The account lacks {MANAGE_PERMISSION}."),
    404: _ERRORS[404],
    409: OpenApiResponse(OpenApiTypes.OBJECT, description="Exists already, or published by the platform."),
}
_NO_CONTENT = {204: OpenApiResponse(description="Done.")}


def _body(request: Request) -> Any:
    """The JSON body (DRF parses it: malformed JSON is a 400 from the parser). A form body
    (urlencoded, multipart) is refused: a STAC document has nested objects."""
    if isinstance(request.data, QueryDict):
        raise InvalidStacDocument("Send the STAC document as JSON (Content-Type: application/json).")
    return request.data


def _created(body: str, location: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, status=201, content_type=content_type)
    response["Location"] = location
    return response


def _no_content() -> HttpResponse:
    response = HttpResponse(status=204)
    del response["Content-Type"]  # no body, no type (clients check it is absent)
    return response


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
            {"rel": QUERYABLES_REL, "type": SCHEMA_JSON, "href": f"{base}queryables"},
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


COLLECTION_SEARCH_PARAMETERS = [
    OpenApiParameter("bbox", str, description="Collections whose spatial extent meets minx,miny,maxx,maxy."),
    OpenApiParameter("datetime", str, description="Collections whose temporal extent meets this instant/interval."),
    OpenApiParameter("q", str, description="Free text over title, description and keywords."),
    OpenApiParameter("filter", str, description="CQL2 filter on the collection's fields."),
    OpenApiParameter("filter-lang", str, enum=list(stac_search.FILTER_LANGS)),
    OpenApiParameter("sortby", str, description="Comma-separated fields, '-' for descending (default: id)."),
    OpenApiParameter("fields", str, description="Fields to include/exclude: id,title,-links."),
    OpenApiParameter(
        "limit",
        int,
        description=f"Page size, 1..{stac_search.MAX_COLLECTION_LIMIT}, default {stac_search.DEFAULT_COLLECTION_LIMIT}"
        " (without any parameter: every collection).",
    ),
    OpenApiParameter("offset", int, description="Collections to skip (from a next/prev link)."),
]


def _offset_links(url: str, request: Request, limit: int, offset: int, matched: int) -> list[dict[str, Any]]:
    """next/prev links of a collection search page: the request's query string, another offset."""
    pages = {"prev": max(offset - limit, 0) if offset > 0 else None}
    pages["next"] = offset + limit if offset + limit < matched else None
    links = []
    for rel, value in pages.items():
        if value is not None:
            query = request.query_params.copy()
            query["offset"] = str(value)
            links.append({"rel": rel, "type": JSON, "href": f"{url}?{query.urlencode()}", "method": "GET"})
    return links


class StacCollectionListApi(StacApi):
    @extend_schema(
        operation_id="stac_collections",
        tags=["stac"],
        parameters=COLLECTION_SEARCH_PARAMETERS,
        responses={200: _DOC, 400: _ERRORS[400]},
    )
    def get(self, request: Request) -> HttpResponse:
        base = _base(request)
        url = f"{base}collections"
        links: list[dict[str, Any]] = [
            {"rel": "self", "type": JSON, "href": request.build_absolute_uri()},
            {"rel": "root", "type": JSON, "href": base},
            {"rel": "parent", "type": JSON, "href": base},
        ]
        params = {k: request.query_params.get(k) for k in stac_search.COLLECTION_SEARCH_FIELDS}
        if not any(v not in (None, "") for v in params.values()):
            # No search: every collection, in one document (what plain STAC clients expect).
            collections = selectors.collections_document_get(base=base)
            return _json(f'{{"collections": {collections}, "links": {json.dumps(links)}}}')
        search = stac_search.build_collection_search(params)
        collections, matched, returned = selectors.collection_search_page(search=search, base=base)
        links += _offset_links(url, request, search["limit"], search["offset"], matched)
        return _json(
            f'{{"collections": {collections}, "numberMatched": {matched}, '
            f'"numberReturned": {returned}, "links": {json.dumps(links)}}}'
        )

    @extend_schema(
        operation_id="stac_collection_create",
        tags=["stac"],
        request=OpenApiTypes.OBJECT,
        responses={201: _DOC, **_TXN_ERRORS},
    )
    def post(self, request: Request) -> HttpResponse:
        doc = services.stac_collection_create(collection=_body(request), user=request.user)
        base = _base(request)
        body = selectors.collection_document_get(collection_id=doc["id"], base=base)
        return _created(body or json.dumps(doc), f"{base}collections/{doc['id']}", JSON)


def _queryables(request: Request, collection_id: str | None) -> HttpResponse:
    schema = selectors.queryables_get(collection_id=collection_id)
    if schema is None:
        raise CollectionNotFound(f"No collection {collection_id!r}; see /api/stac/collections.")
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["$id"] = request.build_absolute_uri(request.path)
    schema["title"] = f"Queryables of {collection_id}" if collection_id else "Queryables of every collection"
    return _json(json.dumps(schema), SCHEMA_JSON)


_QUERYABLES_DOC = {(200, SCHEMA_JSON): OpenApiResponse(OpenApiTypes.OBJECT, description="JSON Schema.")}


class StacQueryablesApi(StacApi):
    """The filter extension's queryables: a JSON Schema of the properties a filter may name
    (pgSTAC's queryables; with additionalProperties true, other item properties too)."""

    @extend_schema(operation_id="stac_queryables", tags=["stac"], responses=_QUERYABLES_DOC)
    def get(self, request: Request) -> HttpResponse:
        return _queryables(request, None)


class StacCollectionQueryablesApi(StacApi):
    @extend_schema(
        operation_id="stac_collection_queryables", tags=["stac"], responses={**_QUERYABLES_DOC, 404: _ERRORS[404]}
    )
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        return _queryables(request, collection_id)


class StacCollectionApi(StacApi):
    @extend_schema(operation_id="stac_collection", tags=["stac"], responses={200: _DOC, 404: _ERRORS[404]})
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        body = selectors.collection_document_get(collection_id=collection_id, base=_base(request))
        if body is None:
            raise CollectionNotFound(f"No collection {collection_id!r}; see /api/stac/collections.")
        return _json(body)

    @extend_schema(
        operation_id="stac_collection_replace",
        tags=["stac"],
        request=OpenApiTypes.OBJECT,
        responses={**_NO_CONTENT, **_TXN_ERRORS},
    )
    def put(self, request: Request, collection_id: str) -> HttpResponse:
        services.stac_collection_replace(collection_id=collection_id, collection=_body(request), user=request.user)
        return _no_content()

    @extend_schema(
        operation_id="stac_collection_update",
        tags=["stac"],
        request=OpenApiTypes.OBJECT,
        responses={**_NO_CONTENT, **_TXN_ERRORS},
        description="A JSON merge patch (RFC 7396) of the collection.",
    )
    def patch(self, request: Request, collection_id: str) -> HttpResponse:
        services.stac_collection_update(collection_id=collection_id, patch=_body(request), user=request.user)
        return _no_content()

    @extend_schema(operation_id="stac_collection_delete", tags=["stac"], responses={**_NO_CONTENT, **_TXN_ERRORS})
    def delete(self, request: Request, collection_id: str) -> HttpResponse:
        services.stac_collection_delete(collection_id=collection_id, user=request.user)
        return _no_content()


class StacItemListApi(StacApi):
    @extend_schema(
        operation_id="stac_collection_items",
        tags=["stac"],
        parameters=SEARCH_PARAMETERS,
        responses={**_GEODOC, **_ERRORS},
    )
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        names = ("bbox", "datetime", "limit", "token", *stac_search.EXTENSION_FIELDS)
        params = {k: request.query_params.get(k) for k in names}
        search = stac_search.build_search(params, collection_id=collection_id)
        if not selectors.collection_exists(collection_id=collection_id):
            raise CollectionNotFound(f"No collection {collection_id!r}; see /api/stac/collections.")
        base = _base(request)
        body, next_token, prev_token = selectors.search_page(search=search, base=base)
        url = f"{base}collections/{collection_id}/items"
        links = [
            {"rel": "self", "type": GEOJSON, "href": request.build_absolute_uri()},
            {"rel": "root", "type": JSON, "href": base},
            {"rel": "collection", "type": JSON, "href": f"{base}collections/{collection_id}"},
            *_page_links(url, request, search, {"next": next_token, "prev": prev_token}, post=False),
        ]
        return _json(_with_links(body, links), GEOJSON)

    @extend_schema(
        operation_id="stac_item_create",
        tags=["stac"],
        request=OpenApiTypes.OBJECT,
        responses={(201, GEOJSON): _GEODOC[(200, GEOJSON)], **_TXN_ERRORS},
        description="Create one Item, or every Item of a FeatureCollection (all or none).",
    )
    def post(self, request: Request, collection_id: str) -> HttpResponse:
        docs = services.stac_items_create(collection_id=collection_id, body=_body(request), user=request.user)
        base = _base(request)
        url = f"{base}collections/{collection_id}/items"
        if len(docs) == 1:
            body = selectors.item_document_get(collection_id=collection_id, item_id=docs[0]["id"], base=base)
            return _created(body or json.dumps(docs[0]), f"{url}/{docs[0]['id']}", GEOJSON)
        created = {"type": "FeatureCollection", "features": docs, "numberReturned": len(docs)}
        return _created(json.dumps(created), url, GEOJSON)


class StacItemApi(StacApi):
    @extend_schema(operation_id="stac_item", tags=["stac"], responses={**_GEODOC, 404: _ERRORS[404]})
    def get(self, request: Request, collection_id: str, item_id: str) -> HttpResponse:
        body = selectors.item_document_get(collection_id=collection_id, item_id=item_id, base=_base(request))
        if body is None:
            if not selectors.collection_exists(collection_id=collection_id):
                raise CollectionNotFound(f"No collection {collection_id!r}; see /api/stac/collections.")
            raise ItemNotFound(f"No item {item_id!r} in collection {collection_id!r}.")
        return _json(body, GEOJSON)

    @extend_schema(
        operation_id="stac_item_replace",
        tags=["stac"],
        request=OpenApiTypes.OBJECT,
        responses={**_NO_CONTENT, **_TXN_ERRORS},
    )
    def put(self, request: Request, collection_id: str, item_id: str) -> HttpResponse:
        services.stac_item_replace(collection_id=collection_id, item_id=item_id, item=_body(request), user=request.user)
        return _no_content()

    @extend_schema(
        operation_id="stac_item_update",
        tags=["stac"],
        request=OpenApiTypes.OBJECT,
        responses={**_NO_CONTENT, **_TXN_ERRORS},
        description="A JSON merge patch (RFC 7396) of the item.",
    )
    def patch(self, request: Request, collection_id: str, item_id: str) -> HttpResponse:
        services.stac_item_update(collection_id=collection_id, item_id=item_id, patch=_body(request), user=request.user)
        return _no_content()

    @extend_schema(
        operation_id="stac_item_delete",
        tags=["stac"],
        responses={**_NO_CONTENT, **_TXN_ERRORS},
        description="Idempotent: deleting an item that is not there is 204 too.",
    )
    def delete(self, request: Request, collection_id: str, item_id: str) -> HttpResponse:
        services.stac_item_delete(collection_id=collection_id, item_id=item_id, user=request.user)
        return _no_content()


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
            *_page_links(f"{base}search", request, search, {"next": next_token, "prev": prev_token}, post=post),
        ]
        return _json(_with_links(body, links), GEOJSON)
