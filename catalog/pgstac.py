"""The one module that talks to pgSTAC (installed and upgraded by pypgstac).

pgSTAC functions use unqualified names; the Django connection's search_path includes
``pgstac`` (see settings), and pypgstac's own connection sets it too.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from django.db import DatabaseError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from geoplatform.health import Unhealthy


def dsn_for(conn: BaseDatabaseWrapper) -> str:
    """A libpq DSN for the same database as a Django connection."""
    s = conn.settings_dict
    parts = {"dbname": s["NAME"], "user": s["USER"], "password": s["PASSWORD"], "host": s["HOST"], "port": s["PORT"]}
    return " ".join(f"{k}='{v}'" for k, v in parts.items() if v)


def migrate(conn: BaseDatabaseWrapper | None = None) -> str:
    """Install or upgrade pgSTAC (needs a superuser: it creates extensions and roles)."""
    # Imported here: pypgstac's migrator is needed only to install pgSTAC.
    from pypgstac.db import PgstacDB
    from pypgstac.migrate import Migrate

    pools: list[Any] = []

    class _TrackedDB(PgstacDB):  # type: ignore[misc]
        # pypgstac's disconnect() forgets its pool without closing it, and the next call
        # opens another: track them all so no idle session outlives the migration (it
        # would keep the test database from being dropped).
        def get_pool(self) -> Any:
            pool = super().get_pool()
            if pool not in pools:
                pools.append(pool)
            return pool

    target = conn or connection
    # pgSTAC's migration grants cluster-wide roles: two databases migrating at once
    # (parallel test runs) can clash ("tuple concurrently updated"). Advisory locks only
    # conflict within one database, so take it in the cluster's `postgres` database.
    s = target.settings_dict
    lock_conn = psycopg.connect(
        dbname="postgres",
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        autocommit=True,
    )
    db = _TrackedDB(dsn=dsn_for(target))
    try:
        lock_conn.execute("SELECT pg_advisory_lock(hashtext('geoplatform.pgstac.migrate'))")
        result = str(Migrate(db).run_migration())
        free_text_fix(target)  # an upgrade re-creates the function: fix it again
        return result
    finally:
        if db.connection is not None:
            db.connection.close()  # checked out: pool.close() would leave it open
        for pool in pools:
            pool.close()
        lock_conn.close()  # releases the advisory lock


# pgSTAC's free-text search (q) matches the tsvector of description || title || keywords, but
# to_tsvector(NULL) is NULL and NULL || anything is NULL: an item without a description never
# matches, whatever its title or keywords say. The fix coalesces the description like the
# other two. Applied to pgSTAC's own function text (so an upgrade that rewrites or fixes the
# function is followed), by the catalog migrations and after every pgSTAC migration.
_FREE_TEXT_BUG = "to_tsvector('english', content->'properties'->>'description')"
_FREE_TEXT_FIX = "to_tsvector('english', coalesce(content->'properties'->>'description', ''))"


def free_text_fix(conn: BaseDatabaseWrapper | None = None) -> bool:
    """Patch stac_search_to_where() (see above); False when there is nothing to patch."""
    with (conn or connection).cursor() as cur:
        cur.execute("SELECT pg_get_functiondef('pgstac.stac_search_to_where(jsonb)'::regprocedure)")
        (definition,) = cur.fetchone()
        if _FREE_TEXT_BUG not in definition:
            return False
        cur.execute(definition.replace(_FREE_TEXT_BUG, _FREE_TEXT_FIX))
    return True


def version() -> str | None:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regproc('pgstac.get_version') IS NOT NULL")
        (installed,) = cur.fetchone()
        if not installed:
            return None
        cur.execute("SELECT pgstac.get_version()")
        (value,) = cur.fetchone()
    return str(value)


def health() -> dict[str, Any]:
    found = version()
    if found is None:
        raise Unhealthy("pgSTAC is not installed (run `manage.py migrate`)")
    return {"version": found}


# --- Writes ------------------------------------------------------------------------------
# pgSTAC's upsert functions compare the stored row with the new one and only rewrite what
# changed, so calling them again with the same document is cheap (publishing re-approves).


def collection_exists(collection_id: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM pgstac.collections WHERE id = %s)", [collection_id])
        (found,) = cur.fetchone()
    return bool(found)


def collection_upsert(collection: dict[str, Any]) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pgstac.upsert_collection(%s::jsonb)", [json.dumps(collection)])


def collection_delete(collection_id: str) -> bool:
    """Delete a collection and its items (pgSTAC drops the partition). False if absent."""
    # pgstac.delete_collection() raises on a missing id; the lock keeps check and delete together.
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pgstac.collections WHERE id = %s FOR UPDATE", [collection_id])
        if cur.fetchone() is None:
            return False
        cur.execute("SELECT pgstac.delete_collection(%s)", [collection_id])
    return True


class BadItem(Exception):
    """PostgreSQL refused an item's value (class 22): an index an operator asked pgSTAC to
    build on a queryable (e.g. to_float of a number) cannot hold a value of another type."""


def _upsert_items(sql: str, document: Any) -> None:
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [json.dumps(document)])
    except DatabaseError as exc:
        if _sqlstate(exc).startswith("22"):
            raise BadItem(str(exc).splitlines()[0]) from exc
        raise


def item_upsert(item: dict[str, Any]) -> None:
    _upsert_items("SELECT pgstac.upsert_item(%s::jsonb)", item)


def item_delete(collection_id: str, item_id: str) -> bool:
    """Delete one item; False if it was not there (pgstac.delete_item() would raise)."""
    with connection.cursor() as cur:
        cur.execute("DELETE FROM pgstac.items WHERE collection = %s AND id = %s", [collection_id, item_id])
        return cur.rowcount > 0


# --- Reads (documents as stored: no API links) -------------------------------------------


def collection_get(collection_id: str) -> dict[str, Any] | None:
    with connection.cursor() as cur:
        cur.execute("SELECT content FROM pgstac.collections WHERE id = %s", [collection_id])
        row = cur.fetchone()
    return _as_dict(row[0]) if row else None


def item_get(collection_id: str, item_id: str) -> dict[str, Any] | None:
    with connection.cursor() as cur:
        # get_item() hydrates the item from the collection's base item (pgSTAC dehydrates on write).
        cur.execute("SELECT pgstac.get_item(%s, %s)", [item_id, collection_id])
        row = cur.fetchone()
    return _as_dict(row[0]) if row and row[0] is not None else None


def item_property_values(collection_id: str, name: str) -> list[Any]:
    """The distinct values of one property over a collection's items, None for items
    without it (rows keep their own properties: only assets and the like are dehydrated)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT content->'properties'->>%s FROM pgstac.items WHERE collection = %s",
            [name, collection_id],
        )
        return [row[0] for row in cur.fetchall()]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


# --- STAC API documents, built inside PostgreSQL ------------------------------------------
# The API writes these JSON texts straight into the HTTP response: items are never decoded
# and re-encoded in Python. ``base`` is the API root URL ending in '/'.

_KEEP_LINKS = "('self', 'parent', 'collection', 'root', 'items', 'http://www.opengis.net/def/rel/ogc/1.0/queryables')"


def _item_links_sql(doc: str) -> str:
    """SQL for ``doc`` (a jsonb item) with the API's self/parent/collection/root links.

    Stored items never hold these relations (:func:`catalog.services.item_upsert` drops
    them), so the API's are appended without filtering.
    """
    return f"""({doc} || jsonb_build_object('links',
        coalesce({doc}->'links', '[]'::jsonb)
        || jsonb_build_array(
            jsonb_build_object('rel', 'self', 'type', 'application/geo+json',
                'href', %(base)s || 'collections/' || ({doc}->>'collection') || '/items/' || ({doc}->>'id')),
            jsonb_build_object('rel', 'parent', 'type', 'application/json',
                'href', %(base)s || 'collections/' || ({doc}->>'collection')),
            jsonb_build_object('rel', 'collection', 'type', 'application/json',
                'href', %(base)s || 'collections/' || ({doc}->>'collection')),
            jsonb_build_object('rel', 'root', 'type', 'application/json', 'href', %(base)s))))"""


# Hydration of one item returned by search() with conf.nohydrate (it then carries its
# collection's base item under "pgstac:base_item"). pgSTAC's own hydration is a recursive
# merge_jsonb() per item and costs more than the rest of a search put together. When the
# base item has no assets (a collection without item_assets: all of ours), the base holds
# only scalars (type, stac_version, collection), and the recursive merge reduces exactly to
# a top-level merge followed by jsonb_strip_nulls(); otherwise pgSTAC's merge_jsonb() runs.
def _hydrate_sql(f: str) -> str:
    return f"""CASE
    WHEN jsonb_typeof({f}->'pgstac:base_item'->'assets') IS DISTINCT FROM 'object'
    THEN jsonb_strip_nulls((coalesce({f}->'pgstac:base_item', '{{}}'::jsonb) - 'assets') || ({f} - 'pgstac:base_item'))
    ELSE pgstac.merge_jsonb({f} - 'pgstac:base_item', {f}->'pgstac:base_item')
END"""


def _collection_links_sql(doc: str) -> str:
    return f"""({doc} || jsonb_build_object('links',
        coalesce((SELECT jsonb_agg(l) FROM jsonb_array_elements({doc}->'links') l
                  WHERE l->>'rel' NOT IN {_KEEP_LINKS}), '[]'::jsonb)
        || jsonb_build_array(
            jsonb_build_object('rel', 'self', 'type', 'application/json',
                'href', %(base)s || 'collections/' || ({doc}->>'id')),
            jsonb_build_object('rel', 'parent', 'type', 'application/json', 'href', %(base)s),
            jsonb_build_object('rel', 'root', 'type', 'application/json', 'href', %(base)s),
            jsonb_build_object('rel', 'items', 'type', 'application/geo+json',
                'href', %(base)s || 'collections/' || ({doc}->>'id') || '/items'),
            jsonb_build_object('rel', 'http://www.opengis.net/def/rel/ogc/1.0/queryables',
                'type', 'application/schema+json',
                'href', %(base)s || 'collections/' || ({doc}->>'id') || '/queryables'))))"""


def _search_sql(hydrate: str) -> str:
    """pgSTAC's search() with each item given the API's links; ``hydrate`` is the SQL of one
    item (``t.f``) as returned. Items without id or collection (``fields`` can drop them) keep
    no links: there is nothing to point them at."""
    return f"""
WITH r AS (SELECT pgstac.search(%(search)s::jsonb) AS fc)
SELECT
    ((r.fc - 'links') || jsonb_build_object('features', coalesce(
        (SELECT jsonb_agg(CASE WHEN h.doc ? 'id' AND h.doc ? 'collection'
                               THEN {_item_links_sql("h.doc")} ELSE h.doc END ORDER BY t.n)
         FROM jsonb_array_elements(r.fc->'features') WITH ORDINALITY AS t(f, n),
              LATERAL (SELECT {hydrate} AS doc) AS h),
        '[]'::jsonb)))::text,
    (SELECT substring(l->>'href' from 'token=(next:[^&]+)') FROM jsonb_array_elements(r.fc->'links') l
     WHERE l->>'rel' = 'next' LIMIT 1),
    (SELECT substring(l->>'href' from 'token=(prev:[^&]+)') FROM jsonb_array_elements(r.fc->'links') l
     WHERE l->>'rel' = 'prev' LIMIT 1)
FROM r
"""


_SEARCH_SQL = _search_sql(_hydrate_sql("t.f"))
# With the fields extension pgSTAC hydrates and applies include/exclude itself (its
# non-hydrated form ignores fields): the items come back final.
_SEARCH_FIELDS_SQL = _search_sql("t.f")

# pgSTAC's messages for a token that is malformed or names an item that no longer exists.
_TOKEN_ERRORS = ("Invalid paging token", "Could not find item using token")
# SQLSTATEs of errors a search document itself causes while pgSTAC turns it into SQL and runs
# it: its own checks (RAISE: P0001), bad literals for a property's type (class 22), operators
# that do not apply to the operands' types (42883, 42804). Anything else is a server fault.
_SEARCH_INPUT_STATES = ("P0001", "22", "42883", "42804")


class BadToken(Exception):
    """pgSTAC rejected the paging token."""


class BadSearch(Exception):
    """pgSTAC refused the search (a filter, sortby, query or q it cannot evaluate)."""


def _sqlstate(exc: BaseException) -> str:
    return str(getattr(exc.__cause__, "sqlstate", None) or getattr(exc, "sqlstate", None) or "")


def _caused_by_search(exc: BaseException) -> bool:
    """Whether the search document itself made pgSTAC fail (see _SEARCH_INPUT_STATES); free
    text that is no valid tsquery (q="&") is a syntax error (42601) in to_tsquery()."""
    state = _sqlstate(exc)
    return state.startswith(_SEARCH_INPUT_STATES) or (state == "42601" and "tsquery" in str(exc))


def search(search: dict[str, Any], base: str) -> tuple[str, str | None, str | None]:
    """Run pgSTAC's ``search()``: (FeatureCollection JSON without top-level links, next, prev).

    pgSTAC's own links only carry the token (they drop bbox, datetime, ...), so the caller
    builds the top-level links from the returned tokens.
    """
    if search.get("fields"):
        sql, document = _SEARCH_FIELDS_SQL, search
    else:
        sql, document = _SEARCH_SQL, {**search, "conf": {"nohydrate": True}}
    try:
        # A savepoint/transaction so a rejected token cannot poison an outer transaction.
        with transaction.atomic(), connection.cursor() as cur:
            # search() records every query in pgstac.searches (a write): that row is a
            # statistics cache, so its commit need not wait for the WAL flush. A page is a
            # few ms of work: starting a parallel worker for it costs more than it saves.
            cur.execute(
                "SELECT set_config('synchronous_commit', 'off', true),"
                " set_config('max_parallel_workers_per_gather', '0', true)"
            )
            cur.execute(sql, {"search": json.dumps(document), "base": base})
            body, next_token, prev_token = cur.fetchone()
    except DatabaseError as exc:
        if any(message in str(exc) for message in _TOKEN_ERRORS):
            raise BadToken(str(exc).splitlines()[0]) from exc
        if _caused_by_search(exc):
            raise BadSearch(str(exc).splitlines()[0]) from exc
        raise
    return body, next_token, prev_token


def item_document(collection_id: str, item_id: str, base: str) -> str | None:
    sql = f"SELECT {_item_links_sql('i.doc')}::text FROM (SELECT pgstac.get_item(%(id)s, %(collection)s) AS doc) i WHERE i.doc IS NOT NULL"
    with connection.cursor() as cur:
        cur.execute(sql, {"id": item_id, "collection": collection_id, "base": base})
        row = cur.fetchone()
    return row[0] if row else None


def collection_document(collection_id: str, base: str) -> str | None:
    sql = f"SELECT {_collection_links_sql('c.content')}::text FROM pgstac.collections c WHERE c.id = %(id)s"
    with connection.cursor() as cur:
        cur.execute(sql, {"id": collection_id, "base": base})
        row = cur.fetchone()
    return row[0] if row else None


def collections_document(base: str) -> str:
    """The JSON array of every collection (with API links), ordered by id."""
    sql = f"SELECT coalesce(jsonb_agg({_collection_links_sql('c.content')} ORDER BY c.id), '[]'::jsonb)::text FROM pgstac.collections c"
    with connection.cursor() as cur:
        cur.execute(sql, {"base": base})
        (body,) = cur.fetchone()
    return str(body)


def queryables(collection_id: str | None) -> dict[str, Any] | None:
    """pgSTAC's queryables (JSON Schema) of one collection or of all; None if no such collection.

    ``additionalProperties`` is pgSTAC's setting ``additional_properties`` (default true), which
    also decides whether a filter may name a property no queryable declares (false: pgSTAC
    refuses it, "Term ... is not found in queryables"). pgSTAC answers NULL for every
    collection while there is none: then a document without properties, with the same setting.
    """
    with connection.cursor() as cur:
        cur.execute(
            "SELECT coalesce(pgstac.get_queryables(%(c)s::text), CASE WHEN %(c)s::text IS NULL THEN"
            " jsonb_build_object('type', 'object', 'properties', '{}'::jsonb,"
            " 'additionalProperties', pgstac.additional_properties()) END)",
            {"c": collection_id},
        )
        (value,) = cur.fetchone()
    return _as_dict(value) if value is not None else None


# --- Queryables (the types pgSTAC reads properties as; rules in catalog/queryables.py) -----
# upsert_queryable() replaces every row of the name that overlaps the collections given (a
# row for every collection overlaps all), and a new row makes pgSTAC re-check the indexes of
# the partitions it reaches: callers write only the rows that change.


def queryables_of(collection_id: str | None, names: list[str]) -> dict[str, tuple[dict[str, Any] | None, bool]]:
    """name -> (definition, whether the catalogue may widen the row: this collection's alone and
    not indexed) for the rows of these names a search of ``collection_id`` reads; with None,
    only the rows for every collection. An indexed row is an operator's choice: re-declaring it
    would rebuild the index over the whole partition during an item write."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT name, definition,"
            " coalesce(collection_ids = ARRAY[%(c)s::text] AND property_index_type IS NULL, false)"
            " FROM pgstac.queryables"
            " WHERE name = ANY(%(names)s) AND (collection_ids IS NULL OR %(c)s::text = ANY(collection_ids))",
            {"c": collection_id, "names": names},
        )
        return {name: (_as_dict(d) if d is not None else None, bool(own)) for name, d, own in cur.fetchall()}


def item_property_types(collection_id: str, date_time_shape: str) -> list[tuple[str, str, str | None]]:
    """(property, JSON type, text) over the stored items of a collection, each once: the text
    only for strings of ``date_time_shape`` (a regex), so the caller can check each instant."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT p.key, jsonb_typeof(p.value), CASE WHEN jsonb_typeof(p.value) = 'string'"
            " AND p.value #>> '{}' ~ %(shape)s THEN p.value #>> '{}' END"
            " FROM pgstac.items i, jsonb_each(i.content->'properties') p WHERE i.collection = %(c)s GROUP BY 1, 2, 3",
            {"c": collection_id, "shape": date_time_shape},
        )
        return [(str(k), str(t), v) for k, t, v in cur.fetchall()]


def queryables_lock(names: list[str]) -> None:
    """Hold, until the transaction ends, pgSTAC's own lock on writers of these queryables
    (upsert_queryable takes the same), in one order so two writers cannot deadlock."""
    with connection.cursor() as cur:
        for name in sorted(names):
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])


def queryable_upsert(name: str, definition: dict[str, Any], collection_id: str | None, wrapper: str | None) -> None:
    """Declare (or re-declare) one queryable for one collection, or for all with None. A row
    this replaces for the same collection keeps its index type and property path."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT pgstac.upsert_queryable(%(name)s, %(definition)s::jsonb, %(wrapper)s, q.property_index_type,
                                           %(ids)s::text[], q.property_path)
            FROM (SELECT NULL) one
            LEFT JOIN pgstac.queryables q ON q.name = %(name)s AND q.collection_ids IS NOT DISTINCT FROM %(ids)s::text[]
            """,
            {
                "name": name,
                "definition": json.dumps(definition),
                "wrapper": wrapper,
                "ids": [collection_id] if collection_id is not None else None,
            },
        )


# Collection search: pgSTAC's collection_search_rows()/collection_search_matched() over the
# collections seen as items (bbox, datetime, q, filter, sortby, fields, limit/offset); each
# collection then gets the API's links as in collections_document().
_COLLECTION_SEARCH_SQL = f"""
WITH page AS (
    SELECT coalesce(jsonb_agg(CASE WHEN t.c ? 'id' THEN {_collection_links_sql("t.c")} ELSE t.c END ORDER BY t.n),
                    '[]'::jsonb) AS cs
    FROM pgstac.collection_search_rows(%(search)s::jsonb) WITH ORDINALITY AS t(c, n))
SELECT page.cs::text, pgstac.collection_search_matched(%(search)s::jsonb), jsonb_array_length(page.cs) FROM page
"""


def collection_search(search: dict[str, Any], base: str) -> tuple[str, int, int]:
    """(JSON array of the matching collections with API links, number matched, number returned)."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(_COLLECTION_SEARCH_SQL, {"search": json.dumps(search), "base": base})
            body, matched, returned = cur.fetchone()
    except DatabaseError as exc:
        if _caused_by_search(exc):
            raise BadSearch(str(exc).splitlines()[0]) from exc
        raise
    return str(body), int(matched), int(returned)


def collection_titles() -> list[tuple[str, str | None]]:
    with connection.cursor() as cur:
        cur.execute("SELECT id, content->>'title' FROM pgstac.collections ORDER BY id")
        return [(str(cid), title) for cid, title in cur.fetchall()]


def items_upsert(items: list[dict[str, Any]]) -> None:
    """Bulk upsert (one statement): pgSTAC's ``upsert_items`` takes a JSON array."""
    _upsert_items("SELECT pgstac.upsert_items(%s::jsonb)", items)


# --- Registered searches (mosaics) ---------------------------------------------------------
# pgSTAC's search_query() stores a search in pgstac.searches under md5(search, metadata): the
# same search with the same metadata always gets the same hash, which callers use as a stable
# id. Items of a registered search are read with pgSTAC's own WHERE/ORDER BY for it
# (stac_search_to_where, sort_sqlorderby) plus an envelope test, through search_rows(): unlike
# search(), geometrysearch() and xyzsearch() (which go through search_fromhash() ->
# search_query()), this writes no statistics row per tile.


def search_register(search: dict[str, Any], metadata: dict[str, Any]) -> str:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (pgstac.search_query(%s::jsonb, false, %s::jsonb)).hash", [json.dumps(search), json.dumps(metadata)]
        )
        (search_hash,) = cur.fetchone()
    return str(search_hash)


def search_get(search_hash: str) -> dict[str, Any] | None:
    with connection.cursor() as cur:
        cur.execute("SELECT search, metadata FROM pgstac.searches WHERE hash = %s", [search_hash])
        row = cur.fetchone()
    if row is None:
        return None
    return {"id": search_hash, "search": _as_dict(row[0]), "metadata": _as_dict(row[1]) if row[1] else {}}


_SEARCH_TILE_SQL = """
SELECT pgstac.content_hydrate(r)::text
FROM pgstac.searches s,
     LATERAL pgstac.search_rows(
        pgstac.stac_search_to_where(s.search)
            || format(' AND st_intersects(geometry, %%L::geometry)',
                      ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)),
        pgstac.sort_sqlorderby(s.search, false),
        NULL,
        %(limit)s) r
WHERE s.hash = %(hash)s
"""


def search_items_in_bbox(search_hash: str, bbox: tuple[float, float, float, float], limit: int) -> list[dict[str, Any]]:
    """Hydrated items of a registered search whose geometry meets ``bbox`` (EPSG:4326), in its order."""
    w, s, e, n = bbox
    with connection.cursor() as cur:
        cur.execute(_SEARCH_TILE_SQL, {"hash": search_hash, "w": w, "s": s, "e": e, "n": n, "limit": limit})
        return [json.loads(text) for (text,) in cur.fetchall()]


def search_extent(search_hash: str) -> tuple[float, float, float, float] | None:
    """The bbox (EPSG:4326) of every item of a registered search; None when it has none."""
    sql = """
    SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) FROM (
        SELECT ST_Extent(r.geometry)::geometry AS x FROM pgstac.searches s,
        LATERAL pgstac.search_rows(pgstac.stac_search_to_where(s.search), 'id', NULL, %(limit)s) r
        WHERE s.hash = %(hash)s) e WHERE x IS NOT NULL
    """
    with connection.cursor() as cur:
        cur.execute(sql, {"hash": search_hash, "limit": 1_000_000})
        row = cur.fetchone()
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3])) if row else None


def collection_item_ids(collection_id: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM pgstac.items WHERE collection = %s ORDER BY id", [collection_id])
        return [item_id for (item_id,) in cur.fetchall()]


def searches_of_collection(collection_id: str) -> list[str]:
    """Hashes of registered searches over exactly this one collection (as collection jobs register them)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT hash FROM pgstac.searches WHERE search->'collections' = jsonb_build_array(%s::text) ORDER BY hash",
            [collection_id],
        )
        return [str(h) for (h,) in cur.fetchall()]


def search_delete(search_hash: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("DELETE FROM pgstac.searches WHERE hash = %s", [search_hash])
        return cur.rowcount > 0


# --- Diagnostics (read-only; see catalog/diagnostics.py) ---------------------------------


def collections_with_counts(limit: int) -> list[dict[str, Any]]:
    """Every collection (up to ``limit``) with its item count and time span."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.id, c.content->>'title', coalesce(i.n, 0), i.first, i.last FROM pgstac.collections c"
            " LEFT JOIN (SELECT collection, count(*) AS n, min(datetime) AS first, max(end_datetime) AS last"
            " FROM pgstac.items GROUP BY collection) i ON i.collection = c.id ORDER BY c.id LIMIT %s",
            [limit],
        )
        return [
            {"id": cid, "title": title, "items": int(n), "first_datetime": first, "last_datetime": last}
            for cid, title, n, first, last in cur.fetchall()
        ]


def searches_summary(limit: int) -> dict[str, Any]:
    """Registered searches: how many, and the most recently used."""
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pgstac.searches")
        (total,) = cur.fetchone()
        cur.execute(
            "SELECT hash, search, metadata, lastused, usecount FROM pgstac.searches"
            " ORDER BY lastused DESC NULLS LAST LIMIT %s",
            [limit],
        )
        recent = [
            {"id": h, "search": _as_dict(s), "metadata": _as_dict(m) if m else {}, "last_used": lu, "use_count": uc}
            for h, s, m, lu, uc in cur.fetchall()
        ]
    return {"total": int(total), "recent": recent}
