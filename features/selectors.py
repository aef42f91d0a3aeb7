"""Reads of the features app. Collections are read from the database on every request,
so a newly loaded (or unpublished) collection shows on every web process at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import conf, sql
from .errors import CollectionNotFound, FeatureNotFound
from .models import VectorDataset


def _visible(include_unpublished: bool) -> Any:
    qs = VectorDataset.objects.all()
    return qs if include_unpublished else qs.filter(published=True)


def dataset_list(*, include_unpublished: bool = False) -> list[VectorDataset]:
    return list(_visible(include_unpublished).order_by("collection_id"))


def dataset_get(*, collection_id: str, include_unpublished: bool = False) -> VectorDataset:
    """A collection; one awaiting review only for callers allowed to preview it (else 404)."""
    dataset = _visible(include_unpublished).filter(pk=collection_id).first()
    if dataset is None:
        raise CollectionNotFound(f"No collection {collection_id!r}.")
    return dataset


@dataclass
class ItemsPage:
    features: list[str]  # GeoJSON Feature texts, built by PostgreSQL
    last_id: int | None
    has_more: bool
    number_matched: int
    matched_exact: bool


def items_page(*, dataset: VectorDataset, query: sql.ItemsQuery, filtered: bool) -> ItemsPage:
    rows = sql.items_select(query)
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    if not filtered:
        matched, exact = dataset.feature_count, True  # counted when the data was loaded
    elif dataset.feature_count <= conf.exact_count_max():
        matched, exact = sql.items_count(query, exact=True), True
    else:
        matched, exact = sql.items_count(query, exact=False), False
    return ItemsPage(
        features=[text for _, text in rows],
        last_id=rows[-1][0] if rows else None,
        has_more=has_more,
        number_matched=matched,
        matched_exact=exact,
    )


def feature_get(*, dataset: VectorDataset, feature_id: str) -> str:
    try:
        fid = int(feature_id)
    except ValueError:
        fid = -1
    text = (
        None
        if fid < 0
        else sql.feature_select(
            table=dataset.collection_id, columns=[a["name"] for a in dataset.attributes], feature_id=fid
        )
    )
    if text is None:
        raise FeatureNotFound(f"No feature {feature_id!r} in collection {dataset.collection_id!r}.")
    return text
