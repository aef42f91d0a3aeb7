"""Real third-party STAC clients against a live server: stac-api-validator and pystac-client.

Tests never reach the internet: the JSON schemas the validator would download are served
from the copies bundled in the pystac wheel, and any other non-local request fails loudly.
"""

from __future__ import annotations

import gc
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pystac
import pytest
import requests
from requests.adapters import HTTPAdapter

from catalog import services

from .conftest import make_collection, make_item

SCHEMAS = Path(pystac.__file__).parent / "validation" / "jsonschemas"
COLLECTION = "validator-grid"
TRANSACTION_COLLECTION = "validator-transactions"
# Every conformance class the API declares that the validator can check.
VALIDATED_CLASSES = (
    "core",
    "collections",
    "features",
    "item-search",
    "filter",
    "item-search#sort",
    "item-search#fields",
    "item-search#query",
    # accepted by the validator but not checked yet (it says so): test_extensions.py checks them
    "features#sort",
    "features#fields",
    "features#query",
    "transaction",
)
QUERY_CONFIG = {
    "comparison-field": "eo:cloud_cover",
    "eq-value": "15",
    "neq-value": "15",
    "lt-value": "25",
    "lte-value": "25",
    "gt-value": "25",
    "gte-value": "25",
    "substring-field": "platform",
    "starts-with-value": "sat",
    "ends-with-value": "-1",
    "contains-value": "at-",
    # The validator reads the property as a collection of values: one-letter strings keep it right.
    "in-field": "band",
    "in-values": "a,b",
}


def _local_schema(url: str) -> Path | None:
    """https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json -> the bundled copy."""
    parsed = urlparse(url)
    name = parsed.path.rsplit("/", 1)[-1]
    if parsed.hostname == "schemas.stacspec.org":
        version = parsed.path.strip("/").split("/", 1)[0]
        path = SCHEMAS / "stac-spec" / version / name
    elif parsed.hostname == "geojson.org":
        path = SCHEMAS / "geojson" / name
    else:
        return None
    return path if path.is_file() else None


@pytest.fixture
def offline_schemas(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Serve schema URLs from pystac's bundled copies; refuse every other remote host."""
    real_send = HTTPAdapter.send
    refused: list[str] = []

    def send(self: HTTPAdapter, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        if urlparse(url).hostname in ("127.0.0.1", "localhost"):
            return real_send(self, request, *args, **kwargs)
        local = _local_schema(url)
        response = requests.Response()
        response.url, response.request = url, request
        if local is None:
            refused.append(url)
            response.status_code, response.raw = 404, io.BytesIO(b"offline test")
        else:
            response.status_code, response.raw = 200, io.BytesIO(local.read_bytes())
            response.headers["Content-Type"] = "application/schema+json"
        return response

    monkeypatch.setattr(HTTPAdapter, "send", send)
    return refused


@pytest.fixture
def validator_grid(transactional_db: Any) -> Iterator[str]:
    """26 items: 25 in a 5x5 degree grid over January 2020 (committed: the live server sees them)."""
    services.collection_upsert(collection=make_collection(COLLECTION))
    for i in range(26):
        # The last one lies far out, where the validator looks for an item to search by id.
        x, y = (float(i % 5), float(i // 5)) if i < 25 else (20.2, 20.2)
        # Properties for the query/fields/filter checks: a number, a string, free text.
        extra = {
            "eo:cloud_cover": (i % 5) * 10 + 5,
            "platform": f"sat-{i % 3}",
            "band": "abc"[i % 3],
            "title": f"Grid cell {i}",
        }
        services.item_upsert(
            collection_id=COLLECTION, item=make_item(f"g-{i:02d}", x, y, f"2020-01-{i + 1:02d}T12:00:00Z", **extra)
        )
    yield COLLECTION
    services.collection_delete(collection_id=COLLECTION)
    # Clients keep HTTP connections alive, and with them the live server's request threads
    # and their database sessions: collect the clients so the test database can be dropped.
    gc.collect()


@pytest.fixture
def transaction_target(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(a collection created through the transactions API, a token allowed to manage it)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token
    from stac_api_validator import validations

    # The validator waits 2 s after each write for eventually consistent back ends; pgSTAC
    # writes are visible at once, so its waits are skipped (tests do not sleep).
    monkeypatch.setattr(validations, "time", type("NoSleep", (), {"sleep": staticmethod(lambda seconds: None)}))
    user = get_user_model().objects.create_user("validator-manager")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="catalog", codename="manage_stac"))
    services.stac_collection_create(collection=make_collection(TRANSACTION_COLLECTION), user=user)
    yield TRANSACTION_COLLECTION, Token.objects.create(user=user).key
    services.stac_collection_delete(collection_id=TRANSACTION_COLLECTION, user=user)


@pytest.mark.timeout(240)
@pytest.mark.filterwarnings("ignore:get_all_items is deprecated:DeprecationWarning")
def test_stac_api_validator_passes(
    live_server: Any, validator_grid: str, transaction_target: tuple[str, str], offline_schemas: list[str]
) -> None:
    from click.testing import CliRunner
    from stac_api_validator.__main__ import main

    args = [
        "--root-url",
        f"{live_server.url}/api/stac/",
        "--collection",
        validator_grid,
        "--geometry",
        json.dumps({"type": "Point", "coordinates": [2.5, 2.5]}),
    ]
    for cc in VALIDATED_CLASSES:
        args += ["--conformance", cc]
    args += ["--fields-nested-property", "properties.eo:cloud_cover"]
    collection, token = transaction_target
    args += ["--transaction-collection", collection, "-H", f"Authorization: Token {token}"]
    for option, value in QUERY_CONFIG.items():
        args += [f"--query-{option}", value]
    result = CliRunner().invoke(main, args)
    output = result.output
    # The validator can exit 0 on failure: its printed verdict is what counts.
    assert "Errors: none" in output, output
    assert "returned 0 results" not in output, output  # every check found data to run on
    assert "Failed." not in output, output
    assert not offline_schemas, f"the validator tried to reach: {offline_schemas}"


def test_pystac_client_search_and_paging(live_server: Any, validator_grid: str) -> None:
    from pystac_client import Client

    client = Client.open(f"{live_server.url}/api/stac/")
    assert {c.id for c in client.get_collections()} >= {validator_grid, "system-rasters"}
    search = client.search(collections=[validator_grid], bbox=[0.5, 0.5, 2.5, 1.5], datetime="2020-01-01T00:00:00Z/..")
    assert sorted(item.id for item in search.items()) == ["g-00", "g-01", "g-02", "g-05", "g-06", "g-07"]
    # Paging: 26 items, 4 per page, followed through next links by the client (GET and POST).
    for method in ("GET", "POST"):
        paged = client.search(collections=[validator_grid], limit=4, method=method)
        ids = [item.id for item in paged.items()]
        assert sorted(ids) == [f"g-{i:02d}" for i in range(26)], method
        assert len(list(paged.pages())) == 7
    item = client.get_collection(validator_grid).get_item("g-03")
    assert item is not None and item.datetime is not None and item.datetime.day == 4
    client._stac_io.session.close()  # see validator_grid


def test_pystac_client_filter_sortby_fields_and_collection_search(live_server: Any, validator_grid: str) -> None:
    from pystac_client import Client

    client = Client.open(f"{live_server.url}/api/stac/")
    for lang, expression in [
        ("cql2-text", "eo:cloud_cover >= 35 AND platform = 'sat-1'"),
        (
            "cql2-json",
            {
                "op": "and",
                "args": [
                    {"op": ">=", "args": [{"property": "eo:cloud_cover"}, 35]},
                    {"op": "=", "args": [{"property": "platform"}, "sat-1"]},
                ],
            },
        ),
    ]:
        for method in ("GET", "POST"):
            search = client.search(
                collections=[validator_grid],
                filter=expression,
                filter_lang=lang,
                sortby="-properties.datetime",
                fields={"include": ["properties.eo:cloud_cover"], "exclude": []},
                method=method,
                limit=2,  # paged: the filter, sort and fields follow the next links
            )
            items = list(search.items_as_dicts())
            # cloud 35/45 (i % 5 in 3, 4) on sat-1 (i % 3 == 1): i = 4, 13, 19; newest first
            assert [i["id"] for i in items] == ["g-19", "g-13", "g-04"], (lang, method)
            assert all(set(i["properties"]) == {"eo:cloud_cover"} for i in items)
    found = client.collection_search(q="Test", limit=10)
    assert validator_grid in {c["id"] for c in found.collections_as_dicts()}
    client._stac_io.session.close()  # see validator_grid
