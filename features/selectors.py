"""Reads of the features app.

Collection metadata is cached per process, but every use is checked against the database
(the metadata row's version, :func:`sql.row_version_sql`), so a newly loaded, replaced or
unpublished collection shows on every web process at once. Items pages check it inside their
one statement (:func:`items_page`); other reads re-read the row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, DataError, connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL

from geoplatform.errors import InvalidInput

from . import conf, sql
from .crs import DEFAULT as DEFAULT_CRS
from .crs import Crs
from .errors import CollectionNotFound, FeatureNotFound, InvalidQuery
from .models import VectorDataset


@dataclass(frozen=True)
class _Cached:
    version: str
    dataset: VectorDataset


# collection_id -> the metadata row as last read, with its version. Entries are replaced,
# never mutated, so threads may share them.
_cache: dict[str, _Cached] = {}
# (collection_id, version) -> the table has statistics on geom (bbox estimates can use them).
_stats: dict[tuple[str, str], bool] = {}


def _geom_stats(entry: _Cached) -> bool:
    key = (entry.dataset.collection_id, entry.version)
    if key not in _stats:
        if len(_stats) > 1000:
            _stats.clear()
        _stats[key] = sql.geom_stats_exist(entry.dataset.collection_id)
    return _stats[key]


def _visible(include_unpublished: bool) -> Any:
    qs = VectorDataset.objects.all()
    return qs if include_unpublished else qs.filter(published=True)


def dataset_group(*, table: str) -> list[VectorDataset]:
    """The collections one load into ``table`` made: the table itself, or, when the file mixed
    geometry types, its ``{table}_point`` / ``_line`` / ``_polygon`` parts (they name
    ``table`` in ``source.split_of``)."""
    return list(VectorDataset.objects.filter(Q(pk=table) | Q(source__split_of=table)).order_by("collection_id"))


def dataset_owner_jobs(table: str) -> list[str] | None:
    """Ingest's owner lookup for a vector table (``registry.VECTOR_TABLE``): the jobs that
    made the collections an overwrite or unpublish of ``table`` would replace or delete
    (its split parts included); None when there is nothing to replace; [] when something
    exists that no job made (a table without metadata row, or a row without a job)."""
    try:
        sql.check_table_name(table)
    except InvalidInput:
        return None  # pre-flight reports the bad name
    datasets = dataset_group(table=table)
    if not datasets:
        return [] if sql.table_exists(table) else None
    jobs = sorted({d.job_id for d in datasets})
    return [] if "" in jobs else jobs


def dataset_split_of(*, collection_id: str) -> str | None:
    """The table a split collection's file was loaded as (None for any other collection)."""
    row = VectorDataset.objects.filter(pk=collection_id).values_list("source", flat=True).first()
    base = row.get("split_of") if isinstance(row, dict) else None
    return str(base) if base else None


def dataset_list(*, include_unpublished: bool = False) -> list[VectorDataset]:
    return list(_visible(include_unpublished).order_by("collection_id"))


def _load(collection_id: str, include_unpublished: bool) -> _Cached:
    """Read the metadata row (and its version) from the database and cache it."""
    version = RawSQL(sql.row_version_sql(), [])  # noqa: S611 (a constant expression, no input)
    row = VectorDataset.objects.annotate(row_version=version).filter(pk=collection_id).first()
    if row is None:
        _cache.pop(collection_id, None)
        raise CollectionNotFound(f"No collection {collection_id!r}.")
    entry = _Cached(version=row.row_version, dataset=row)
    _cache[collection_id] = entry
    if not (row.published or include_unpublished):
        raise CollectionNotFound(f"No collection {collection_id!r}.")
    return entry


def dataset_get(*, collection_id: str, include_unpublished: bool = False) -> VectorDataset:
    """A collection; one awaiting review only for callers allowed to preview it (else 404)."""
    return _load(collection_id, include_unpublished).dataset


def dataset_version(*, collection_id: str, include_unpublished: bool = False) -> str:
    """The collection's current version (for ETags); one small query when the cache is current."""
    version = sql.row_version(
        meta_table=VectorDataset._meta.db_table, collection_id=collection_id, include_unpublished=include_unpublished
    )
    if version is None:
        raise CollectionNotFound(f"No collection {collection_id!r}.")
    entry = _cache.get(collection_id)
    if entry is None or entry.version != version:
        entry = _load(collection_id, include_unpublished)
    return entry.version


@dataclass
class ItemsPage:
    body: str  # the GeoJSON Features, built by PostgreSQL, joined by ","
    returned: int
    last_id: int | None
    has_more: bool
    number_matched: int
    matched_exact: bool
    # A streamed page (items_page(stream=True)): ``body`` is empty, the Features come in
    # chunks (bytes, each joined by ",") from this iterator, which must be read or closed.
    chunks: Iterator[bytes] | None = None

    def features(self) -> list[Any]:
        return list(json.loads("[" + self.body + "]"))


@dataclass
class ItemsResult:
    dataset: VectorDataset
    version: str
    query: sql.ItemsQuery
    page: ItemsPage


BuildQuery = Callable[[VectorDataset], tuple[sql.ItemsQuery, dict[str, Any]]]


def items_page(
    *, collection_id: str, include_unpublished: bool, build: BuildQuery, stream: bool = False
) -> ItemsResult:
    """One items page, usually in ONE statement: with a cached metadata row the statement also
    returns the row's current version; when that differs (or the statement fails because the
    table was replaced under the cached copy) the row is re-read and the page asked again.

    ``build(dataset)`` parses the request into an :class:`sql.ItemsQuery` (raises InvalidQuery).
    ``stream``: the page's Features come as chunks out of PostgreSQL (``ItemsPage.chunks``).
    """
    entry = _cache.get(collection_id)
    # A streamed page's COPY cannot run in a savepoint (it outlives this call): inside a
    # transaction, read the metadata row first so the statement never needs the guard.
    fresh = entry is None or (stream and connection.in_atomic_block)
    if fresh:
        entry = _load(collection_id, include_unpublished)
    assert entry is not None
    for _ in range(3):
        dataset = entry.dataset
        try:
            query, info = build(dataset)
        except InvalidQuery:
            if fresh:
                raise
            # A parameter unknown to the cached copy may be a column of the new table.
            entry, fresh = _load(collection_id, include_unpublished), True
            continue
        query.bitmap_choice = dataset.spatially_ordered and query.bbox is not None and _geom_stats(entry)
        if not info["filtered"]:
            count, matched, exact = "none", dataset.feature_count, True  # counted at load time
        elif dataset.feature_count <= conf.exact_count_max():
            count, matched, exact = "exact", None, True
        elif sql.bbox_only(query) and _geom_stats(entry):
            count, matched, exact = "estimate", None, False
        else:  # the planner's estimate, below
            count, matched, exact = "none", None, False
        stream_rows: sql.PageStream | None = None
        if stream and matched is None and count == "none":
            matched = sql.items_count(query, exact=False)  # before the COPY holds the connection
        try:
            if stream:
                # The COPY's first row comes once PostgreSQL has built the page (its rows are
                # sorted by chunk): a filter failing on the data fails here, before any byte is sent.
                stream_rows = _page_stream(query, dataset, include_unpublished, count)
                rows = stream_rows.head
            else:
                rows = _page_statement(
                    query, dataset, include_unpublished, count, guarded=not fresh or query.where is not None
                )
        except DataError as exc:
            if query.where is None:
                raise
            raise _filter_failed(exc) from None
        except DatabaseError:
            if fresh:
                raise
            entry, fresh = _load(collection_id, include_unpublished), True
            continue
        if stream_rows is not None and rows.version != entry.version:
            stream_rows.close()
        if rows.version is None:  # deleted, or unpublished for this caller
            _cache.pop(collection_id, None)
            raise CollectionNotFound(f"No collection {collection_id!r}.")
        if rows.version != entry.version:
            entry, fresh = _load(collection_id, include_unpublished), True
            continue
        if count != "none":
            matched = rows.matched
        if matched is None:
            matched = sql.items_count(query, exact=False)
        assert matched is not None
        returned = min(rows.rows, query.limit)
        if not exact:  # an estimate never below what is already known to exist
            matched = max(matched, query.offset + rows.rows)
        page = ItemsPage(
            body=rows.body,
            returned=returned,
            last_id=rows.last_id,
            has_more=rows.rows > query.limit,
            number_matched=matched,
            matched_exact=exact,
            chunks=None if stream_rows is None else stream_rows.chunks(),
        )
        return ItemsResult(dataset=dataset, version=entry.version, query=query, page=page)
    raise DatabaseError(f"Collection {collection_id!r} kept changing while its items were read; try again.")


def _page_statement(
    query: sql.ItemsQuery, dataset: VectorDataset, include_unpublished: bool, count: str, *, guarded: bool
) -> sql.PageRows:
    # Inside a transaction (tests, ATOMIC_REQUESTS) a failed statement would abort it: the
    # attempt with a possibly stale copy then runs in a savepoint. In autocommit it costs nothing.
    guard = transaction.atomic() if guarded and connection.in_atomic_block else nullcontext()
    with guard:
        return sql.items_page(
            query,
            meta_table=VectorDataset._meta.db_table,
            collection_id=dataset.collection_id,
            include_unpublished=include_unpublished,
            count=count,
            feature_count=dataset.feature_count,
        )


def _page_stream(
    query: sql.ItemsQuery, dataset: VectorDataset, include_unpublished: bool, count: str
) -> sql.PageStream:
    return sql.items_page_stream(
        query,
        meta_table=VectorDataset._meta.db_table,
        collection_id=dataset.collection_id,
        include_unpublished=include_unpublished,
        count=count,
        feature_count=dataset.feature_count,
    )


def feature_get(*, dataset: VectorDataset, feature_id: str, crs: Crs = DEFAULT_CRS) -> str:
    try:
        fid = int(feature_id)
    except ValueError:
        fid = -1
    text = (
        None
        if fid < 0
        else sql.feature_select(
            table=dataset.collection_id,
            columns=[a["name"] for a in dataset.attributes],
            feature_id=fid,
            decimal_columns=frozenset(a["name"] for a in dataset.attributes if a["type"] in sql.DECIMAL_TYPES),
            crs=crs,
        )
    )
    if text is None:
        raise FeatureNotFound(f"No feature {feature_id!r} in collection {dataset.collection_id!r}.")
    return text


# --- vector tiles ---------------------------------------------------------------------------------


@dataclass
class TileResult:
    dataset: VectorDataset
    version: str
    rows: Any  # features.tiles.TileRows


def tile_get(*, collection_id: str, include_unpublished: bool, build: Callable[[VectorDataset], Any]) -> TileResult:
    """One vector tile in ONE statement, checked against the metadata row as :func:`items_page`
    checks its pages: a stale cached copy (another version, or a statement that failed because
    the table was replaced) is re-read and the tile asked again.

    ``build(dataset)`` parses the request into a :class:`features.tiles.TileQuery` (InvalidQuery).
    """
    from . import tiles

    entry = _cache.get(collection_id)
    fresh = entry is None
    if entry is None:
        entry = _load(collection_id, include_unpublished)
    for _ in range(3):
        dataset = entry.dataset
        try:
            query = build(dataset)
        except InvalidQuery:
            if fresh:
                raise
            entry, fresh = _load(collection_id, include_unpublished), True
            continue
        query.exact_drops = dataset.feature_count <= conf.exact_count_max()
        query.estimate_drops = not query.exact_drops and _geom_stats(entry)
        guarded = (not fresh or query.filtered) and connection.in_atomic_block
        try:
            with transaction.atomic() if guarded else nullcontext():
                rows = tiles.tile_read(
                    query,
                    meta_table=VectorDataset._meta.db_table,
                    collection_id=collection_id,
                    include_unpublished=include_unpublished,
                )
        except DataError as exc:
            if not query.filtered:
                raise
            raise _filter_failed(exc) from None
        except DatabaseError:
            if fresh:
                raise
            entry, fresh = _load(collection_id, include_unpublished), True
            continue
        if rows.version is None:
            _cache.pop(collection_id, None)
            raise CollectionNotFound(f"No collection {collection_id!r}.")
        if rows.version != entry.version:
            entry, fresh = _load(collection_id, include_unpublished), True
            continue
        return TileResult(dataset=dataset, version=entry.version, rows=rows)
    raise DatabaseError(f"Collection {collection_id!r} kept changing while its tile was read; try again.")


def _filter_failed(exc: DataError) -> InvalidQuery:
    """A CQL2 filter that fails on the data (arithmetic overflow, a geometry PostGIS refuses):
    the client's expression, not the server, is at fault: a 400 quoting PostgreSQL."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InvalidQuery(f"filter cannot be evaluated on this collection's data: {message}")
