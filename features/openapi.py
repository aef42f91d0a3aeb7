"""The features routes in the platform's one OpenAPI document (/api/schema/, Swagger UI).

The OGC API Features views are plain Django views (features/api.py says why), which
drf-spectacular does not enumerate. Their description has ONE source,
:func:`features.ogc.openapi_document`: /api/features/api serves it as the OGC clients expect
it (OWSLib, GDAL's OAPIF driver: servers, per-collection paths with their property
filters), and this drf-spectacular post-processing hook (SPECTACULAR_SETTINGS) mounts the same
paths, parameters and schemas under /api/features in the platform's document. A parameter or
path added to ``openapi_document`` appears in both with no other edit.

In /api/schema/ only the generic ``/collections/{collectionId}/...`` paths appear: the
document is generated without a database (``manage.py spectacular`` in CI), and per-collection
paths would make it change with every publication.
"""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse

from . import ogc

TAG = "features"
# Names of the OGC document's components in the merged document (they must not clash).
_PREFIX = "Features"


def merged_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths under the features mount point, components) of the OGC document, with
    component names and operation ids prefixed so they cannot clash with the others'."""
    mount = reverse("features:landing").rstrip("/")
    doc = ogc.openapi_document([], mount)
    text = json.dumps({"paths": doc["paths"], "components": doc.get("components", {})})
    for section in ("parameters", "schemas", "responses"):
        text = text.replace(f'"#/components/{section}/', f'"#/components/{section}/{_PREFIX}')
    merged = json.loads(text)
    paths: dict[str, Any] = {}
    for path, item in merged["paths"].items():
        for operation in item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                operation["operationId"] = f"features_{operation['operationId']}"
                operation["tags"] = [TAG]
        paths[mount + path] = item
    components = {
        section: {f"{_PREFIX}{name}": value for name, value in entries.items()}
        for section, entries in merged["components"].items()
    }
    return paths, components


def include_features_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: add the features routes to the schema."""
    paths, components = merged_paths()
    result.setdefault("paths", {}).update(paths)
    for section, entries in components.items():
        result.setdefault("components", {}).setdefault(section, {}).update(entries)
    tags = result.setdefault("tags", [])
    if not any(t.get("name") == TAG for t in tags):
        tags.append({"name": TAG, "description": "OGC API Features (also at /api/features/api for OGC clients)."})
    return result
