"""Writes to the STAC catalogue. Every pgSTAC call goes through :mod:`catalog.pgstac`.

Other apps (features, rasters, climate, publishing) call these; all are idempotent:
upserting the same document twice or deleting something already gone is not an error,
so publishing can upsert on approve and delete on revoke without bookkeeping.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from django.db import transaction

from . import pgstac, queryables
from .errors import (
    AlreadyExists,
    CollectionNotFound,
    InvalidSearch,
    InvalidStacDocument,
    ItemNotFound,
    PlatformOwned,
    SystemCollectionProtected,
)
from .models import StacTransaction

STAC_VERSION = "1.1.0"
API_LINK_RELS = frozenset({"self", "root", "parent", "collection"})
COLLECTION_API_RELS = API_LINK_RELS | {"items", "http://www.opengis.net/def/rel/ogc/1.0/queryables"}

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
    collection_id = _require_id(collection, "collection")
    if transaction_owned(collection_id=collection_id):
        # Both ways: a pipeline must not overwrite what an operator manages through transactions.
        raise AlreadyExists(
            f"Collection {collection_id!r} is managed through the STAC transactions API; choose another id."
        )
    pgstac.collection_upsert(_collection_document(collection))


def _collection_document(collection: dict[str, Any]) -> dict[str, Any]:
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
    # The API adds its own navigation links on the way out (catalog.pgstac): stored copies would go stale.
    doc["links"] = [
        link for link in doc["links"] if not (isinstance(link, dict) and link.get("rel") in COLLECTION_API_RELS)
    ]
    return doc


def collection_delete(*, collection_id: str) -> bool:
    """Delete a collection with all its items; False if it did not exist."""
    if collection_id in SYSTEM_COLLECTIONS:
        raise SystemCollectionProtected(f"{collection_id!r} is a system collection and cannot be deleted.")
    if transaction_owned(collection_id=collection_id):
        # Not the pipeline's (its upsert of this id was refused): a job's cleanup leaves it alone.
        return False
    return pgstac.collection_delete(collection_id)


def item_upsert(*, collection_id: str, item: dict[str, Any]) -> None:
    """Create or replace an item in an existing collection (cheap when nothing changed)."""
    doc = _item_document(collection_id, item)
    if not pgstac.collection_exists(collection_id):
        raise CollectionNotFound(f"No STAC collection {collection_id!r}; create it first.")
    _items_store(collection_id, [doc])


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
        _items_store(collection_id, docs)


def _items_store(collection_id: str, docs: list[dict[str, Any]]) -> None:
    """Upsert validated items of one collection and declare the types of their properties
    (see :mod:`catalog.queryables`), in one transaction."""
    with transaction.atomic():
        try:
            if len(docs) == 1:
                pgstac.item_upsert(docs[0])
            else:
                pgstac.items_upsert(docs)
        except pgstac.BadItem as exc:
            raise InvalidStacDocument(
                f"A property value does not fit the type an indexed queryable of {collection_id!r} declares: {exc}"
                " (see /queryables)."
            ) from exc
        _queryables_declare(collection_id, queryables.observed_kinds(docs))


def _queryables_declare(collection_id: str, observed: dict[str, set[str]]) -> None:
    """Write the queryables of one collection that the items' values call for. Needs a
    transaction: the rows that change are read again under pgSTAC's lock before the write."""
    if not observed:
        return
    changes = queryables.declarations(observed, pgstac.queryables_of(collection_id, sorted(observed)))
    if not changes:
        return  # the usual case: one read
    pgstac.queryables_lock(list(changes))
    existing = pgstac.queryables_of(collection_id, sorted(changes))
    for name, (definition, wrapper) in queryables.declarations({n: observed[n] for n in changes}, existing).items():
        pgstac.queryable_upsert(name, definition, collection_id, wrapper)


def item_delete(*, collection_id: str, item_id: str) -> bool:
    """Delete one item; False if it was not there (so revoking twice is harmless)."""
    return pgstac.item_delete(collection_id, item_id)


def system_collections_ensure() -> None:
    """Create the system collections that are missing; existing ones are left untouched."""
    for collection_id in SYSTEM_COLLECTIONS:
        if not pgstac.collection_exists(collection_id):
            pgstac.collection_upsert(_system_collection(collection_id))


def platform_queryables_ensure() -> int:
    """Declare :data:`catalog.queryables.PLATFORM` for every collection where the stored row
    differs (idempotent: nothing is written when all are in place). Returns how many changed."""
    stored = pgstac.queryables_of(None, sorted(queryables.PLATFORM))
    changed = 0
    with transaction.atomic():
        for name, definition in queryables.PLATFORM.items():
            if stored.get(name, (None, False))[0] != definition:
                pgstac.queryable_upsert(name, definition, None, None)
                changed += 1
    return changed


def queryables_derive(*, collection_id: str | None = None) -> None:
    """Declare the queryables of one collection (None: of each) from the items it already
    holds, as item writes do: for items stored before the catalogue derived them (migration
    0005), or after an operator loaded items into pgSTAC directly."""
    ids = [collection_id] if collection_id is not None else [cid for cid, _title in pgstac.collection_titles()]
    for cid in ids:
        rows = pgstac.item_property_types(cid, queryables.DATE_TIME_SHAPE)
        with transaction.atomic():
            _queryables_declare(cid, queryables.stored_kinds(rows))


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


# --- STAC Transactions API ------------------------------------------------------------------
# Operators (catalog.manage_stac) create, replace, patch and delete collections and items
# through /api/stac. They manage only what they created there: a collection the platform's
# pipelines publish (system collections, raster collections, ...) answers 409 and its data
# changes through the platform's jobs and releases, so a transaction never bypasses review,
# publishing or their audit. Every change is one StacTransaction row (who, what, before, after).


def transaction_owned(*, collection_id: str) -> bool:
    """Whether the transactions API created this collection (and has not deleted it since)."""
    last = (
        StacTransaction.objects.filter(kind=StacTransaction.Kind.COLLECTION, collection_id=collection_id)
        .order_by("-id")
        .values_list("action", flat=True)
        .first()
    )
    return last is not None and last != StacTransaction.Action.DELETE


def _require_managed(collection_id: str) -> None:
    """404 if there is no such collection, 409 if the platform publishes it."""
    if not pgstac.collection_exists(collection_id):
        raise CollectionNotFound(f"No STAC collection {collection_id!r}.")
    if not transaction_owned(collection_id=collection_id):
        raise PlatformOwned(
            f"Collection {collection_id!r} is published by the platform's pipelines: change its data through "
            "the platform's jobs and releases (/api/jobs, /api/platform), not the STAC transactions API.",
            details={"collection_id": collection_id},
        )


def _actor(user: Any) -> tuple[str, Any]:
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return (getattr(user, "username", "") or "system") if authenticated else "system", user if authenticated else None


def _audit(
    *,
    user: Any,
    action: str,
    kind: str,
    collection_id: str,
    item_id: str = "",
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    actor, actor_user = _actor(user)
    StacTransaction.objects.create(
        actor=actor,
        actor_user=actor_user,
        action=action,
        kind=kind,
        collection_id=collection_id,
        item_id=item_id,
        before=before,
        after=after,
    )


def _audited_upsert(
    *,
    user: Any,
    action: str,
    collection_id: str,
    item_id: str = "",
    document: Callable[[dict[str, Any] | None], dict[str, Any]],
) -> dict[str, Any]:
    """The replace and update of a managed collection (no ``item_id``) or of one of its items,
    as one database transaction: 404/409 unless the transactions API manages the collection
    (and, for an item, 404 unless it exists), the stored document before, the upsert of
    ``document(before)``, and its audit row. Returns the document written."""
    with transaction.atomic():
        _require_managed(collection_id)
        before = _stored_item(collection_id, item_id) if item_id else pgstac.collection_get(collection_id)
        doc = document(before)
        if item_id:
            _items_store(collection_id, [doc])
        else:
            pgstac.collection_upsert(doc)
        _audit(
            user=user,
            action=action,
            kind="item" if item_id else "collection",
            collection_id=collection_id,
            item_id=item_id,
            before=before,
            after=doc,
        )
    return doc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, null removes a member."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _check_path_id(document: dict[str, Any], key: str, expected: str, kind: str) -> None:
    if document.get(key, expected) != expected:
        raise InvalidStacDocument(
            f"The {kind}'s {key!r} is {document.get(key)!r} but the URL names {expected!r}; they must agree."
        )


def stac_collection_create(*, collection: Any, user: Any) -> dict[str, Any]:
    """POST /collections: a new collection managed through transactions (409 if the id is taken)."""
    collection_id = _require_id(collection, "collection")
    doc = _collection_document(collection)
    with transaction.atomic():
        if pgstac.collection_exists(collection_id):
            if transaction_owned(collection_id=collection_id):
                raise AlreadyExists(
                    f"Collection {collection_id!r} exists; replace it with PUT or change it with PATCH."
                )
            _require_managed(collection_id)  # the platform's: 409 saying so
        pgstac.collection_upsert(doc)
        _audit(user=user, action="create", kind="collection", collection_id=collection_id, before=None, after=doc)
    return doc


def stac_collection_replace(*, collection_id: str, collection: Any, user: Any) -> dict[str, Any]:
    """PUT /collections/{id}: replace the whole document (its items stay)."""
    if not isinstance(collection, dict):
        raise InvalidStacDocument("A STAC collection must be a JSON object.")
    _check_path_id(collection, "id", collection_id, "collection")
    doc = _collection_document({**collection, "id": collection_id})
    return _audited_upsert(user=user, action="replace", collection_id=collection_id, document=lambda before: doc)


def stac_collection_update(*, collection_id: str, patch: Any, user: Any) -> dict[str, Any]:
    """PATCH /collections/{id}: a JSON merge patch (RFC 7396) of the stored document."""
    if not isinstance(patch, dict):
        raise InvalidStacDocument("A PATCH body is a JSON object (a merge patch).")
    _check_path_id(patch, "id", collection_id, "collection")
    return _audited_upsert(
        user=user,
        action="update",
        collection_id=collection_id,
        document=lambda before: _collection_document(merge_patch(before, patch)),
    )


def stac_collection_delete(*, collection_id: str, user: Any) -> None:
    """DELETE /collections/{id}: the collection and all its items."""
    with transaction.atomic():
        _require_managed(collection_id)
        before = pgstac.collection_get(collection_id)
        pgstac.collection_delete(collection_id)
        _audit(user=user, action="delete", kind="collection", collection_id=collection_id, before=before, after=None)


def stac_items_create(*, collection_id: str, body: Any, user: Any) -> list[dict[str, Any]]:
    """POST /collections/{id}/items: one Item, or a FeatureCollection of them (all or none)."""
    if isinstance(body, dict) and body.get("type") == "FeatureCollection":
        features = body.get("features")
        if not isinstance(features, list) or not features:
            raise InvalidStacDocument("A FeatureCollection to create needs a non-empty 'features' array.")
    else:
        features = [body]
    docs = []
    for feature in features:
        if not isinstance(feature, dict):
            raise InvalidStacDocument("Each item must be a JSON object (a STAC Item).")
        docs.append(_item_document(collection_id, feature))
    ids = [doc["id"] for doc in docs]
    if len(set(ids)) != len(ids):
        raise InvalidStacDocument("The items to create repeat an id.", details={"ids": ids})
    with transaction.atomic():
        _require_managed(collection_id)
        existing = [i for i in ids if pgstac.item_get(collection_id, i) is not None]
        if existing:
            raise AlreadyExists(
                f"Item(s) {', '.join(existing[:10])} already exist in {collection_id!r}; replace them with PUT.",
                details={"ids": existing},
            )
        _items_store(collection_id, docs)
        for doc in docs:
            _audit(
                user=user,
                action="create",
                kind="item",
                collection_id=collection_id,
                item_id=doc["id"],
                before=None,
                after=doc,
            )
    return docs


def _stored_item(collection_id: str, item_id: str) -> dict[str, Any]:
    found = pgstac.item_get(collection_id, item_id)
    if found is None:
        raise ItemNotFound(f"No item {item_id!r} in collection {collection_id!r}.")
    return found


def stac_item_replace(*, collection_id: str, item_id: str, item: Any, user: Any) -> dict[str, Any]:
    """PUT /collections/{cid}/items/{id}: replace an existing item."""
    if not isinstance(item, dict):
        raise InvalidStacDocument("A STAC item must be a JSON object.")
    _check_path_id(item, "id", item_id, "item")
    doc = _item_document(collection_id, {**item, "id": item_id})
    return _audited_upsert(
        user=user, action="replace", collection_id=collection_id, item_id=item_id, document=lambda before: doc
    )


def stac_item_update(*, collection_id: str, item_id: str, patch: Any, user: Any) -> dict[str, Any]:
    """PATCH /collections/{cid}/items/{id}: a JSON merge patch (RFC 7396) of the stored item."""
    if not isinstance(patch, dict):
        raise InvalidStacDocument("A PATCH body is a JSON object (a merge patch).")
    _check_path_id(patch, "id", item_id, "item")
    _check_path_id(patch, "collection", collection_id, "item")
    return _audited_upsert(
        user=user,
        action="update",
        collection_id=collection_id,
        item_id=item_id,
        document=lambda before: _item_document(collection_id, merge_patch(before, patch)),
    )


def stac_item_delete(*, collection_id: str, item_id: str, user: Any) -> bool:
    """DELETE /collections/{cid}/items/{id}; False (and nothing audited) if it was not there."""
    with transaction.atomic():
        _require_managed(collection_id)
        before = pgstac.item_get(collection_id, item_id)
        if before is None:
            return False
        pgstac.item_delete(collection_id, item_id)
        _audit(
            user=user,
            action="delete",
            kind="item",
            collection_id=collection_id,
            item_id=item_id,
            before=before,
            after=None,
        )
    return True
