"""Writes to the STAC catalogue. Every pgSTAC call goes through :mod:`catalog.pgstac`.

Other apps (features, rasters, climate, publishing) call these; all are idempotent:
upserting the same document twice or deleting something already gone is not an error,
so publishing can upsert on approve and delete on revoke without bookkeeping.
"""

from __future__ import annotations

import copy
from typing import Any

from . import pgstac
from .errors import CollectionNotFound, InvalidSearch, InvalidStacDocument, SystemCollectionProtected

STAC_VERSION = "1.1.0"
API_LINK_RELS = frozenset({"self", "root", "parent", "collection"})

# Datasets published by the platform's own pipelines land in one of these.
SYSTEM_COLLECTIONS: dict[str, tuple[str, str]] = {
    "system-vectors": ("Vector datasets", "Vector datasets published by the platform (OGC API Features)."),
    "system-rasters": ("Raster datasets", "Cloud-optimised GeoTIFFs published by the platform."),
    "system-zarr": (
        "Zarr datasets",
        "Multidimensional (NetCDF/Zarr, virtual Zarr) datasets published by the platform.",
    ),
}


def _system_collection(collection_id: str) -> dict[str, Any]:
    title, description = SYSTEM_COLLECTIONS[collection_id]
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": collection_id,
        "title": title,
        "description": description,
        "license": "other",
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[None, None]]},
        },
        "links": [],
    }


def _require_id(document: Any, kind: str) -> str:
    if not isinstance(document, dict):
        raise InvalidStacDocument(f"A STAC {kind} must be a JSON object.")
    value = document.get("id")
    if not isinstance(value, str) or not value or "/" in value:
        raise InvalidStacDocument(
            f"The STAC {kind} needs an 'id': a non-empty string without '/'.", details={"id": value}
        )
    return value


def collection_upsert(*, collection: dict[str, Any]) -> None:
    """Create or replace a STAC collection (defaults: type, stac_version, links)."""
    _require_id(collection, "collection")
    doc = copy.deepcopy(collection)
    doc.setdefault("type", "Collection")
    doc.setdefault("stac_version", STAC_VERSION)
    doc.setdefault("links", [])
    missing = [key for key in ("description", "license", "extent") if key not in doc]
    if doc["type"] != "Collection" or missing:
        raise InvalidStacDocument(
            "Not a STAC collection: type must be 'Collection' and description, license, extent are required.",
            details={"type": doc["type"], "missing": missing},
        )
    pgstac.collection_upsert(doc)


def collection_delete(*, collection_id: str) -> bool:
    """Delete a collection with all its items; False if it did not exist."""
    if collection_id in SYSTEM_COLLECTIONS:
        raise SystemCollectionProtected(f"{collection_id!r} is a system collection and cannot be deleted.")
    return pgstac.collection_delete(collection_id)


def item_upsert(*, collection_id: str, item: dict[str, Any]) -> None:
    """Create or replace an item in an existing collection (cheap when nothing changed)."""
    doc = _item_document(collection_id, item)
    if not pgstac.collection_exists(collection_id):
        raise CollectionNotFound(f"No STAC collection {collection_id!r}; create it first.")
    pgstac.item_upsert(doc)


def _item_document(collection_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """A validated copy of ``item`` with the defaults filled in."""
    item_id = _require_id(item, "item")
    doc = copy.deepcopy(item)
    if doc.setdefault("collection", collection_id) != collection_id:
        raise InvalidStacDocument(
            f"Item {item_id!r} names collection {doc['collection']!r} but is being stored in {collection_id!r}."
        )
    doc.setdefault("type", "Feature")
    doc.setdefault("stac_version", STAC_VERSION)
    # The API adds its own navigation links on the way out (catalog.pgstac): stored copies would go stale.
    doc["links"] = [
        link for link in doc.get("links") or [] if not (isinstance(link, dict) and link.get("rel") in API_LINK_RELS)
    ]
    doc.setdefault("assets", {})
    props = doc.get("properties")
    if doc["type"] != "Feature" or not isinstance(props, dict) or "geometry" not in doc:
        raise InvalidStacDocument("Not a STAC item: type 'Feature', 'geometry' and 'properties' are required.")
    if props.get("datetime") is None and not (props.get("start_datetime") and props.get("end_datetime")):
        raise InvalidStacDocument(
            f"Item {item_id!r} needs properties.datetime, or start_datetime and end_datetime when datetime is null."
        )
    return doc


def items_upsert(*, collection_id: str, items: list[dict[str, Any]]) -> None:
    """Bulk :func:`item_upsert` (one pgSTAC call) for many items of one collection."""
    if not pgstac.collection_exists(collection_id):
        raise CollectionNotFound(f"No STAC collection {collection_id!r}; create it first.")
    docs = [_item_document(collection_id, item) for item in items]
    if docs:
        pgstac.items_upsert(docs)


def item_delete(*, collection_id: str, item_id: str) -> bool:
    """Delete one item; False if it was not there (so revoking twice is harmless)."""
    return pgstac.item_delete(collection_id, item_id)


def system_collections_ensure() -> None:
    """Create the system collections that are missing; existing ones are left untouched."""
    for collection_id in SYSTEM_COLLECTIONS:
        if not pgstac.collection_exists(collection_id):
            pgstac.collection_upsert(_system_collection(collection_id))


def search_register(*, search: dict[str, Any], metadata: dict[str, Any] | None = None) -> str:
    """Register a STAC search in pgSTAC and return its id (the same search and metadata -> the same id).

    ``metadata`` is free-form; mosaics read ``name``, ``minzoom`` and ``maxzoom`` from it.
    Paging keys (limit, token) are not part of a registered search.
    """
    if not isinstance(search, dict):
        raise InvalidSearch("A search must be a JSON object (collections, ids, bbox, datetime, ...).")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidSearch("Search metadata must be a JSON object.")
    doc = {k: v for k, v in search.items() if k not in {"limit", "token", "conf"}}
    return pgstac.search_register(doc, metadata or {})


def search_delete(*, search_id: str) -> bool:
    """Forget a registered search (its mosaic URL then answers 404); False if it was not there."""
    return pgstac.search_delete(search_id)
