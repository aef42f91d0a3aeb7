"""OGC API Features Part 2: the CRSs of collections, ``crs`` / ``bbox-crs`` on items and item,
``Content-Crs``, and the axis order of each CRS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pyproj import Transformer

from features import crs

pytestmark = [pytest.mark.django_db, pytest.mark.reader]

BASE = "/api/features"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@pytest.fixture
def nc(put_fixture: Any, submit_inline: Any) -> str:
    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_crs", title="North Carolina")
    assert job.status == "completed", job.error
    return "nc_crs"


def get(client: Any, path: str, params: dict[str, Any] | None = None) -> tuple[Any, Any]:
    resp = client.get(f"{BASE}/{path}", params or {})
    content = b"".join(resp.streaming_content) if getattr(resp, "streaming", False) else resp.content
    return resp, json.loads(content)


def first_point(feature: dict[str, Any]) -> list[float]:
    return list(feature["geometry"]["coordinates"][0][0][0])


def test_collections_list_their_crs(api_client: Any, nc: str) -> None:
    _, listing = get(api_client, "collections")
    assert listing["crs"][0] == crs.CRS84 and f"{EPSG}3857" in listing["crs"] and f"{EPSG}32617" in listing["crs"]
    (coll,) = [c for c in listing["collections"] if c["id"] == nc]
    assert coll["crs"] == [crs.CRS84, "#/crs"] and coll["storageCrs"] == crs.CRS84
    _, one = get(api_client, f"collections/{nc}")
    assert one["crs"] == listing["crs"] and one["storageCrs"] == crs.CRS84
    conformance = get(api_client, "conformance")[1]["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conformance


def test_items_in_each_crs_with_its_axis_order(api_client: Any, nc: str) -> None:
    resp, default = get(api_client, f"collections/{nc}/items", {"limit": 1})
    assert resp["Content-Crs"] == f"<{crs.CRS84}>"
    lon, lat = first_point(default["features"][0])
    assert -85 < lon < -75 and 33 < lat < 37

    resp, latlon = get(api_client, f"collections/{nc}/items", {"limit": 1, "crs": f"{EPSG}4326"})
    assert resp["Content-Crs"] == f"<{EPSG}4326>"
    assert first_point(latlon["features"][0]) == pytest.approx([lat, lon], abs=1e-7)

    for srid in (3857, 32617):
        resp, page = get(api_client, f"collections/{nc}/items", {"limit": 1, "crs": f"{EPSG}{srid}"})
        assert resp.status_code == 200 and resp["Content-Crs"] == f"<{EPSG}{srid}>"
        expected = Transformer.from_crs(4326, srid, always_xy=True).transform(lon, lat)
        assert first_point(page["features"][0]) == pytest.approx(list(expected), abs=0.01)
        assert page["features"][0]["properties"] == default["features"][0]["properties"]

    # a safe CURIE names the same CRS; the ETag differs per CRS
    resp2, _ = get(api_client, f"collections/{nc}/items", {"limit": 1, "crs": "[EPSG:3857]"})
    assert resp2["Content-Crs"] == f"<{EPSG}3857>" and resp2["ETag"] != resp["ETag"]


def test_one_item_in_a_crs(api_client: Any, nc: str) -> None:
    _, feature = get(api_client, f"collections/{nc}/items/1")
    resp, mercator = get(api_client, f"collections/{nc}/items/1", {"crs": f"{EPSG}3857"})
    assert resp["Content-Crs"] == f"<{EPSG}3857>"
    expected = Transformer.from_crs(4326, 3857, always_xy=True).transform(*first_point(feature))
    assert first_point(mercator) == pytest.approx(list(expected), abs=0.01)
    bad = api_client.get(f"{BASE}/collections/{nc}/items/1", {"crs": f"{EPSG}2154"})
    assert bad.status_code == 400 and "32601..32660" in bad.json()["description"]
    unknown = api_client.get(f"{BASE}/collections/{nc}/items/1", {"nope": "1"})
    assert unknown.status_code == 400


def test_bbox_crs_selects_the_same_features(api_client: Any, nc: str) -> None:
    box = [-80.0, 35.0, -78.0, 36.0]
    _, plain = get(api_client, f"collections/{nc}/items", {"bbox": ",".join(map(str, box)), "limit": 100})
    _, latlon = get(
        api_client,
        f"collections/{nc}/items",
        {"bbox": "35,-80,36,-78", "bbox-crs": f"{EPSG}4326", "limit": 100},
    )
    assert plain["numberMatched"] == latlon["numberMatched"] > 0
    to_mercator = Transformer.from_crs(4326, 3857, always_xy=True)
    minx, miny = to_mercator.transform(box[0], box[1])
    maxx, maxy = to_mercator.transform(box[2], box[3])
    _, mercator = get(
        api_client,
        f"collections/{nc}/items",
        {"bbox": f"{minx},{miny},{maxx},{maxy}", "bbox-crs": f"{EPSG}3857", "limit": 100, "crs": f"{EPSG}3857"},
    )
    assert mercator["numberMatched"] == plain["numberMatched"]
    assert {f["id"] for f in mercator["features"]} == {f["id"] for f in plain["features"]}


BAD_CRS = [
    {"crs": f"{EPSG}2154"},
    {"crs": "EPSG:99999"},
    {"crs": "nonsense"},
    {"bbox": "0,0,1,1", "bbox-crs": f"{EPSG}32800"},
    {"bbox-crs": "urn:ogc:def:crs:EPSG::4326"},
    {"bbox": "500000,4000000,400000,4100000", "bbox-crs": f"{EPSG}32617"},  # minx > maxx
]


def test_unsupported_crs_is_400_listing_what_is_supported(api_client: Any, nc: str) -> None:
    for params in BAD_CRS:
        resp = api_client.get(f"{BASE}/collections/{nc}/items", params)
        assert resp.status_code == 400, (params, resp.content)
        assert resp.json()["code"] == "InvalidParameterValue"


def test_html_items_page_ignores_crs(api_client: Any, nc: str) -> None:
    resp = api_client.get(f"{BASE}/collections/{nc}/items", {"f": "html", "crs": f"{EPSG}3857"})
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/html")


def test_crs_parsing() -> None:
    assert crs.parse(None) == crs.DEFAULT and crs.parse("[OGC:CRS84]") == crs.DEFAULT
    assert crs.parse("https://www.opengis.net/def/crs/EPSG/0/4326").lat_first
    utm = crs.parse("[EPSG:32733]")
    assert utm.srid == 32733 and not utm.lat_first and utm.decimals == 3
    assert len(crs.supported_uris()) == 1 + 2 + 120


def test_openapi_lists_crs_and_filter_parameters(api_client: Any) -> None:
    _, doc = get(api_client, "api")
    params = {
        p["name"]: p for p in doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"] if "name" in p
    }
    assert {"crs", "bbox-crs", "filter", "filter-lang", "filter-crs"} <= set(params)
    assert params["filter-lang"]["schema"]["enum"][:2] == ["cql2-text", "cql2-json"]
    item = doc["paths"]["/collections/{collectionId}/items/{featureId}"]["get"]["parameters"]
    assert any(p.get("name") == "crs" for p in item)
    assert "/collections/{collectionId}/queryables" in doc["paths"]
    from drf_spectacular.validation import validate_schema

    validate_schema(doc)
