"""OGC API Tiles (vector) over HTTP: thin views around :mod:`features.tiles`.

Tiles answer 200 with an MVT, or 204 (no content) when nothing of the collection is in the tile;
both carry an ETag (the collection's data version) and Cache-Control (``private`` for reviewers
previewing a collection awaiting review). ``X-Features-Limit`` is the per-tile cap;
``X-Features-Dropped`` says how many features beyond it were left out (``X-Features-Dropped-Type``:
``exact`` or ``estimate``; ``unknown`` when only "some" is known).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase

from . import conf, selectors, tiles
from .api import OgcApi
from .errors import InvalidQuery

_EXPOSE = "ETag, Link, OGC-NumberMatched-Type, X-Features-Limit, X-Features-Dropped, X-Features-Dropped-Type"


class _TilesApi(OgcApi):
    def finalize_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response = super().finalize_response(request, response)
        response["Access-Control-Expose-Headers"] = _EXPOSE
        return response

    @staticmethod
    def json_format(request: HttpRequest, *allowed: str) -> str:
        """``f``: json unless one of ``allowed`` is asked for (HTML is not offered here)."""
        f = request.GET.get("f") or "json"
        if f in ("json", "application/json"):
            return "json"
        if f in allowed:
            return f
        raise InvalidQuery(f"Unknown format f={f!r}; use f={' or f='.join(('json', *allowed))}.")


class TileMatrixSetListApi(_TilesApi):
    def get(self, request: HttpRequest) -> HttpResponse:
        self.json_format(request)
        return self.json(tiles.tms_list_document(self.url_maker(request)))


class TileMatrixSetApi(_TilesApi):
    def get(self, request: HttpRequest, tms: str) -> HttpResponse:
        self.json_format(request)
        return self.json(tiles.tms_document(tms))


class TileSetListApi(_TilesApi):
    def get(self, request: HttpRequest, collection_id: str) -> HttpResponse:
        self.json_format(request)
        dataset = selectors.dataset_get(collection_id=collection_id, include_unpublished=self.preview(request))
        doc = tiles.tilesets_document(dataset, self.url_maker(request))
        return self.conditional(request, self.etag(request, dataset.updated_at.isoformat()), lambda: self.json(doc))


class TileSetApi(_TilesApi):
    def get(self, request: HttpRequest, collection_id: str, tms: str) -> HttpResponse:
        tms_id = tms
        fmt = self.json_format(request, "tilejson")
        dataset = selectors.dataset_get(collection_id=collection_id, include_unpublished=self.preview(request))
        url = self.url_maker(request)
        if fmt == "tilejson":
            passed = urlencode([(k, v) for k, v in request.GET.items() if k in tiles.TILE_PARAMS and k != "f"])
            doc = tiles.tilejson_document(dataset, tms_id, url, passed)
        else:
            doc = tiles.tileset_document(dataset, tms_id, url)
        return self.conditional(request, self.etag(request, dataset.updated_at.isoformat()), lambda: self.json(doc))


class TileApi(_TilesApi):
    def get(self, request: HttpRequest, collection_id: str, tms: str, z: str, x: str, y: str) -> HttpResponseBase:
        tms_id = tms
        spec = tiles.tile_spec(tms_id, z, x, y)
        preview = self.preview(request)
        cache = tiles.tile_cache()
        version = key = None
        if cache is not None or request.META.get("HTTP_IF_NONE_MATCH"):
            # One small query: 304 or a cached tile without making the tile.
            version = selectors.dataset_version(collection_id=collection_id, include_unpublished=preview)
            etag = self.etag(request, collection_id, version)
            if request.META.get("HTTP_IF_NONE_MATCH") == etag:
                return self._cached(request, HttpResponseNotModified(), etag, preview)
        params = request.GET.dict()
        rows = None
        if cache is not None:
            key = (collection_id, version, tms_id, spec.z, spec.x, spec.y, tuple(sorted(params.items())))
            rows = cache.get(key)
        if rows is None:
            result = selectors.tile_get(
                collection_id=collection_id,
                include_unpublished=preview,
                build=lambda dataset: tiles.build_query(dataset, params, spec),
            )
            rows, version = result.rows, result.version
            if cache is not None and key is not None and key[1] == version:
                cache.put(key, rows)
        response = HttpResponse(rows.data, content_type=tiles.MVT) if rows.data else HttpResponse(status=204)
        response["X-Features-Limit"] = str(rows.cap)
        if rows.dropped is None:
            response["X-Features-Dropped"] = response["X-Features-Dropped-Type"] = "unknown"
        else:
            response["X-Features-Dropped"] = str(rows.dropped)
            response["X-Features-Dropped-Type"] = "exact" if rows.dropped_exact else "estimate"
        return self._cached(request, response, self.etag(request, collection_id, version), preview)

    @staticmethod
    def _cached(request: HttpRequest, response: Any, etag: str, preview: bool) -> Any:
        response["ETag"] = etag
        response["Cache-Control"] = f"{'private' if preview else 'public'}, max-age={conf.cache_seconds()}"
        return response
