"""The H3 API (``/api/h3/``), OGC API DGGS with H3 as a custom DGGRS (``/api/dggs/``) and the
hexagon map page.

``/api/h3/`` are DRF views (documented in the OpenAPI schema, errors as the platform's JSON body);
cell pages are streamed: PostgreSQL writes each row's JSON (or the CSV), geometries are derived
from the ids one chunk at a time (:mod:`h3grid.cellids`). ``/api/dggs/`` are plain Django views
with OGC exception bodies, behind the same DRF access check (``GEOPLATFORM_PUBLIC_READ``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import h3.api.basic_int as h3i
import pyarrow as pa
import pyarrow.parquet as pq
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views import View
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from geoplatform.access import OgcReadView, plain_view_access
from geoplatform.api import error_responses
from geoplatform.errors import InvalidInput

from . import cellids, dggs, selectors
from .models import StatDataset

FORMATS = {
    "json": "application/json",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
_CELLS_PARAMS = {"res", "iso3", "bbox", "stat", "limit", "f", "after", "parent", "format"}


class _AnyFormat(BaseContentNegotiation):
    """The cells route picks its format from ``f``; DRF's renderer only writes error bodies (its
    default would answer ``Accept: text/csv`` with 406)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


def dataset_doc(ds: StatDataset, request: HttpRequest) -> dict[str, Any]:
    base = request.build_absolute_uri(reverse("h3grid:stats", args=[ds.pk]))
    return {
        "id": ds.pk,
        "slug": ds.slug,
        "title": ds.title or ds.slug,
        "source_kind": ds.source_kind,
        "source_ref": ds.source_ref,
        "resolutions": selectors.dataset_resolutions(ds),
        "stats": ds.columns,
        "units": ds.units,
        "storage": ds.storage,
        "computed_at": ds.computed_at.isoformat() if ds.computed_at else None,
        "provenance": ds.provenance,
        "links": [
            {"rel": "self", "href": base, "type": "application/json"},
            {"rel": "items", "href": base + "/cells", "type": "application/json"},
            {"rel": "alternate", "href": base + "/cells?f=geojson", "type": "application/geo+json"},
        ],
    }


class H3RegistryApi(APIView):
    @extend_schema(
        operation_id="h3_registry",
        summary="Every H3 statistics dataset",
        description="The stat registry: source, resolutions, statistics (columns), units, provenance.",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        datasets = [dataset_doc(ds, request) for ds in selectors.dataset_list()]
        return Response({"datasets": datasets, "pyramid": [cellids.PYRAMID_MIN, cellids.PYRAMID_MAX]})


class H3StatsSummaryApi(APIView):
    @extend_schema(
        operation_id="h3_stats_summary",
        summary="One dataset's summary per resolution",
        description="Cells with values and each statistic's min, max and mean, per resolution. "
        "The dataset is named by its id or its slug.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(404)},
    )
    def get(self, request: Request, dataset_id: str) -> Response:
        ds = selectors.dataset_get(dataset_id=dataset_id)
        return Response({**dataset_doc(ds, request), "summary": selectors.dataset_summary(ds)})


_CELLS_DOC = [
    OpenApiParameter("res", int, description="H3 resolution (default: the dataset's coarsest); 400 outside the pyramid or the dataset's resolutions."),
    OpenApiParameter("iso3", str, description="Only cells touching this country (ISO 3166-1 alpha-3); adds its share of each cell."),
    OpenApiParameter("bbox", str, description="minLon,minLat,maxLon,maxLat (WGS84): cells overlapping it."),
    OpenApiParameter("parent", str, description="Only descendants of this coarser cell."),
    OpenApiParameter("stat", str, description="Statistics to return, comma separated (default: all)."),
    OpenApiParameter("limit", int, description=f"Cells per page, 1 to {selectors.MAX_LIMIT} (default {selectors.DEFAULT_LIMIT})."),
    OpenApiParameter("after", str, description="Keyset paging: cells after this one (the next link sets it)."),
    OpenApiParameter("f", str, enum=list(FORMATS), description="Output format (default json)."),
]  # fmt: skip


class H3StatsCellsApi(APIView):
    content_negotiation_class = _AnyFormat

    @extend_schema(
        operation_id="h3_stats_cells",
        summary="One dataset's cells, paged and streamed",
        description="Cells of one resolution with their statistics, ordered by cell id; the `next` link "
        "(in the body for json/geojson, in the Link header for all formats) gives the following page. "
        "GeoJSON polygons are derived from the cell ids.",
        parameters=_CELLS_DOC,
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/geo+json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
            **error_responses(400, 404),
        },
    )
    def get(self, request: Request, dataset_id: str) -> HttpResponseBase:
        params = request.query_params
        unknown = sorted(set(params) - _CELLS_PARAMS)
        if unknown:
            raise InvalidInput(
                f"Unknown query parameter {', '.join(unknown)}; use {', '.join(sorted(_CELLS_PARAMS - {'format'}))}."
            )
        fmt = params.get("f") or params.get("format") or "json"
        if fmt not in FORMATS:
            raise InvalidInput(f"f={fmt!r}: use one of {', '.join(FORMATS)}.")
        ds = selectors.dataset_get(dataset_id=dataset_id)
        q = selectors.cell_query(
            ds=ds,
            res=cellids.parse_int(params.get("res"), name="res", lo=0, hi=15),
            stat=params.get("stat"),
            limit=cellids.parse_int(params.get("limit"), name="limit", lo=1, hi=selectors.MAX_LIMIT),
            iso3=params.get("iso3") or None,
            bbox=cellids.parse_bbox(params.get("bbox")),
            after=cellids.parse_cell(params["after"], what="after") if params.get("after") else None,
            parent=cellids.parse_cell(params["parent"], what="parent") if params.get("parent") else None,
        )
        next_url = lambda after: _with_query(request, after=cellids.to_hex(after), f=fmt)  # noqa: E731
        if fmt in ("json", "geojson"):
            key = selectors.page_cache_key(ds, request.build_absolute_uri())
            cached = selectors.page_cached(key)
            if cached is not None:
                return HttpResponse(cached, content_type=FORMATS[fmt])
            body = _cached_stream(key, _json_stream(q, fmt, next_url))
            response: HttpResponseBase = StreamingHttpResponse(body, content_type=FORMATS[fmt])
        else:
            after = selectors.next_after(q)
            stream = selectors.cells_csv(q) if fmt == "csv" else _parquet_stream(q)
            response = StreamingHttpResponse(stream, content_type=FORMATS[fmt])
            name = f"{ds.slug}-res{q.res}.{fmt}"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            if after is not None:
                response["Link"] = f'<{next_url(after)}>; rel="next"'
        return response


def _cached_stream(key: str, chunks: Iterator[str]) -> Iterator[bytes]:
    """The page's chunks as they are written, kept whole in the page cache once complete."""
    written: list[bytes] = []
    for chunk in chunks:
        data = chunk.encode()
        written.append(data)
        yield data
    selectors.page_store(key, b"".join(written))


def _with_query(request: HttpRequest, **changes: str) -> str:
    query = {k: v for k, v in request.GET.items() if k not in changes}
    query.update(changes)
    return request.build_absolute_uri(request.path) + "?" + urlencode(query)


def _json_stream(q: selectors.CellQuery, fmt: str, next_url: Any) -> Iterator[str]:
    """The page as JSON or GeoJSON text, a chunk of rows at a time; the closing part carries
    numberReturned and the next link (known once the extra row was read)."""
    geo = fmt == "geojson"
    head = {"dataset": q.ds.slug, "res": q.res, "stats": q.stats}
    if geo:
        yield '{"type":"FeatureCollection",' + json.dumps(head)[1:-1] + ',"features":['
    else:
        yield json.dumps(head)[:-1] + ',"cells":['
    sent, last = 0, None
    more = False
    for chunk in selectors.cells_json_rows(q):
        if sent + len(chunk) > q.limit:
            chunk = chunk[: q.limit - sent]
            more = True
        if not chunk:
            break
        texts = [row[1] for row in chunk]
        if geo:
            hexes = [cellids.to_hex(row[0]) for row in chunk]
            shapes = cellids.boundaries_geojson(hexes)
            texts = [
                f'{{"type":"Feature","id":"{h}","geometry":{g},"properties":{p}}}'
                for h, g, p in zip(hexes, shapes, texts, strict=True)
            ]
        yield ("," if sent else "") + ",".join(texts)
        sent += len(chunk)
        last = chunk[-1][0]
    links = [{"rel": "next", "href": next_url(last), "type": FORMATS[fmt]}] if more and last is not None else []
    yield f'],"numberReturned":{sent},"links":{json.dumps(links)}}}'


def _parquet_stream(q: selectors.CellQuery) -> Iterator[bytes]:
    """Parquet written a row group per chunk into a buffer that is drained after each write."""
    sink = io.BytesIO()
    writer: pq.ParquetWriter | None = None
    fields = [pa.field("cell", pa.int64()), pa.field("res", pa.int16())]
    if q.iso3:
        fields += [pa.field("iso3", pa.string()), pa.field("share", pa.float32())]
    fields += [pa.field(n, pa.float64()) for n in q.stats]
    schema = pa.schema(fields)
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    for columns in selectors.cells_arrow_batches(q):
        writer.write_table(pa.table(columns, schema=schema))
        yield _drain(sink)
    writer.close()
    yield _drain(sink)


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data


class H3CellApi(APIView):
    @extend_schema(
        operation_id="h3_cell",
        summary="One cell: every dataset's values, its parent and children",
        description="The cell as hex (as h3 writes it) or as its 64-bit integer.",
        parameters=[
            OpenApiParameter(
                "cell",
                str,
                OpenApiParameter.PATH,
                pattern=r"^([0-9a-fA-F]{15,16}|[0-9]{17,19})$",
                description="An H3 cell of resolution 2 to 7, e.g. 85283473fffffff or 599686042433355775.",
            )
        ],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400)},
    )
    def get(self, request: Request, cell: str) -> Response:
        value = cellids.parse_cell(cell)
        cellids.check_pyramid_res(h3i.get_resolution(value), what="the cell's resolution")
        detail = selectors.cell_detail(cell=value)
        return Response(dggs.cell_doc(value, detail, request))


class H3MapPage(View):
    """The interactive hexagon map (MapLibre over the platform's basemap)."""

    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest) -> HttpResponseBase:
        try:
            plain_view_access(request)
        except drf_exceptions.APIException as exc:
            return JsonResponse({"detail": str(exc.detail)}, status=exc.status_code)
        config = {
            "registry": reverse("h3grid:registry"),
            "dataset": request.GET.get("dataset", ""),
            "stat": request.GET.get("stat", ""),
        }
        return render(request, "h3grid/map.html", {"config": config, "registry_url": config["registry"]})


# OGC API DGGS ------------------------------------------------------------------------------------


class DggsView(OgcReadView):
    """Base of the DGGS views (access check, OGC exception bodies, CORS: OgcReadView); JSON only."""

    def check(self, request: HttpRequest) -> None:
        f = request.GET.get("f", "json")
        if f not in ("json", "application/json"):
            raise InvalidInput(f"f={f!r}: this API answers JSON only (f=json).")

    def base(self, request: HttpRequest) -> str:
        return request.build_absolute_uri(reverse("dggs:landing")).rstrip("/")


class DggsLandingApi(DggsView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.json(dggs.landing(self.base(request)))


class DggsConformanceApi(DggsView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.json({"conformsTo": dggs.CONFORMANCE})


class DggsCollectionsApi(DggsView):
    def get(self, request: HttpRequest) -> HttpResponse:
        base = self.base(request)
        return self.json(
            {
                "collections": [dggs.collection(base, ds) for ds in selectors.dataset_list()],
                "links": dggs.self_link(base + "/collections"),
            }
        )


class DggsCollectionApi(DggsView):
    def get(self, request: HttpRequest, collection_id: str) -> HttpResponse:
        return self.json(dggs.collection(self.base(request), selectors.dataset_get(dataset_id=collection_id)))


class DggsListApi(DggsView):
    def get(self, request: HttpRequest, collection_id: str | None = None) -> HttpResponse:
        prefix = self._prefix(request, collection_id)
        return self.json({"dggrs": [dggs.dggrs_summary(prefix)], "links": dggs.self_link(prefix + "/dggs")})

    def _prefix(self, request: HttpRequest, collection_id: str | None) -> str:
        if collection_id is None:
            return self.base(request)
        ds = selectors.dataset_get(dataset_id=collection_id)
        return f"{self.base(request)}/collections/{ds.slug}"


class DggsDescriptionApi(DggsListApi):
    def get(self, request: HttpRequest, dggrs_id: str, collection_id: str | None = None) -> HttpResponse:  # type: ignore[override]
        dggs.check_dggrs(dggrs_id)
        ds = selectors.dataset_get(dataset_id=collection_id) if collection_id else None
        return self.json(dggs.dggrs_description(self._prefix(request, collection_id), ds))


class DggsZonesApi(DggsListApi):
    def get(self, request: HttpRequest, dggrs_id: str, collection_id: str | None = None) -> HttpResponse:  # type: ignore[override]
        dggs.check_dggrs(dggrs_id)
        ds = selectors.dataset_get(dataset_id=collection_id) if collection_id else None
        prefix = self._prefix(request, collection_id)
        return self.json(dggs.zones(prefix, ds, request.GET, request.build_absolute_uri(request.path)))


class DggsZoneApi(DggsListApi):
    def get(self, request: HttpRequest, dggrs_id: str, zone_id: str, collection_id: str | None = None) -> HttpResponse:  # type: ignore[override]
        dggs.check_dggrs(dggrs_id)
        ds = selectors.dataset_get(dataset_id=collection_id) if collection_id else None
        return self.json(dggs.zone_info(self._prefix(request, collection_id), ds, dggs.zone_cell(zone_id)))


class DggsZoneDataApi(DggsListApi):
    def get(self, request: HttpRequest, dggrs_id: str, zone_id: str, collection_id: str) -> HttpResponse:  # type: ignore[override]
        dggs.check_dggrs(dggrs_id)
        ds = selectors.dataset_get(dataset_id=collection_id)
        prefix = self._prefix(request, collection_id)
        return self.json(dggs.zone_data(prefix, ds, dggs.zone_cell(zone_id), request.GET))
