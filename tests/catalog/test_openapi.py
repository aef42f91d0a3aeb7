"""One OpenAPI document: /api/schema/ describes the STAC extensions and transactions and,
from the OGC document's own source, the features routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.reader]


def _schema(client: APIClient) -> dict[str, Any]:
    r = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    return json.loads(r.content)


def test_schema_has_the_stac_extension_parameters(api_client: APIClient) -> None:
    paths = _schema(api_client)["paths"]
    names = {p["name"] for p in paths["/api/stac/search"]["get"]["parameters"]}
    assert {"filter", "filter-lang", "sortby", "fields", "query", "q", "bbox", "token"} <= names
    items = {p["name"] for p in paths["/api/stac/collections/{collection_id}/items"]["get"]["parameters"]}
    assert {"filter", "sortby", "fields"} <= items
    assert {"bbox", "datetime", "q", "limit", "offset"} <= {
        p["name"] for p in paths["/api/stac/collections"]["get"]["parameters"]
    }
    from geoplatform.deployment import is_reader

    # The transactions' writes: documented on the writer; a reader lists only what it serves.
    writes = {"put", "patch", "delete"} & set(paths["/api/stac/collections/{collection_id}/items/{item_id}"])
    if is_reader():
        assert "post" not in paths["/api/stac/collections"] and not writes
    else:
        assert "post" in paths["/api/stac/collections"] and writes == {"put", "patch", "delete"}
    assert "/api/stac/queryables" in paths and "/api/stac/collections/{collection_id}/queryables" in paths


def test_schema_includes_the_features_routes_from_the_ogc_document(api_client: APIClient) -> None:
    schema = _schema(api_client)
    ogc = json.loads(api_client.get("/api/features/api?f=json").content)
    for path, item in ogc["paths"].items():
        if "{collectionId}" not in path and path.startswith("/collections/"):
            continue  # per-collection paths stay in the OGC document only
        merged = schema["paths"]["/api/features" + path]
        for method, operation in item.items():
            assert merged[method]["operationId"] == f"features_{operation['operationId']}"
            own = [p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in operation.get("parameters", [])]
            ours = [
                p.get("name") or p["$ref"].rsplit("/", 1)[-1].removeprefix("Features")
                for p in merged[method].get("parameters", [])
            ]
            assert ours == own, path  # the same parameters: one source
    refs = json.dumps(schema)
    for ref in {r.split('"')[0] for r in refs.split('"$ref": "#/components/')[1:]}:
        section, name = ref.split("/", 1)
        assert name in schema["components"][section], ref  # every reference resolves


def test_swagger_ui_serves_the_one_document(api_client: APIClient) -> None:
    r = api_client.get("/api/docs/")
    assert r.status_code == 200 and b"/api/schema/" in r.content
