"""OGC API Features through HTTP (Django's test client): documents, paging, filters, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import as_owner

pytestmark = [pytest.mark.django_db, pytest.mark.reader]  # reader: also run on a reader deployment

BASE = "/api/features"


@pytest.fixture
def nc(put_fixture: Any, submit_inline: Any) -> str:
    job = submit_inline(
        file_name=put_fixture("nc.gpkg"), table_name="nc", title="North Carolina", description="SIDS by county"
    )
    assert job.status == "completed", job.error
    return "nc"


def body(resp: Any) -> Any:
    content = b"".join(resp.streaming_content) if getattr(resp, "streaming", False) else resp.content
    return json.loads(content)


def test_landing_conformance_and_openapi(api_client: Any, nc: str) -> None:
    landing = api_client.get(f"{BASE}/")
    assert landing.status_code == 200 and landing["Content-Type"] == "application/json"
    rels = {link["rel"] for link in body(landing)["links"]}
    assert {"self", "alternate", "service-desc", "conformance", "data"} <= rels
    conf = body(api_client.get(f"{BASE}/conformance"))["conformsTo"]
    # features' own 4 classes; apps above it add theirs through features.hooks (styles)
    own = [c for c in conf if "/ogcapi-features-1/" in c]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf and len(own) == 4
    oas = api_client.get(f"{BASE}/api")
    assert oas["Content-Type"].startswith("application/vnd.oai.openapi+json")
    doc = body(oas)
    assert doc["openapi"] == "3.0.3"
    params = {p["name"] for p in doc["paths"]["/collections/nc/items"]["get"]["parameters"]}
    assert {"bbox", "limit", "name", "fips"} <= params
    from drf_spectacular.validation import validate_schema

    validate_schema(doc)  # against the OpenAPI 3.0 JSON schema


def test_collections_and_collection(api_client: Any, nc: str) -> None:
    resp = api_client.get(f"{BASE}/collections")
    assert resp.status_code == 200
    assert resp["Access-Control-Allow-Origin"] == "*" and resp["ETag"] and "max-age" in resp["Cache-Control"]
    (coll,) = body(resp)["collections"]
    assert coll["id"] == "nc" and coll["title"] == "North Carolina" and coll["itemType"] == "feature"
    assert coll["extent"]["spatial"]["bbox"][0][0] == pytest.approx(-84.32, abs=0.01)
    again = api_client.get(f"{BASE}/collections", HTTP_IF_NONE_MATCH=resp["ETag"])
    assert again.status_code == 304
    one = body(api_client.get(f"{BASE}/collections/nc"))
    assert {link["rel"] for link in one["links"]} >= {"self", "items"}


def test_items_paging_with_keyset_next_links(api_client: Any, nc: str) -> None:
    resp = api_client.get(f"{BASE}/collections/nc/items", {"limit": 30})
    assert resp.status_code == 200 and resp["Content-Type"] == "application/geo+json"
    page = body(resp)
    assert page["type"] == "FeatureCollection" and page["numberReturned"] == 30 and page["numberMatched"] == 100
    assert page["numberMatchedExact"] is True and "timeStamp" in page
    seen = [f["id"] for f in page["features"]]
    first = page["features"][0]
    assert first["geometry"]["type"] == "MultiPolygon" and "name" in first["properties"]
    while (nxt := next((link["href"] for link in page["links"] if link["rel"] == "next"), None)) is not None:
        assert "cursor=" in nxt
        page = body(api_client.get(nxt.replace("http://testserver", "")))
        seen += [f["id"] for f in page["features"]]
        assert any(link["rel"] == "prev" for link in page["links"])
    assert seen == sorted(seen) and len(set(seen)) == 100
    offset = body(api_client.get(f"{BASE}/collections/nc/items", {"limit": 5, "offset": 95}))
    assert [f["id"] for f in offset["features"]] == seen[95:]


def test_items_filters(api_client: Any, nc: str) -> None:
    url = f"{BASE}/collections/nc/items"
    bbox = body(api_client.get(url, {"bbox": "-79,35,-78,36", "limit": 100}))
    assert 0 < bbox["numberReturned"] == bbox["numberMatched"] < 100
    by_name = body(api_client.get(url, {"name": "Ashe"}))
    assert by_name["numberMatched"] == 1 and by_name["features"][0]["properties"]["name"] == "Ashe"
    chosen = body(api_client.get(url, {"properties": "name,fips", "limit": 1}))
    assert list(chosen["features"][0]["properties"]) == ["name", "fips"]
    desc = body(api_client.get(url, {"sortby": "-area", "limit": 3}))
    areas = [f["properties"]["area"] for f in desc["features"]]
    assert areas == sorted(areas, reverse=True)
    assert "cursor" not in next(link["href"] for link in desc["links"] if link["rel"] == "next")
    lat_lon = body(
        api_client.get(
            url, {"bbox": "35,-79,36,-78", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326", "limit": 100}
        )
    )
    assert lat_lon["numberMatched"] == bbox["numberMatched"]
    big = body(api_client.get(url, {"limit": 999999}))
    assert big["numberReturned"] == 100


@pytest.mark.parametrize(
    "params",
    [
        {"foo": "1"},
        {"limit": "0"},
        {"limit": "x"},
        {"bbox": "1,2,3"},
        {"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/2154", "bbox": "0,0,1,1"},  # not served
        {"sortby": "nope"},
        {"properties": "nope"},
        {"datetime": "yesterday"},
        {"f": "xml"},
        {"area": "big"},
    ],
)
def test_bad_parameters_are_400_with_ogc_exception(api_client: Any, nc: str, params: dict[str, str]) -> None:
    resp = api_client.get(f"{BASE}/collections/nc/items", params)
    assert resp.status_code == 400
    err = resp.json()
    assert err["code"] == "InvalidParameterValue" and err["description"]


def test_not_found_is_404_with_ogc_exception(api_client: Any, nc: str) -> None:
    for path in [
        "/collections/nope",
        "/collections/nope/items",
        "/collections/nc/items/100000",
        "/collections/nc/items/abc",
    ]:
        resp = api_client.get(BASE + path)
        assert resp.status_code == 404, path
        assert resp.json()["code"] == "NotFound"


def test_single_feature(api_client: Any, nc: str) -> None:
    resp = api_client.get(f"{BASE}/collections/nc/items/1")
    assert resp.status_code == 200 and resp["Content-Type"] == "application/geo+json"
    feature = body(resp)
    assert feature["type"] == "Feature" and feature["id"] == 1
    assert {link["rel"] for link in feature["links"]} == {"self", "alternate", "collection"}


def test_html_pages(api_client: Any, nc: str) -> None:
    for path in [
        "/",
        "/collections",
        "/collections/nc",
        "/collections/nc/items",
        "/collections/nc/items/1",
        "/conformance",
    ]:
        resp = api_client.get(BASE + path, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
        assert resp.status_code == 200, path
        assert resp["Content-Type"].startswith("text/html")
    items = api_client.get(f"{BASE}/collections/nc/items", {"f": "html", "limit": 5}).content.decode()
    assert "vendor/leaflet/leaflet.js" in items and 'rel="next"' in items and "page-features" in items
    assert "unpkg" not in items and "cdn" not in items.lower()


def test_temporal_collection_datetime_filter(put_file: Any, submit_inline: Any, api_client: Any) -> None:
    feats = ",".join(
        f'{{"type":"Feature","properties":{{"day":"2024-01-0{i}T12:00:00Z"}},"geometry":{{"type":"Point","coordinates":[{i},{i}]}}}}'
        for i in range(1, 6)
    )
    name = put_file("features-tests/days.geojson", f'{{"type":"FeatureCollection","features":[{feats}]}}'.encode())
    assert submit_inline(file_name=name, table_name="days", temporal_property="day").status == "completed"
    coll = body(api_client.get(f"{BASE}/collections/days"))
    assert coll["extent"]["temporal"]["interval"][0][0].startswith("2024-01-01")
    url = f"{BASE}/collections/days/items"
    assert body(api_client.get(url, {"datetime": "2024-01-02T00:00:00Z/2024-01-03T23:00:00Z"}))["numberMatched"] == 2
    assert body(api_client.get(url, {"datetime": "../2024-01-02T00:00:00Z"}))["numberMatched"] == 1
    assert body(api_client.get(url, {"datetime": "2024-01-04"}))["numberMatched"] == 1


def test_unpublished_collection_disappears_at_once(api_client: Any, nc: str) -> None:
    from features.services import dataset_unpublish

    assert api_client.get(f"{BASE}/collections/nc").status_code == 200
    with as_owner():  # the writer's side, in the reader pass
        dataset_unpublish(collection_id="nc", dry_run=False)
    assert api_client.get(f"{BASE}/collections/nc").status_code == 404
    assert body(api_client.get(f"{BASE}/collections"))["collections"] == []


def test_number_matched_is_an_estimate_on_big_collections(api_client: Any, nc: str, settings: Any) -> None:
    settings.GEOPLATFORM_FEATURES_EXACT_COUNT_MAX = 10  # nc (100 features) now counts as big
    resp = api_client.get(f"{BASE}/collections/nc/items", {"bbox": "-79,35,-78,36"})
    page = body(resp)
    assert resp["OGC-NumberMatched-Type"] == "estimate" and page["numberMatchedExact"] is False
    assert page["numberMatched"] >= 1
    unfiltered = api_client.get(f"{BASE}/collections/nc/items")
    assert unfiltered["OGC-NumberMatched-Type"] == "exact" and body(unfiltered)["numberMatched"] == 100


def test_cors_preflight(api_client: Any, nc: str) -> None:
    resp = api_client.options(f"{BASE}/collections/nc/items", HTTP_ORIGIN="http://example.org")
    assert resp["Access-Control-Allow-Origin"] == "*"
    assert "GET" in resp["Access-Control-Allow-Methods"]


def test_json_wins_for_api_clients(api_client: Any, nc: str) -> None:
    for accept in ["application/geo+json", "application/json", "*/*", ""]:
        resp = api_client.get(f"{BASE}/collections/nc/items", HTTP_ACCEPT=accept)
        assert resp["Content-Type"] == "application/geo+json", accept


def test_deep_offset_is_an_index_seek_with_the_same_answer(api_client: Any, nc: str) -> None:
    """nc's ids are 1..100: offset pages by 'id > offset' and returns what walking would."""
    from features.models import VectorDataset

    assert VectorDataset.objects.get(pk=nc).dense_ids is True
    page = body(api_client.get(f"{BASE}/collections/{nc}/items", {"offset": 50, "limit": 5, "f": "json"}))
    assert [f["id"] for f in page["features"]] == [51, 52, 53, 54, 55]
    rels = {link["rel"]: link["href"] for link in page["links"]}
    assert "offset=45" in rels["prev"] and "offset=55" in rels["next"]
    # With a filter the seek does not apply; the answer is still the filtered one.
    filtered = body(
        api_client.get(f"{BASE}/collections/{nc}/items", {"offset": 1, "limit": 2, "bbox": "-80,34,-78,36"})
    )
    assert filtered["numberReturned"] == 2 and all(f["id"] > 1 for f in filtered["features"])


def test_single_point_datasets_filter_bbox_with_the_index_alone(
    api_client: Any, put_fixture: Any, submit_inline: Any
) -> None:
    from features.models import VectorDataset

    job = submit_inline(
        file_name=put_fixture("airports.csv"), table_name="airports_pts", lat_column="Latitude", lon_column="Longitude"
    )
    assert job.status == "completed", job.error
    dataset = VectorDataset.objects.get(pk="airports_pts")
    assert dataset.geometry_type == "MultiPoint" and dataset.single_points is True
    everything = body(api_client.get(f"{BASE}/collections/airports_pts/items", {"limit": 1000}))["features"]
    box = (-100.0, 30.0, -90.0, 40.0)
    inside = {
        f["id"]
        for f in everything
        if box[0] <= f["geometry"]["coordinates"][0][0] <= box[2]
        and box[1] <= f["geometry"]["coordinates"][0][1] <= box[3]
    }
    got = body(
        api_client.get(f"{BASE}/collections/airports_pts/items", {"limit": 1000, "bbox": ",".join(map(str, box))})
    )
    assert inside and {f["id"] for f in got["features"]} == inside


def test_cached_collection_follows_a_replacement_and_etags(
    api_client: Any, nc: str, put_fixture: Any, submit_inline: Any
) -> None:
    """Collection metadata is cached per process and checked in the items statement: a
    collection replaced under the cache (other columns, other rows) is served as the new one."""
    url = f"{BASE}/collections/nc/items"
    first = api_client.get(url, {"limit": 2})
    assert body(first)["numberMatched"] == 100
    etag = first["ETag"]
    assert api_client.get(url, {"limit": 2}, HTTP_IF_NONE_MATCH=etag).status_code == 304
    airports = submit_inline(file_name=put_fixture("airports.csv"), table_name="nc", lat_column="Latitude",
                             lon_column="Longitude", overwrite=True)  # fmt: skip
    assert airports.status == "completed", airports.error
    # A filter on a column only the new table has: unknown to the cached copy, which is re-read.
    assert body(api_client.get(url, {"iata": "ABQ"}))["numberMatched"] == 1
    second = api_client.get(url, {"limit": 2}, HTTP_IF_NONE_MATCH=etag)
    assert second.status_code == 200 and second["ETag"] != etag
    page = body(second)
    assert page["numberMatched"] == airports.result["feature_count"] != 100
    assert page["features"][0]["geometry"]["type"] == "MultiPoint" and "city" in page["features"][0]["properties"]
    again = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc", overwrite=True)
    assert again.status == "completed", again.error
    # The cached copy names the airports' columns: the statement fails, the row is re-read.
    page = body(api_client.get(url, {"limit": 2}))
    assert page["numberMatched"] == 100 and "fips" in page["features"][0]["properties"]


@pytest.mark.django_db(transaction=True)
def test_prepared_pages_follow_a_replacement_with_the_same_columns(
    api_client: Any, put_file: Any, put_fixture: Any, submit_inline: Any
) -> None:
    """Pages whose statements are prepared (unfiltered, bbox-only) keep the same SQL text when a
    collection is replaced by one with the same columns, on another connection (as a worker
    does): PostgreSQL re-plans them for the new table, and they answer with its rows."""
    import threading

    from django.db import connection, connections

    from .conftest import DATA

    def load(name: str, overwrite: bool) -> None:
        outcome: list[Any] = []

        def run() -> None:  # its own connection; psycopg drops a connection's prepared
            try:  # statements when it sees DROP or ALTER on that same connection
                outcome.append(submit_inline(file_name=name, table_name="airports_swap", lat_column="Latitude",
                                             lon_column="Longitude", overwrite=overwrite))  # fmt: skip
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        assert outcome and outcome[0].status == "completed", outcome and outcome[0].error

    def pages() -> list[list[str]]:
        url = f"{BASE}/collections/airports_swap/items"
        boxes = ({"limit": 5}, {"limit": 5, "bbox": "-180,-90,180,90"}, {"limit": 5, "bbox": "-90,30,-75,42"})
        return [[f["properties"]["name"] for f in body(api_client.get(url, params))["features"]] for params in boxes]

    load(put_fixture("airports.csv"), overwrite=False)
    for _ in range(12):  # past psycopg's prepare threshold and PostgreSQL's five custom plans
        before = pages()
    lines = (DATA / "airports.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    fewer = "".join([lines[0], *lines[31:]])  # the same columns, without the first 30 rows
    load(put_file("features-tests/airports_fewer.csv", fewer.encode()), overwrite=True)
    after = pages()
    everything = body(api_client.get(f"{BASE}/collections/airports_swap/items", {"limit": 100}))["features"]
    assert len(everything) == len(lines) - 31
    names = [f["properties"]["name"] for f in everything]
    in_box = [
        f["properties"]["name"]
        for f in everything
        if -90 <= f["geometry"]["coordinates"][0][0] <= -75 and 30 <= f["geometry"]["coordinates"][0][1] <= 42
    ]
    assert after == [names[:5], names[:5], in_box[:5]] and len(in_box) >= 5
    assert before[0] != after[0]
    with connection.cursor() as cur:  # the statements prepared before the replacement answered
        cur.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%airports_swap%' AND generic_plans > 0"
        )
        assert cur.fetchone()[0] >= 2


def test_estimates_without_exact_counts(api_client: Any, nc: str, settings: Any) -> None:
    """Above the exact-count size, a bbox-only numberMatched comes from PostGIS' statistics in
    the page's own statement; other filters ask the planner. Neither is below what the page shows."""
    settings.GEOPLATFORM_FEATURES_EXACT_COUNT_MAX = 10
    url = f"{BASE}/collections/nc/items"
    for params in ({"bbox": "-84,33,-75,37", "limit": 5}, {"bbox": "170,30,-75,37"}, {"name": "Ashe"}):
        resp = api_client.get(url, params)
        page = body(resp)
        assert resp["OGC-NumberMatched-Type"] == "estimate", params
        assert page["numberMatched"] >= page["numberReturned"] + (1 if any(
            link["rel"] == "next" for link in page["links"]) else 0), params  # fmt: skip


@pytest.mark.writer  # a reader answers POST with 405 before authentication (tests/geoplatform/test_reader.py)
def test_methods_tokens_and_private_reads(api_client: Any, auth_client: Any, nc: str, settings: Any) -> None:
    """The OGC views are plain Django views: other methods, bad tokens and closed reads still
    answer with OGC exception bodies, and tokens still authenticate."""
    url = f"{BASE}/collections/nc/items"
    assert api_client.post(url, {}).status_code == 401  # writes need an account first (as with DRF)
    post = auth_client.post(url, {})
    assert post.status_code == 405 and post.json()["code"] == "MethodNotAllowed" and "GET" in post["Allow"]
    bad = api_client.get(url, HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.status_code == 401 and bad.json()["code"] == "NotAuthenticated"
    settings.GEOPLATFORM_PUBLIC_READ = False
    closed = api_client.get(url)
    assert closed.status_code == 401 and closed["Access-Control-Allow-Origin"] == "*"
    assert body(auth_client.get(url, {"limit": 1}))["numberReturned"] == 1


def test_decimal_properties_stay_decimal_and_dates_say_their_format(
    api_client: Any, put_file: Any, submit_inline: Any
) -> None:
    """QGIS 3.22 types fields from the first features: a whole double must read 2.0, not 2."""
    from features.models import VectorDataset

    csv = (
        "lon,lat,value,observed\n"
        "10,50,2.0,2020-01-01T00:00:00Z\n"
        "11,51,2.5,2020-06-01T12:30:00Z\n"
        "12,52,-3,2021-01-01T00:00:00Z\n"
        "13,53,1e20,2022-01-01T00:00:00Z\n"
    )
    job = submit_inline(
        file_name=put_file("decimals.csv", csv.encode()), table_name="decimals", lat_column="lat", lon_column="lon"
    )
    assert job.status == "completed", job.error
    types = {a["name"]: a["type"] for a in VectorDataset.objects.get(pk="decimals").attributes}
    assert types["value"] == "double precision", types
    page = api_client.get(f"{BASE}/collections/decimals/items")
    text = b"".join(page.streaming_content) if page.streaming else page.content
    assert b'"value":2.0' in text.replace(b" ", b"") and b'"value":-3.0' in text.replace(b" ", b"")
    values = [f["properties"]["value"] for f in json.loads(text)["features"]]
    assert values == [2.0, 2.5, -3.0, 1e20]
    one = api_client.get(f"{BASE}/collections/decimals/items/1")
    one_text = b"".join(one.streaming_content) if one.streaming else one.content
    assert b'"value":2.0' in one_text.replace(b" ", b"")
    schema = body(api_client.get(f"{BASE}/collections/decimals", {"f": "json"}))
    props = schema.get("properties") or {}
    if types.get("observed") in ("timestamptz", "timestamp"):
        assert props["observed"] == {"title": "observed", "type": "string", "format": "date-time"}


def test_small_bbox_pages_of_a_spatially_ordered_table(api_client: Any, put_fixture: Any, submit_inline: Any) -> None:
    """Loads are stored in spatial order; a small box is read through the GiST index (bitmap), a
    big one by walking the ids: both give the same features, in id order, page after page."""
    from django.db import connection

    from features import sql
    from features.models import VectorDataset

    job = submit_inline(
        file_name=put_fixture("airports.csv"), table_name="airports_ord", lat_column="Latitude", lon_column="Longitude"
    )
    assert job.status == "completed", job.error
    dataset = VectorDataset.objects.get(pk="airports_ord")
    assert dataset.spatially_ordered
    everything = body(api_client.get(f"{BASE}/collections/airports_ord/items", {"limit": 1000}))["features"]
    assert [f["id"] for f in everything] == sorted(f["id"] for f in everything)
    small, big, dateline = (-90.0, 30.0, -75.0, 42.0), (-180.0, -90.0, 180.0, 90.0), (120.0, -60.0, -100.0, 60.0)
    for box in (small, big):
        # Which branch the statement runs: the small box's estimate is under the break-even.
        with connection.cursor() as cur:
            cur.execute(
                "SELECT _postgis_selectivity('geo.airports_ord'::regclass, 'geom', ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
                box,
            )
            estimate = cur.fetchone()[0] * dataset.feature_count
        assert (estimate**2 <= sql.BITMAP_BREAK_EVEN * 4 * dataset.feature_count) is (box == small)

    def inside(box: tuple[float, float, float, float], x: float, y: float) -> bool:
        across = box[0] > box[2]  # crosses the antimeridian
        return (x >= box[0] or x <= box[2] if across else box[0] <= x <= box[2]) and box[1] <= y <= box[3]

    # Each page shape is one prepared statement: after PostgreSQL's five plans made for the
    # box, its one generic plan must serve every box size with the same answers.
    for _ in range(4):
        for box in (small, big, dateline):
            expected = [f["id"] for f in everything if inside(box, *f["geometry"]["coordinates"][0])]
            got: list[int] = []
            url: str | None = f"{BASE}/collections/airports_ord/items?limit=3&bbox={','.join(map(str, box))}"
            while url:
                page = body(api_client.get(url))
                got += [f["id"] for f in page["features"]]
                url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
            assert got == expected and len(expected) > 3, box
    with connection.cursor() as cur:
        cur.execute("SELECT max(generic_plans) FROM pg_prepared_statements WHERE statement LIKE 'WITH _e AS%'")
        assert cur.fetchone()[0] > 0
    assert sql.ItemsQuery(table="x", columns=[]).bitmap_choice is False
