"""Queryables: numeric properties sort and compare as numbers (pgSTAC reads a property through
the type its queryable declares), for the platform's own fields and for properties derived
from the items of any collection (pipelines and the transactions API)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog import pgstac, queryables, services
from catalog.errors import InvalidStacDocument
from tests.conftest import as_owner
from tests.platform_db import ROOT, platform_database

from .conftest import make_collection, make_item

API = "/api/stac/"


def _ids(r: Any) -> list[str]:
    assert r.status_code == 200, r.content
    return [f["id"] for f in r.json()["features"]]


@pytest.fixture
def clouds(db: Any) -> str:
    """Items whose numbers sort differently as text: 9 < 10 < 100 (text: "10" < "100" < "9")."""
    with as_owner():
        services.collection_upsert(collection=make_collection("q-clouds"))
        for item_id, cloud in (("c10", 10), ("c9", 9), ("c100", 100)):
            extra = {"eo:cloud_cover": cloud, "level": cloud, "acquired": f"2021-01-{cloud % 28 + 1:02d}T00:00:00Z"}
            item = make_item(item_id, 1.0, 1.0, "2021-01-01T00:00:00Z", **extra)
            services.item_upsert(collection_id="q-clouds", item=item)
    return "q-clouds"


@pytest.mark.reader
@pytest.mark.parametrize("name", ["eo:cloud_cover", "level"])  # declared by the platform / derived
def test_numeric_properties_sort_as_numbers_get_and_post(api_client: APIClient, clouds: str, name: str) -> None:
    up = _ids(api_client.get(API + "search", {"sortby": f"properties.{name}"}))
    assert up == ["c9", "c10", "c100"]
    down = _ids(api_client.get(API + "search", {"collections": clouds, "sortby": f"-properties.{name}"}))
    assert down == ["c100", "c10", "c9"]
    body = {"collections": [clouds], "sortby": [{"field": f"properties.{name}", "direction": "asc"}]}
    assert _ids(api_client.post(API + "search", body, format="json")) == ["c9", "c10", "c100"]
    items = api_client.get(API + f"collections/{clouds}/items", {"sortby": f"+{name}", "limit": 2})
    assert _ids(items) == ["c9", "c10"]
    # Paging keeps the numeric order across pages.
    nxt = next(lk for lk in items.json()["links"] if lk["rel"] == "next")
    assert _ids(api_client.get(nxt["href"].replace("http://testserver", ""))) == ["c100"]


@pytest.mark.reader
@pytest.mark.parametrize("name", ["eo:cloud_cover", "level"])
def test_numeric_filter_and_query(api_client: APIClient, clouds: str, name: str) -> None:
    assert sorted(_ids(api_client.get(API + "search", {"filter": f"{name} > 9"}))) == ["c10", "c100"]
    cql2_json = {"op": "<", "args": [{"property": name}, 10]}
    assert _ids(api_client.post(API + "search", {"filter": cql2_json}, format="json")) == ["c9"]
    assert _ids(api_client.get(API + "search", {"filter": f"{name} BETWEEN 9.5 AND 99"})) == ["c10"]
    query = {name: {"gt": 9, "lt": 100}}
    assert _ids(api_client.get(API + "search", {"query": json.dumps(query)})) == ["c10"]
    assert _ids(api_client.post(API + "search", {"query": {name: {"eq": "10"}}}, format="json")) == ["c10"]


@pytest.mark.reader
def test_date_time_properties_compare_as_instants(api_client: APIClient, clouds: str) -> None:
    r = api_client.get(API + "search", {"filter": "acquired > TIMESTAMP('2021-01-11T00:00:00Z')"})
    assert _ids(r) == ["c100"]  # acquired: c9 2021-01-10, c10 2021-01-11, c100 2021-01-17
    assert _ids(api_client.get(API + "search", {"sortby": "acquired", "collections": clouds})) == ["c9", "c10", "c100"]


@pytest.mark.reader
def test_queryables_document_lists_the_types(api_client: APIClient, clouds: str) -> None:
    every = api_client.get(API + "queryables").json()
    assert every["additionalProperties"] is True
    assert every["properties"]["eo:cloud_cover"]["type"] == "number"
    assert every["properties"]["geoplatform:feature_count"]["type"] == "integer"
    assert every["properties"]["created"]["format"] == "date-time"
    one = api_client.get(API + f"collections/{clouds}/queryables").json()["properties"]
    assert one["level"] == {"type": "number"}
    assert one["acquired"] == {"type": "string", "format": "date-time"}
    assert "level" not in api_client.get(API + "collections/system-rasters/queryables").json()["properties"]


@pytest.mark.reader
def test_unknown_properties_are_accepted_and_match_nothing(api_client: APIClient, clouds: str) -> None:
    """additionalProperties: true (OGC API Features Part 3: a server that does not say false
    takes any property name); an item without the property does not match."""
    assert _ids(api_client.get(API + "search", {"filter": "nosuch:prop > 1"})) == []
    assert _ids(api_client.get(API + "search", {"filter": "nosuch:prop = 'a'"})) == []
    # "if an Item does not have an attribute by that name, the value is assumed to be null"
    assert len(_ids(api_client.get(API + "search", {"filter": "nosuch:prop IS NULL"}))) == 3
    assert len(_ids(api_client.get(API + "search", {"sortby": "nosuch:prop", "collections": clouds}))) == 3


def test_a_value_of_another_type_widens_the_declaration(api_client: APIClient, clouds: str) -> None:
    """A collection's derived declaration widens to text instead of making searches fail."""
    item = make_item("c-word", 1.0, 1.0, "2021-01-01T00:00:00Z", level="high")
    services.item_upsert(collection_id=clouds, item=item)
    one = api_client.get(API + f"collections/{clouds}/queryables").json()["properties"]
    assert one["level"] == {"type": ["number", "string"]}
    assert _ids(api_client.get(API + "search", {"filter": "level = 'high'"})) == ["c-word"]
    by_text = _ids(api_client.get(API + "search", {"sortby": "level", "collections": clouds}))
    assert by_text == ["c10", "c100", "c9", "c-word"]  # mixed values: text order, no error
    # The platform's declaration for every collection is not widened by an item.
    services.item_upsert(collection_id=clouds, item=make_item("c-gsd", 1, 1, "2021-01-01T00:00:00Z", gsd=30))
    assert pgstac.queryables_of(clouds, ["gsd"])["gsd"][1] is False


def test_items_of_transaction_collections_declare_their_types(db: Any) -> None:
    user = get_user_model().objects.create_user("stac-manager")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="catalog", codename="manage_stac"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.post(API + "collections", make_collection("ops-q"), format="json").status_code == 201
    features = [make_item(f"o{n}", 1, 1, "2020-01-01T00:00:00Z", rank=n) for n in (10, 9, 2)]
    r = client.post(API + "collections/ops-q/items", {"type": "FeatureCollection", "features": features}, format="json")
    assert r.status_code == 201, r.content
    assert _ids(client.get(API + "search", {"collections": "ops-q", "sortby": "rank"})) == ["o2", "o9", "o10"]
    patch = {"properties": {"rank": 100}}
    assert client.patch(API + "collections/ops-q/items/o2", patch, format="json").status_code == 204
    assert _ids(client.get(API + "search", {"collections": "ops-q", "sortby": "-rank"})) == ["o2", "o10", "o9"]
    assert client.delete(API + "collections/ops-q").status_code == 204
    assert pgstac.queryables_of("ops-q", ["rank"]) == {}  # pgSTAC drops a collection's own rows with it


def test_platform_queryables_are_in_place_and_idempotent(db: Any) -> None:
    assert services.platform_queryables_ensure() == 0  # the migration (and post_migrate) put them there
    stored = pgstac.queryables_of(None, sorted(queryables.PLATFORM))
    assert {name: d for name, (d, _own) in stored.items()} == queryables.PLATFORM


# --- The rules alone (no database) ------------------------------------------------------


def test_observed_kinds() -> None:
    items = [
        {"properties": {"a": 1, "b": "x", "c": "2021-01-01T00:00:00Z", "d": True, "e": None, "f": [1], "g": {}}},
        {"properties": {"a": 2.5, "b": "2021-02-30T00:00:00Z", "datetime": "2021-01-01T00:00:00Z", "x.y": 1}},
    ]
    assert queryables.observed_kinds(items) == {"a": {"number"}, "b": {"string"}, "c": {"date-time"}, "d": {"boolean"}}


def test_declarations_declare_widen_and_leave_others_alone() -> None:
    observed = {"new": {"number"}, "own": {"string"}, "shared": {"string"}, "ref": {"number"}, "fits": {"date-time"}}
    existing = {
        "own": ({"type": "number"}, True),
        "shared": ({"type": "number"}, False),  # for every collection, or several: an operator's
        "ref": ({"$ref": "https://example.org/schema.json"}, True),  # no type: nothing to judge
        "fits": ({"type": "string"}, True),
    }
    assert queryables.declarations(observed, existing) == {
        "new": ({"type": "number"}, None),
        "own": ({"type": ["number", "string"]}, "to_text"),
    }
    assert queryables.definition_of({"date-time", "string"}) == ({"type": "string"}, None)
    assert queryables.definition_of({"boolean", "number"}) == ({"type": ["boolean", "number"]}, "to_text")


_APP_WRITES = """
from catalog import services
from tests.catalog.conftest import make_collection, make_item
services.collection_upsert(collection=make_collection("roles-q"))
services.item_upsert(collection_id="roles-q", item=make_item("a", 1, 1, "2020-01-01T00:00:00Z", rank=10))
services.item_upsert(collection_id="roles-q", item=make_item("b", 1, 1, "2020-01-01T00:00:00Z", rank="x"))
"""


@pytest.mark.slow
@pytest.mark.django_db
def test_the_app_role_declares_and_widens_queryables() -> None:
    """Under the real roles (scripts/db.sh): migration 0005 ran as the owner, and the app role
    (pgstac_ingest) writes a collection's queryables as its items arrive."""
    with platform_database("gp_stacq") as (_names, env):
        result = subprocess.run(
            [".venv/bin/python", "manage.py", "shell", "-c", _APP_WRITES],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        with psycopg.connect(env["GEOPLATFORM_DATABASE_URL"]) as conn:
            rows = conn.execute(
                "SELECT name, definition, property_wrapper, collection_ids FROM pgstac.queryables"
                " WHERE name IN ('rank', 'eo:cloud_cover') ORDER BY name"
            ).fetchall()
    assert rows == [
        ("eo:cloud_cover", queryables.PLATFORM["eo:cloud_cover"], None, None),
        ("rank", {"type": ["number", "string"]}, "to_text", ["roles-q"]),
    ]


def test_queryables_derive_reads_the_stored_items(db: Any) -> None:
    """Items stored before the catalogue derived queryables (or loaded into pgSTAC directly)."""
    services.collection_upsert(collection=make_collection("q-old"))
    extra = [
        {"n": 3, "flag": True, "seen": "2021-01-01T00:00:00+02:00", "odd": "2021-02-30T00:00:00Z", "mixed": 1},
        {"n": 2.5, "flag": False, "seen": "2021-01-02T00:00:00Z", "odd": "2021-02-01T00:00:00Z", "mixed": "a"},
    ]
    docs = [
        make_item(f"old-{i}", 1, 1, "2020-01-01T00:00:00Z", **e) | {"collection": "q-old"} for i, e in enumerate(extra)
    ]
    pgstac.items_upsert(docs)  # straight into pgSTAC: nothing declared
    assert pgstac.queryables_of("q-old", ["n"]) == {}
    services.queryables_derive()
    found = pgstac.queryables_of("q-old", ["n", "flag", "seen", "odd", "mixed"])
    assert {name: d for name, (d, _own) in found.items()} == {
        "n": {"type": "number"},
        "flag": {"type": "boolean"},
        "seen": {"type": "string", "format": "date-time"},
        "odd": {"type": "string"},  # shaped like a date-time, but 30 February is no instant
        "mixed": {"type": ["number", "string"]},
    }
    assert queryables.observed_kinds(docs) == queryables.stored_kinds(
        pgstac.item_property_types("q-old", queryables.DATE_TIME_SHAPE)
    )


@pytest.mark.django_db
def test_strict_queryables_refuse_unknown_properties(api_client: APIClient, clouds: str) -> None:
    """pgSTAC's additional_properties = false: the document says so and a filter on a property
    no queryable declares is a 400 (OGC API Features Part 3), declared ones still work."""
    with connection.cursor() as cur:
        cur.execute("UPDATE pgstac.pgstac_settings SET value = 'false' WHERE name = 'additional_properties'")
    assert api_client.get(API + "queryables").json()["additionalProperties"] is False
    assert api_client.get(API + f"collections/{clouds}/queryables").json()["additionalProperties"] is False
    r = api_client.get(API + "search", {"filter": "nosuch:prop > 1"})
    assert r.status_code == 400 and "nosuch:prop" in r.json()["description"]
    r = api_client.post(API + "search", {"query": {"nosuch:prop": {"eq": 1}}}, format="json")
    assert r.status_code == 400
    assert _ids(api_client.get(API + "search", {"filter": "level > 9 AND eo:cloud_cover < 100"})) == ["c10"]


def test_an_indexed_queryable_is_the_operators(api_client: APIClient, clouds: str) -> None:
    """An operator's indexed row is never widened; PostgreSQL cannot index a value of another
    type, so such an item is refused (400) and nothing is written."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pgstac.upsert_queryable('level', '{\"type\": \"integer\"}', NULL, 'BTREE', ARRAY[%s])", [clouds]
        )
    with pytest.raises(InvalidStacDocument, match="double precision"):
        services.item_upsert(collection_id=clouds, item=make_item("c-x", 1, 1, "2021-01-01T00:00:00Z", level="x"))
    services.item_upsert(collection_id=clouds, item=make_item("c-7", 1, 1, "2021-01-01T00:00:00Z", level=7.5))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT definition->>'type', property_wrapper, property_index_type FROM pgstac.queryables"
            " WHERE name = 'level'"
        )
        assert cur.fetchall() == [("integer", None, "BTREE")]
    assert _ids(api_client.get(API + "search", {"sortby": "level"})) == ["c-7", "c9", "c10", "c100"]
