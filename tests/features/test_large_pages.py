"""Large items pages are streamed out of PostgreSQL (COPY ... TO STDOUT) in chunks: the same
FeatureCollection as a page built in one piece, never held whole in Python."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from features import api, sql

pytestmark = [pytest.mark.django_db, pytest.mark.reader]

BASE = "/api/features"


@pytest.fixture
def nc(put_fixture: Any, submit_inline: Any) -> str:
    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_large", title="NC counties")
    assert job.status == "completed", job.error
    return "nc_large"


def _get(client: APIClient, path: str) -> tuple[Any, list[bytes]]:
    resp = client.get(path, HTTP_ACCEPT="application/geo+json")
    assert resp.status_code == 200, resp.content
    parts = list(resp.streaming_content)
    return resp, parts


@pytest.mark.parametrize(
    "query",
    [
        "",
        "&sortby=-area",
        "&bbox=-80,34,-77,37",
        "&properties=name,area",
        "&name=Wake",
        "&offset=30",
        "&filter=area%20%3E%200.1",
        "&crs=http://www.opengis.net/def/crs/EPSG/0/3857",
    ],
)
def test_streamed_page_equals_the_whole_page(
    api_client: APIClient, nc: str, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    monkeypatch.setattr(sql, "STREAM_CHUNK_ROWS", 7)  # many chunks out of 100 features
    whole_resp, whole_parts = _get(api_client, f"{BASE}/collections/{nc}/items?limit=999{query}")
    streamed_resp, parts = _get(api_client, f"{BASE}/collections/{nc}/items?limit={api.STREAM_FROM_LIMIT}{query}")
    assert len(whole_parts) == 1 and whole_resp["Content-Length"]
    assert not streamed_resp.has_header("Content-Length")
    whole, streamed = json.loads(b"".join(whole_parts)), json.loads(b"".join(parts))
    assert streamed["features"] == whole["features"]
    if len(whole["features"]) > 7:
        assert len(parts) >= 2 + len(whole["features"]) // 7  # head, chunks, tail
    for key in ("numberReturned", "numberMatched", "numberMatchedExact"):
        assert streamed[key] == whole[key], key
    assert [link["rel"] for link in streamed["links"]] == [link["rel"] for link in whole["links"]]
    assert streamed_resp["ETag"] and streamed_resp["OGC-NumberMatched-Type"] == whole_resp["OGC-NumberMatched-Type"]


def test_streamed_page_next_link_and_errors(api_client: APIClient, nc: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "STREAM_FROM_LIMIT", 40)
    _, parts = _get(api_client, f"{BASE}/collections/{nc}/items?limit=40")
    page = json.loads(b"".join(parts))
    assert page["numberReturned"] == 40 and page["numberMatched"] == 100
    (nxt,) = [link for link in page["links"] if link["rel"] == "next"]
    ids = [f["id"] for f in page["features"]]
    _, parts = _get(api_client, nxt["href"].split("testserver", 1)[1])
    second = json.loads(b"".join(parts))
    assert second["features"][0]["id"] == ids[-1] + 1 and second["numberReturned"] == 40
    bad = api_client.get(f"{BASE}/collections/{nc}/items?limit=40&nope=1", HTTP_ACCEPT="application/geo+json")
    assert bad.status_code == 400 and "nope" in bad.json()["description"]
    assert api_client.get(f"{BASE}/collections/missing/items?limit=5000").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_client_gone_midway_frees_the_connection(
    api_client: APIClient, nc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that leaves mid-page: the response is closed, the COPY cancelled, and the
    connection serves the next request (autocommit, as in production)."""
    from django.db import connection

    monkeypatch.setattr(sql, "STREAM_CHUNK_ROWS", 3)
    resp = api_client.get(f"{BASE}/collections/{nc}/items?limit=5000", HTTP_ACCEPT="application/geo+json")
    parts = iter(resp.streaming_content)
    assert next(parts).startswith(b'{"type": "FeatureCollection"') and next(parts)
    resp.close()
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    _, again = _get(api_client, f"{BASE}/collections/{nc}/items?limit=5000")
    assert len(json.loads(b"".join(again))["features"]) == 100
