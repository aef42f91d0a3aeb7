"""The STAC API through HTTP (Django test client on the real pgSTAC database)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from rest_framework.test import APIClient

from tests.conftest import as_owner

pytestmark = [pytest.mark.django_db, pytest.mark.reader]  # reader: also run on a reader deployment
API = "/api/stac/"


def get(client: APIClient, path: str, **params: Any) -> Any:
    return client.get(API + path, params)


def ids(response: Any) -> list[str]:
    return [f["id"] for f in response.json()["features"]]


def link(body: dict[str, Any], rel: str) -> dict[str, Any] | None:
    return next((lk for lk in body["links"] if lk["rel"] == rel), None)


def test_landing_page(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    stac_collection("test-grid", n=1)
    r = api_client.get(API)
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    body = r.json()
    assert body["type"] == "Catalog" and "https://api.stacspec.org/v1.0.0/item-search" in body["conformsTo"]
    rels = {lk["rel"] for lk in body["links"]}
    assert {"self", "root", "service-desc", "service-doc", "conformance", "data", "search", "child"} <= rels
    children = {lk["href"].rsplit("/", 1)[-1] for lk in body["links"] if lk["rel"] == "child"}
    assert {"system-vectors", "system-rasters", "system-zarr", "test-grid"} <= children
    assert {lk.get("method") for lk in body["links"] if lk["rel"] == "search"} == {"GET", "POST"}
    desc = api_client.get(link(body, "service-desc")["href"], HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert desc.status_code == 200 and "/api/stac/search" in json.loads(desc.content)["paths"]


def test_conformance(api_client: APIClient) -> None:
    r = get(api_client, "conformance")
    assert r.status_code == 200
    assert "https://api.stacspec.org/v1.0.0/ogcapi-features" in r.json()["conformsTo"]


def test_collections_and_collection(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    stac_collection("test-grid", n=1)
    r = get(api_client, "collections")
    assert r.status_code == 200
    by_id = {c["id"]: c for c in r.json()["collections"]}
    assert {"system-vectors", "system-rasters", "system-zarr", "test-grid"} <= set(by_id)
    one = get(api_client, "collections/test-grid").json()
    assert one["license"] == "CC-BY-4.0"
    assert link(one, "items")["href"].endswith("/api/stac/collections/test-grid/items")
    assert link(one, "self")["href"].endswith("/api/stac/collections/test-grid")


def test_unknown_collection_and_item_are_404(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    stac_collection("test-grid", n=1)
    for path in (
        "collections/nope",
        "collections/nope/items",
        "collections/nope/items/x",
        "collections/test-grid/items/x",
    ):
        r = get(api_client, path)
        assert r.status_code == 404, path
        assert set(r.json()) == {"code", "description"}


def test_item(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    stac_collection("test-grid", n=2)
    r = get(api_client, "collections/test-grid/items/item-001")
    assert r.status_code == 200 and r["Content-Type"] == "application/geo+json"
    item = r.json()
    assert item["id"] == "item-001" and item["collection"] == "test-grid" and item["stac_version"] == "1.1.0"
    assert link(item, "self")["href"].endswith("/collections/test-grid/items/item-001")
    assert link(item, "collection")["href"].endswith("/collections/test-grid")


def test_items_paging_follows_next_and_prev(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    stac_collection("test-grid", n=12)
    seen: list[str] = []
    url: str | None = API + "collections/test-grid/items?limit=5"
    pages = 0
    while url:
        r = api_client.get(url)
        assert r.status_code == 200 and r["Content-Type"] == "application/geo+json"
        body = r.json()
        seen += [f["id"] for f in body["features"]]
        nxt = link(body, "next")
        url = nxt["href"] if nxt else None
        pages += 1
        if url:
            assert parse_qs(urlparse(url).query)["limit"] == ["5"]
    assert pages == 3 and sorted(seen) == [f"item-{i:03d}" for i in range(12)] and len(seen) == 12
    prev = link(body, "prev")
    assert prev is not None
    assert len(api_client.get(prev["href"]).json()["features"]) == 5


def test_items_filters(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    stac_collection("test-grid", n=12)
    assert sorted(ids(get(api_client, "collections/test-grid/items", bbox="2.5,2.5,4.5,4.5"))) == [
        "item-002",
        "item-003",
        "item-004",
    ]
    r = get(api_client, "collections/test-grid/items", datetime="2020-01-03T00:00:00Z/2020-01-04T23:00:00Z")
    assert sorted(ids(r)) == ["item-002", "item-003"]


def test_search_get_filters(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    stac_collection("test-grid", n=12)
    assert sorted(ids(get(api_client, "search", collections="test-grid", bbox="2.5,2.5,4.5,4.5"))) == [
        "item-002",
        "item-003",
        "item-004",
    ]
    assert ids(get(api_client, "search", collections="test-grid", datetime="2020-01-05T12:00:00Z")) == ["item-004"]
    assert sorted(ids(get(api_client, "search", ids="item-001,item-007"))) == ["item-001", "item-007"]
    point = json.dumps({"type": "Point", "coordinates": [6.5, 6.5]})
    assert ids(get(api_client, "search", intersects=point)) == ["item-006"]
    assert len(ids(get(api_client, "search", collections="test-grid", limit=3))) == 3
    assert ids(get(api_client, "search", collections="system-zarr")) == []
    # A 3D bbox (z ignored: footprints are 2D) finds the same items, GET and POST.
    assert sorted(ids(get(api_client, "search", collections="test-grid", bbox="2.5,2.5,-10,4.5,4.5,10"))) == [
        "item-002",
        "item-003",
        "item-004",
    ]
    resp = api_client.post(
        "/api/stac/search", {"collections": ["test-grid"], "bbox": [2.5, 2.5, -10, 4.5, 4.5, 10]}, format="json"
    )
    assert resp.status_code == 200


def test_search_post_filters_and_post_paging(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    stac_collection("test-grid", n=12)

    def post(body: dict[str, Any]) -> Any:
        r = api_client.post(API + "search", body, format="json")
        assert r.status_code == 200, r.content
        assert r["Content-Type"] == "application/geo+json"
        return r

    assert sorted(ids(post({"collections": ["test-grid"], "bbox": [2.5, 2.5, 4.5, 4.5]}))) == [
        "item-002",
        "item-003",
        "item-004",
    ]
    assert ids(post({"datetime": "2020-01-05T12:00:00Z", "collections": ["test-grid"]})) == ["item-004"]
    assert sorted(ids(post({"ids": ["item-001", "item-007"]}))) == ["item-001", "item-007"]
    square = {"type": "Polygon", "coordinates": [[[6.2, 6.2], [6.8, 6.2], [6.8, 6.8], [6.2, 6.8], [6.2, 6.2]]]}
    assert ids(post({"intersects": square})) == ["item-006"]
    first = post({"collections": ["test-grid"], "limit": 10}).json()
    nxt = link(first, "next")
    assert nxt["method"] == "POST" and nxt["body"]["collections"] == ["test-grid"]
    second = post(nxt["body"]).json()
    assert len(second["features"]) == 2
    assert not {f["id"] for f in first["features"]} & {f["id"] for f in second["features"]}


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1,2,3"},
        {"bbox": "a,b,c,d"},
        {"bbox": "0,10,1,5"},
        {"bbox": "0,0,1,100"},
        {"datetime": "2020-01-01"},
        {"datetime": "2020-01-01T00:00:00"},
        {"datetime": "../.."},
        {"datetime": "2021-01-01T00:00:00Z/2020-01-01T00:00:00Z"},
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"intersects": "{not json"},
        {"intersects": '{"type": "Feature"}'},
        {"bbox": "0,0,1,1", "intersects": '{"type": "Point", "coordinates": [0, 0]}'},
        {"token": "next:zz"},
        {"token": "next:6e6f7065:6e6f7065"},
    ],
)
def test_bad_search_parameters_are_400(api_client: APIClient, params: dict[str, str]) -> None:
    r = get(api_client, "search", **params)
    assert r.status_code == 400, r.content
    body = r.json()
    assert set(body) == {"code", "description"} and body["description"]


def test_bad_post_bodies_are_400(api_client: APIClient) -> None:
    bad_bodies: list[dict[str, Any]] = [
        {"limit": -1},
        {"bbox": [0, 0, 1]},
        {"bbox": "0,0,1,1"},
        {"datetime": "yesterday"},
        {"ids": [1]},
        {"collections": "a,b"},
        {"intersects": '{"type": "Point", "coordinates": [0, 0]}'},
    ]
    for body in bad_bodies:
        r = api_client.post(API + "search", body, format="json")
        assert r.status_code == 400, body
    r = api_client.post(API + "search", "[1, 2]", content_type="application/json")
    assert r.status_code == 400
    r = api_client.post(API + "search", "{broken", content_type="application/json")
    assert r.status_code == 400 and set(r.json()) == {"code", "description"}


def test_large_limit_is_clamped(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    stac_collection("test-grid", n=3)
    assert len(ids(get(api_client, "search", collections="test-grid", limit=1000000))) == 3


def test_public_read_off_requires_a_token(
    api_client: APIClient, auth_client: APIClient, settings: Any, stac_collection: Callable[..., str]
) -> None:
    stac_collection("test-grid", n=1)
    settings.GEOPLATFORM_PUBLIC_READ = False
    for path in ("", "collections", "collections/test-grid/items", "search"):
        assert api_client.get(API + path).status_code == 401, path
        assert auth_client.get(API + path).status_code == 200, path
    assert api_client.post(API + "search", {}, format="json").status_code == 401
    assert auth_client.post(API + "search", {}, format="json").status_code == 200
    settings.GEOPLATFORM_PUBLIC_READ = True
    assert api_client.post(API + "search", {}, format="json").status_code == 200


def test_revoked_item_disappears_from_search(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    from catalog import services

    stac_collection("test-grid", n=2)
    assert "item-001" in ids(get(api_client, "search", ids="item-001"))
    with as_owner():  # the writer's side, in the reader pass
        services.item_delete(collection_id="test-grid", item_id="item-001")
    assert ids(get(api_client, "search", ids="item-001")) == []
    assert get(api_client, "collections/test-grid/items/item-001").status_code == 404


def test_search_items_equal_pgstac_hydrated_items(api_client: APIClient, stac_collection: Callable[..., str]) -> None:
    """Our hydration of search results matches pgSTAC's own, also with item_assets (deep merge)."""
    from django.db import connection

    from catalog import services

    from .conftest import make_collection, make_item

    with as_owner():  # test data, written as the suite's role in the reader pass
        services.collection_upsert(
            collection={
                **make_collection("with-assets"),
                "item_assets": {"data": {"type": "image/tiff", "roles": ["data"]}},
            }
        )
        item = make_item("ia", 0, 0, "2020-01-01T00:00:00Z", **{"eo:cloud_cover": None, "platform": "x"})
        services.item_upsert(collection_id="with-assets", item=item)
    stac_collection("test-grid", n=3)
    for cid in ("with-assets", "test-grid"):
        ours = get(api_client, "search", collections=cid, limit=10).json()["features"]
        with connection.cursor() as cur:
            cur.execute("SELECT pgstac.search(%s::jsonb)::text", [json.dumps({"collections": [cid], "limit": 10})])
            theirs = json.loads(cur.fetchone()[0])["features"]
        assert len(ours) == len(theirs) > 0
        for a, b in zip(ours, theirs, strict=True):
            assert {k: v for k, v in a.items() if k != "links"} == {k: v for k, v in b.items() if k != "links"}
    assert ours[0]["stac_version"] == "1.1.0" and ours[0]["type"] == "Feature"
