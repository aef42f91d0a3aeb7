"""The H3 API on a small grid and one stat dataset (tests/h3grid/conftest.py): registry, summary,
cell pages in every format with their next links, one cell, and the 400s that say what to fix."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import h3
import h3.api.basic_int as h3i
import pyarrow.parquet as pq
import pytest
from django.test import override_settings

from .conftest import BBOX, RESOLUTIONS, H3Fixture

pytestmark = [pytest.mark.reader, pytest.mark.django_db]


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _json(response: Any) -> Any:
    return json.loads(_body(response))


def test_registry_and_summary(api_client: Any, h3data: H3Fixture) -> None:
    reg = _json(api_client.get("/api/h3/registry"))
    ds = next(d for d in reg["datasets"] if d["slug"] == h3data.slug)
    assert ds["resolutions"] == list(RESOLUTIONS) and [s["name"] for s in ds["stats"]] == ["mean", "count"]
    summary = _json(api_client.get(f"/api/h3/stats/{h3data.slug}"))
    by_res = {s["res"]: s for s in summary["summary"]}
    for res in RESOLUTIONS:
        cells = h3data.cells[res]
        assert by_res[res]["cells"] == len(cells)
        means = [h3data.values[c] for c in cells]
        assert by_res[res]["stats"]["mean"]["min"] == pytest.approx(min(means))
        assert by_res[res]["stats"]["mean"]["max"] == pytest.approx(max(means))
    # by numeric id too
    assert _json(api_client.get(f"/api/h3/stats/{h3data.dataset_id}"))["slug"] == h3data.slug


def test_a_page_served_again_comes_from_the_page_cache(
    api_client: Any, h3data: H3Fixture, django_assert_num_queries: Any
) -> None:
    url = f"/api/h3/stats/{h3data.slug}/cells?res=5&limit=7&iso3=KEN&f=geojson"
    first = api_client.get(url)
    assert first.status_code == 200 and first.streaming
    body = _body(first)
    with django_assert_num_queries(0):
        again = api_client.get(url)
    assert again.status_code == 200 and not again.streaming
    assert again.content == body and again["Content-Type"] == "application/geo+json"
    # Another page, another format or another host is another entry.
    assert api_client.get(url.replace("f=geojson", "f=json")).streaming
    assert api_client.get(url, HTTP_HOST="localhost").streaming


def test_cells_json_pages_follow_next_links(api_client: Any, h3data: H3Fixture) -> None:
    url: str | None = f"/api/h3/stats/{h3data.slug}/cells?res=6&limit=50"
    seen: list[int] = []
    while url:
        response = api_client.get(url)
        assert response.status_code == 200 and response.streaming
        page = _json(response)
        assert page["numberReturned"] == len(page["cells"]) <= 50
        seen += [int(c["cell"], 16) for c in page["cells"]]
        for c in page["cells"]:
            assert c["mean"] == pytest.approx(h3data.values[int(c["cell"], 16)]) and c["res"] == 6
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert seen == sorted(h3data.cells[6])


def test_cells_geojson_polygons_from_ids(api_client: Any, h3data: H3Fixture) -> None:
    fc = _json(api_client.get(f"/api/h3/stats/{h3data.slug}/cells?res=5&f=geojson&stat=mean"))
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(h3data.cells[5])
    feature = fc["features"][0]
    cell = int(feature["id"], 16)
    ring = feature["geometry"]["coordinates"][0]
    expected = [[lng, lat] for lat, lng in h3i.cell_to_boundary(cell)]
    assert len(ring) == len(expected) + 1 and ring[0] == ring[-1]
    assert ring[0] == pytest.approx(expected[0], abs=1e-6)
    assert set(feature["properties"]) == {"cell", "res", "mean"}


def test_cells_filters_iso3_bbox_parent(api_client: Any, h3data: H3Fixture) -> None:
    base = f"/api/h3/stats/{h3data.slug}/cells?res=6&limit=10000"
    tza = _json(api_client.get(base + "&iso3=tza"))["cells"]
    assert tza and all(c["iso3"] == "TZA" and c["share"] == pytest.approx(0.4) for c in tza)
    assert len(tza) < len(h3data.cells[6])
    w, s, *_ = BBOX
    small = (w, s, w + 0.1, s + 0.1)
    inside = _json(api_client.get(base + "&bbox=" + ",".join(map(str, small))))["cells"]
    poly = h3i.LatLngPoly([(small[1], small[0]), (small[1], small[2]), (small[3], small[2]), (small[3], small[0])])
    expected = set(h3i.h3shape_to_cells_experimental(poly, 6, contain="overlap")) & set(h3data.cells[6])
    assert {int(c["cell"], 16) for c in inside} == expected
    parent = h3data.cells[4][0]
    under = _json(api_client.get(base + f"&parent={h3.int_to_str(parent)}"))
    assert {int(c["cell"], 16) for c in under["cells"]} == {
        c for c in h3data.cells[6] if h3i.cell_to_parent(c, 4) == parent
    }


def test_cells_csv_and_parquet(api_client: Any, h3data: H3Fixture) -> None:
    response = api_client.get(f"/api/h3/stats/{h3data.slug}/cells?res=6&f=csv&limit=40")
    assert response["Content-Type"].startswith("text/csv") and 'rel="next"' in response["Link"]
    rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
    assert len(rows) == 40 and rows[0].keys() == {"cell", "cell_int", "res", "mean", "count"}
    assert int(rows[0]["cell"], 16) == int(rows[0]["cell_int"]) == sorted(h3data.cells[6])[0]
    after = response["Link"].split("after=")[1].split("&")[0].split(">")[0]
    assert int(after, 16) == sorted(h3data.cells[6])[39]
    response = api_client.get(f"/api/h3/stats/{h3data.slug}/cells?res=5&f=parquet&iso3=KEN")
    table = pq.read_table(io.BytesIO(_body(response)))
    assert table.num_rows == len(h3data.cells[5]) and table.column_names == [
        "cell",
        "res",
        "iso3",
        "share",
        "mean",
        "count",
    ]
    assert "Link" not in response


def test_one_cell_every_dataset_parent_children(api_client: Any, h3data: H3Fixture) -> None:
    cell = h3data.cells[5][0]
    for written in (h3.int_to_str(cell), str(cell)):
        doc = _json(api_client.get(f"/api/h3/cells/{written}"))
        assert doc["cell_int"] == cell and doc["res"] == 5 and doc["in_grid"]
        mine = next(d for d in doc["datasets"] if d["slug"] == h3data.slug)
        assert mine["values"]["mean"] == pytest.approx(h3data.values[cell])
        assert int(doc["parent"]["cell"], 16) == h3i.cell_to_parent(cell, 4)
        assert {int(c["cell"], 16) for c in doc["children"]} == set(h3i.cell_to_children(cell, 6))
        assert {c["iso3"] for c in doc["countries"]} <= {"KEN", "TZA"}


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/api/h3/cells/zzz", 400, "not a valid H3 cell id"),
        ("/api/h3/cells/8f2830828052d25", 400, "outside the H3 pyramid"),
        ("/api/h3/cells/8001fffffffffff", 400, "outside the H3 pyramid"),
        ("/api/h3/stats/nope", 404, "/api/h3/registry"),
        ("/api/h3/stats/{slug}/cells?res=9", 400, "outside the H3 pyramid"),
        ("/api/h3/stats/{slug}/cells?res=3", 400, "resolutions [4, 5, 6]"),
        ("/api/h3/stats/{slug}/cells?iso3=XXX", 400, "Unknown ISO3"),
        ("/api/h3/stats/{slug}/cells?iso3=KENYA", 400, "alpha-3"),
        ("/api/h3/stats/{slug}/cells?stat=median", 400, "Unknown stat median"),
        ("/api/h3/stats/{slug}/cells?f=xml", 400, "f='xml'"),
        ("/api/h3/stats/{slug}/cells?bbox=1,2,3", 400, "minLon,minLat"),
        ("/api/h3/stats/{slug}/cells?limit=0", 400, "limit=0"),
        ("/api/h3/stats/{slug}/cells?reso=5", 400, "Unknown query parameter reso"),
        ("/api/h3/stats/{slug}/cells?after=nothex", 400, "after"),
    ],
)
def test_bad_input_says_what_to_fix(api_client: Any, h3data: H3Fixture, path: str, status: int, words: str) -> None:
    response = api_client.get(path.format(slug=h3data.slug))
    assert response.status_code == status, response.content
    assert words in response.json()["message"], response.json()


def test_private_deployment_needs_a_token(api_client: Any, auth_client: Any, h3data: H3Fixture) -> None:
    with override_settings(GEOPLATFORM_PUBLIC_READ=False):
        assert api_client.get("/api/h3/registry").status_code == 401
        assert api_client.get(f"/api/h3/stats/{h3data.slug}/cells").status_code == 401
        assert api_client.get("/api/dggs/conformance").status_code == 401
        assert auth_client.get("/api/h3/registry").status_code == 200


def test_filters_combine_and_pages_stay_inside_the_country(api_client: Any, h3data: H3Fixture) -> None:
    """iso3 with parent and bbox together, paged: the pages walk the country's cells only."""
    parent = h3data.cells[4][0]
    tza6 = sorted(c for c in h3data.cells[6] if h3i.cell_to_latlng(c)[1] >= 36.9)
    expected = [c for c in tza6 if h3i.cell_to_parent(c, 4) == parent]
    url: str | None = f"/api/h3/stats/{h3data.slug}/cells?res=6&iso3=TZA&parent={h3.int_to_str(parent)}&limit=7"
    seen: list[int] = []
    while url:
        page = _json(api_client.get(url))
        seen += [int(c["cell"], 16) for c in page["cells"]]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert seen == expected
    w, s, *_ = BBOX
    box = f"{w},{s},{w + 0.3},{s + 0.3}"
    both = _json(api_client.get(f"/api/h3/stats/{h3data.slug}/cells?res=6&iso3=TZA&bbox={box}&limit=10000"))["cells"]
    poly = h3i.LatLngPoly([(s, w), (s, w + 0.3), (s + 0.3, w + 0.3), (s + 0.3, w)])
    inside = set(h3i.h3shape_to_cells_experimental(poly, 6, contain="overlap"))
    assert {int(c["cell"], 16) for c in both} == inside & set(tza6)
    csv_page = api_client.get(f"/api/h3/stats/{h3data.slug}/cells?res=6&iso3=TZA&limit=5&f=csv")
    after = csv_page["Link"].split("after=")[1].split("&")[0].split(">")[0]
    assert int(after, 16) == tza6[4]


def test_nan_statistics_are_null(api_client: Any, h3data: H3Fixture) -> None:
    from django.db import connection

    from tests.conftest import as_owner

    cell = sorted(h3data.cells[6])[0]
    # Inside the test's transaction (rolled back afterwards), as the writer in the reader pass.
    with as_owner(), connection.cursor() as cur:
        cur.execute(f"UPDATE h3.stat_{h3data.dataset_id} SET mean = 'NaN' WHERE res = 6 AND cell = %s", [cell])
    page = _json(api_client.get(f"/api/h3/stats/{h3data.slug}/cells?res=6&limit=1"))
    assert page["cells"][0]["mean"] is None
    doc = _json(api_client.get(f"/api/h3/cells/{cell}"))
    assert next(d for d in doc["datasets"] if d["slug"] == h3data.slug)["values"]["mean"] is None
    zone = h3.int_to_str(h3i.cell_to_parent(cell, 5))
    data = _json(api_client.get(f"/api/dggs/collections/{h3data.slug}/dggs/H3/zones/{zone}/data?zone-depth=1"))
    assert None in data["values"]["mean"][0]["data"]
