"""Check our OGC API Features with QGIS's own OAPIF provider (the desktop client), headless.

Run with the SYSTEM Python that has QGIS (Debian: apt-get install python3-qgis qgis-providers),
not the project's venv:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/check_qgis.py http://127.0.0.1:8000/api/features

Reference data is read with plain urllib (GeoJSON is always lon/lat); QGIS's answers are compared
with it. Every HTTP request QGIS sends is logged (through QGIS's network manager) and printed at
the end, with any 4xx/5xx. Exit status 1 when a check fails. Self-contained: standard library +
QGIS only; QGIS settings and caches go to a temporary profile that is removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import urllib.request
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # after QT_QPA_PLATFORM: Qt reads it when it loads
    Qgis,
    QgsApplication,
    QgsFeatureRequest,
    QgsGeometry,
    QgsJsonUtils,
    QgsNetworkAccessManager,
    QgsNetworkReplyContent,
    QgsNetworkRequestParameters,
    QgsProviderRegistry,
    QgsRectangle,
    QgsSettings,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication, QSettings, QVariant, qInstallMessageHandler
from qgis.PyQt.QtNetwork import QNetworkRequest

GEOJSON_ACCEPT = "application/geo+json, application/json"
INTEGER_TYPES = {QVariant.Int, QVariant.LongLong, QVariant.UInt, QVariant.ULongLong}
MAX_FULL_DOWNLOAD = 5000  # bigger collections skip the download-everything checks


class Report:
    def __init__(self) -> None:
        self.failed = 0
        self.passed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.passed += ok
        self.failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  -- {detail}" if detail else ""), flush=True)
        return ok

    @staticmethod
    def info(text: str) -> None:
        print(f"      {text}", flush=True)


class NetworkLog:
    """Every request QGIS's network manager sends (from any thread), with its HTTP status."""

    def __init__(self) -> None:
        self.urls: dict[int, str] = {}
        self.status: dict[int, int] = {}
        self.errors: dict[int, str] = {}
        self.order: list[int] = []
        nam = QgsNetworkAccessManager.instance()
        nam.requestAboutToBeCreated[QgsNetworkRequestParameters].connect(self._created)
        nam.finished[QgsNetworkReplyContent].connect(self._finished)

    def _created(self, params: Any) -> None:
        self.urls[params.requestId()] = params.request().url().toString()
        self.order.append(params.requestId())

    def _finished(self, reply: Any) -> None:
        code = reply.attribute(QNetworkRequest.HttpStatusCodeAttribute)
        self.status[reply.requestId()] = int(code) if code is not None else 0
        if reply.error():
            self.errors[reply.requestId()] = reply.errorString()

    def mark(self) -> int:
        QCoreApplication.processEvents()
        return len(self.order)

    def since(self, start: int) -> list[tuple[str, int]]:
        QCoreApplication.processEvents()
        return [(self.urls[i], self.status.get(i, 0)) for i in self.order[start:]]


def http_json(url: str, accept: str = "application/json") -> Any:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    req = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 (http(s) checked above)
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
        return json.load(resp)


def all_items(base: str, cid: str) -> list[dict[str, Any]]:
    """Every feature of a collection, following ``next`` links (the reference, read without QGIS)."""
    url: str | None = f"{base}/collections/{cid}/items?limit=1000"
    out: list[dict[str, Any]] = []
    while url:
        page = http_json(url, GEOJSON_ACCEPT)
        out.extend(page["features"])
        url = next((link["href"] for link in page.get("links", []) if link.get("rel") == "next"), None)
    return out


def first_position(coords: Any) -> tuple[float, float]:
    while isinstance(coords[0], list):
        coords = coords[0]
    return float(coords[0]), float(coords[1])


def ref_key(feature: dict[str, Any]) -> tuple[float, float]:
    x, y = first_position(feature["geometry"]["coordinates"])
    return round(x, 6), round(y, 6)


def qgis_key(geometry: QgsGeometry) -> tuple[float, float]:
    p = geometry.vertexAt(0)
    return round(p.x(), 6), round(p.y(), 6)


def norm(value: Any) -> Any:
    """Attribute values as comparable Python values (QDateTime -> aware datetime, numbers -> float)."""
    if value is None or (hasattr(value, "isNull") and value.isNull()):
        return None
    if hasattr(value, "toPyDateTime"):
        return value.toUTC().toPyDateTime().replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            if "T" in value:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return round(float(value), 6)
    return value


def open_layer(uri: str, name: str) -> QgsVectorLayer:
    return QgsVectorLayer(uri, name, "OAPIF")


def layer_uri(base: str, cid: str, **extra: str) -> str:
    parts = [f"url='{base}/'", f"typename='{cid}'"] + [f"{k}='{v}'" for k, v in extra.items()]
    return " ".join(parts)


def list_collections_like_the_browser(base: str) -> list[tuple[str, str]]:
    """What QGIS's Browser / Data Source Manager lists for a saved 'WFS / OGC API - Features' connection."""
    QgsSettings().setValue("qgis/connections-wfs/geoplatform-check/url", f"{base}/")
    md = QgsProviderRegistry.instance().providerMetadata("WFS")
    found: list[tuple[str, str]] = []
    for provider in md.dataItemProviders():
        root = provider.createDataItem("", None)
        for connection in root.createChildren() if root else []:
            if connection.name() != "geoplatform-check":
                continue
            for child in connection.createChildren():
                if hasattr(child, "uri"):
                    found.append((child.name(), child.uri()))
    QgsSettings().remove("qgis/connections-wfs/geoplatform-check")
    return found


def check_fields(report: Report, cid: str, layer: QgsVectorLayer, properties: dict[str, Any]) -> None:
    names = [f.name() for f in layer.fields()]
    if not report.check(f"{cid}: field names = collection properties", names == list(properties), f"QGIS {names}"):
        return
    bad, notes = [], []
    for field in layer.fields():
        want = properties[field.name()].get("type", "string")
        got = field.type()
        if want == "integer":
            ok = got in INTEGER_TYPES
        elif want == "number":
            ok = got == QVariant.Double or got in INTEGER_TYPES
            if got in INTEGER_TYPES:
                notes.append(
                    f"{field.name()}: number -> {field.typeName()} (QGIS 3.22 types fields from the first page's values)"
                )
        elif want == "boolean":
            ok = got == QVariant.Bool
        else:  # string; QGIS (through OGR) turns ISO 8601 strings into Date/DateTime fields
            ok = got in (QVariant.String, QVariant.DateTime, QVariant.Date, QVariant.Time)
            if got != QVariant.String:
                notes.append(f"{field.name()}: string -> {field.typeName()}")
        if not ok:
            bad.append(f"{field.name()}: {want} -> {field.typeName()}")
    report.check(f"{cid}: field types compatible with the schema", not bad, "; ".join(bad))
    for note in notes:
        report.info("note: " + note)


def check_collection(report: Report, log: NetworkLog, base: str, coll: dict[str, Any], page_size: int) -> None:
    cid = coll["id"]
    print(f"\n== {cid} ({coll.get('geometryType')}, {coll.get('featureCount')} features)", flush=True)
    layer = open_layer(layer_uri(base, cid), cid)
    if not report.check(f"{cid}: layer is valid", layer.isValid()):
        return
    count = int(coll.get("featureCount") or http_json(f"{base}/collections/{cid}/items?limit=1")["numberMatched"])
    report.check(f"{cid}: feature count", layer.featureCount() == count, f"QGIS {layer.featureCount()}, server {count}")
    check_fields(report, cid, layer, coll.get("properties") or {})

    want_type = QgsWkbTypes.parseType(coll.get("geometryType") or "")
    report.check(
        f"{cid}: geometry type",
        QgsWkbTypes.flatType(layer.wkbType()) == QgsWkbTypes.flatType(want_type),
        f"QGIS {QgsWkbTypes.displayString(layer.wkbType())}, collection {coll.get('geometryType')}",
    )
    crs = layer.crs()
    report.check(
        f"{cid}: CRS is EPSG:4326/CRS84",
        crs.authid() in ("EPSG:4326", "OGC:CRS84"),
        f"{crs.authid()} (axis inverted in the CRS definition: {crs.hasAxisInverted()}; QGIS keeps x = lon)",
    )
    bbox = coll["extent"]["spatial"]["bbox"][0]
    if count > MAX_FULL_DOWNLOAD:
        report.info(f"SKIP paging/axis/bbox checks: {count} features > {MAX_FULL_DOWNLOAD}")
        return
    reference = all_items(base, cid)

    # Paging: a small page size, all features exactly once (multiset of first vertices).
    start = log.mark()
    paged = open_layer(layer_uri(base, cid, pageSize=str(page_size)), cid)
    features = list(paged.getFeatures())
    requests = [u for u, _ in log.since(start) if "/items" in urlsplit(u).path]
    got_keys, want_keys = Counter(qgis_key(f.geometry()) for f in features), Counter(ref_key(f) for f in reference)
    pages = (count + page_size - 1) // page_size
    report.check(
        f"{cid}: paging with pageSize={page_size}: every feature exactly once",
        len(features) == count and got_keys == want_keys,
        f"{len(features)} features from {len(requests)} items requests (>= {pages} pages expected)",
    )
    # Axis order: QGIS x/y are GeoJSON lon/lat (compared per feature), inside the collection bbox.
    swapped = Counter((y, x) for x, y in want_keys.elements())
    inside = all(bbox[0] - 1e-6 <= x <= bbox[2] + 1e-6 and bbox[1] - 1e-6 <= y <= bbox[3] + 1e-6 for x, y in got_keys)
    report.check(
        f"{cid}: coordinates are lon/lat (not swapped)",
        got_keys == want_keys and inside,
        f"first feature QGIS x,y = {next(iter(got_keys), None)}"
        + ("; QGIS x/y are the GeoJSON's lat/lon: SWAPPED" if got_keys == swapped != want_keys else ""),
    )
    # Attributes: the same multiset of attribute rows as the server's GeoJSON.
    names = [f.name() for f in paged.fields()]
    got_rows = Counter(tuple(norm(f[n]) for n in names) for f in features)
    want_rows = Counter(tuple(norm(f["properties"].get(n)) for n in names) for f in reference)
    report.check(
        f"{cid}: attribute values equal the server's",
        got_rows == want_rows,
        f"{sum((got_rows - want_rows).values())} rows differ: QGIS {list(got_rows - want_rows)[:2]} server {list(want_rows - got_rows)[:2]}",
    )

    check_bbox(report, log, base, cid, bbox, reference)
    if coll.get("temporalProperty"):
        check_temporal(report, log, base, cid, coll["temporalProperty"], reference)


def check_bbox(
    report: Report, log: NetworkLog, base: str, cid: str, bbox: list[float], reference: list[dict[str, Any]]
) -> None:
    # A window in the middle of the collection's extent; "Only request features overlapping the view
    # extent" (restrictToRequestBBOX) is what makes QGIS send bbox= (the Browser sets it by default).
    w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
    rect = QgsRectangle(bbox[0] + 0.35 * w, bbox[1] + 0.35 * h, bbox[0] + 0.65 * w, bbox[1] + 0.65 * h)
    window = QgsGeometry.fromRect(rect)
    fields = QgsJsonUtils.stringToFields(json.dumps({"type": "FeatureCollection", "features": reference[:1]}))
    ref_features = QgsJsonUtils.stringToFeatureList(
        json.dumps({"type": "FeatureCollection", "features": reference}), fields
    )
    want = Counter(qgis_key(f.geometry()) for f in ref_features if f.geometry().intersects(window))
    start = log.mark()
    layer = open_layer(layer_uri(base, cid, restrictToRequestBBOX="1"), cid)
    request = QgsFeatureRequest().setFilterRect(rect).setFlags(QgsFeatureRequest.ExactIntersect)
    got = Counter(qgis_key(f.geometry()) for f in layer.getFeatures(request))
    sent = [dict(parse_qsl(urlsplit(u).query)) for u, _ in log.since(start) if "/items" in u]
    bboxes = [q["bbox"] for q in sent if "bbox" in q]
    report.check(
        f"{cid}: bbox request returns the right subset",
        got == want and bool(bboxes),
        f"rect {rect.toString(4)}: QGIS {sum(got.values())}, expected {sum(want.values())}; QGIS sent bbox={bboxes[:1]}"
        + (f" bbox-crs={sent[-1]['bbox-crs']}" if sent and "bbox-crs" in sent[-1] else ""),
    )
    if bboxes:
        numbers = [float(v) for v in bboxes[0].split(",")]
        lonlat = abs(numbers[0] - rect.xMinimum()) < 1e-6 and abs(numbers[1] - rect.yMinimum()) < 1e-6
        report.check(f"{cid}: bbox sent in lon/lat order (CRS84)", lonlat, bboxes[0])


def check_temporal(
    report: Report, log: NetworkLog, base: str, cid: str, prop: str, reference: list[dict[str, Any]]
) -> None:
    values = sorted(v for v in (norm(f["properties"].get(prop)) for f in reference) if isinstance(v, dt.datetime))
    if len(values) < 3:
        report.info(f"SKIP temporal check: fewer than 3 datetime values in {prop!r}")
        return
    lo, hi = values[len(values) // 3], values[2 * len(values) // 3]
    want = sum(1 for v in values if lo <= v <= hi)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    subset = f"\"{prop}\" >= '{lo.strftime(iso)}' AND \"{prop}\" <= '{hi.strftime(iso)}'"
    start = log.mark()
    layer = open_layer(layer_uri(base, cid), cid)
    layer.setSubsetString(subset)
    got = len(list(layer.getFeatures()))
    sent = [dict(parse_qsl(urlsplit(u).query)) for u, _ in log.since(start) if "/items" in u]
    datetimes = sorted({q["datetime"] for q in sent if "datetime" in q})
    report.check(
        f"{cid}: temporal filter ({subset})",
        got == want,
        f"QGIS {got}, expected {want}; "
        + (f"pushed down as datetime={datetimes}" if datetimes else "filtered in QGIS (no datetime= sent)"),
    )
    report.info(
        f"layer temporal properties active: {layer.temporalProperties().isActive()} "
        f"(provider temporal capabilities: {layer.dataProvider().temporalCapabilities().hasTemporalCapabilities()})"
    )


def summarize(log: NetworkLog, report: Report, base: str) -> None:
    rows = log.since(0)
    print(f"\n== {len(rows)} HTTP requests sent by QGIS (path + query parameter names, with counts)")
    shapes: Counter[str] = Counter()
    prefix = urlsplit(base).path.rstrip("/")
    for url, status in rows:
        parts = urlsplit(url)
        path = parts.path[len(prefix) :] if parts.path.startswith(prefix) else parts.path
        segments = path.split("/")
        if len(segments) > 2 and segments[1] == "collections":
            segments[2] = "{id}"
        params = ",".join(sorted({k for k, _ in parse_qsl(parts.query)}))
        shapes[f"{status} {'/'.join(segments) or '/'}" + (f"?{params}" if params else "")] += 1
    for shape, n in sorted(shapes.items()):
        print(f"  {n:5d}  {shape}")
    errors = [(i, u, s) for i, (u, s) in zip(log.order, rows, strict=True) if s >= 400 or s == 0]
    for request_id, url, status in errors[:20]:
        print(f"  error: HTTP {status or '-'} {url} {log.errors.get(request_id, '')}")
    report.check("no 4xx/5xx/failed requests seen by QGIS", not errors, f"{len(errors)} errors")


def run(base: str, only: Iterable[str], page_size: int) -> int:
    report = Report()
    log = NetworkLog()
    print(f"QGIS {Qgis.QGIS_VERSION}; server {base}\n")
    QgsNetworkAccessManager.instance().cache().clear()

    collections = http_json(f"{base}/collections")["collections"]
    ids = [c["id"] for c in collections]
    # The URL as people type it (no trailing slash): the landing page may answer with a redirect.
    start = log.mark()
    typed = open_layer(f"url='{base}' typename='{ids[0] if ids else 'none'}'", "typed")
    first = log.since(start)[:1]
    report.check(
        "open with the URL as typed (no trailing slash)",
        typed.isValid(),
        f"first request {first[0][0]} -> HTTP {first[0][1]}" if first else "no request sent",
    )

    listed = list_collections_like_the_browser(base)
    report.check(
        "collections listing (Browser / Data Source Manager connection)",
        sorted(uri.split("typename='")[1].split("'")[0] for _, uri in listed) == sorted(ids),
        f"QGIS lists {[name for name, _ in listed]}",
    )
    for name, uri in listed:
        report.info(f"{name}: {uri}")
    for coll in collections:
        if only and coll["id"] not in only:
            continue
        check_collection(report, log, base, coll, page_size)

    summarize(log, report, base)
    print(f"\n{report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


def quiet_qt(mode: Any, context: Any, message: str) -> None:
    # Headless, QGIS's download progress dialog is null: Qt warns on every download. Noise only.
    if "invalid nullptr parameter" not in message:
        print(message, file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", help="the OGC API Features landing page, e.g. http://127.0.0.1:8000/api/features")
    parser.add_argument("--collections", default="", help="comma-separated collection ids (default: all)")
    parser.add_argument("--page-size", type=int, default=10, help="QGIS pageSize for the paging check")
    args = parser.parse_args()
    profile = tempfile.mkdtemp(prefix="check-qgis-")
    # Keep QGIS's settings, caches and profile out of the user's home.
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, profile)
    os.environ.setdefault("XDG_RUNTIME_DIR", profile)
    qInstallMessageHandler(quiet_qt)
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False, profile)
    app.initQgis()
    try:
        only = [c.strip() for c in args.collections.split(",") if c.strip()]
        return run(args.base_url.rstrip("/"), only, args.page_size)
    finally:
        app.exitQgis()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
