"""Writes of the features app: a vector collection's publication state, GeoParquet export and
unpublish, and the STAC item that describes it. The stages of ``process_vector`` and
``unpublish_vector`` are :mod:`features.stages`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import pyproj
import shapely
from django.core.files import File
from django.db import transaction
from django.urls import reverse

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from geoplatform import storage
from ingest.errors import PermanentError

from . import conf, hooks, sql
from .errors import CollectionNotFound, TableExists
from .models import VectorDataset
from .selectors import dataset_group

logger = logging.getLogger(__name__)


STAC_COLLECTION = "system-vectors"


# --- parameters ---------------------------------------------------------------------------------


def container_of(params: dict[str, Any]) -> str:
    return str(params.get("container_name") or storage.zone_container("bronze"))


def table_of(params: dict[str, Any]) -> str:
    return sql.check_table_name(params.get("table_name") or sql.table_name_from_file(params["file_name"]))


def items_url(collection_id: str) -> str:
    path = reverse("features:items", kwargs={"collection_id": collection_id})
    return conf.public_base_url() + path


def stac_item_of(dataset: VectorDataset) -> dict[str, Any]:
    minx, miny, maxx, maxy = dataset.bbox or [-180.0, -90.0, 180.0, 90.0]
    props: dict[str, Any] = {
        "title": dataset.title or dataset.collection_id,
        "description": dataset.description,
        "geoplatform:feature_count": dataset.feature_count,
        "geoplatform:geometry_type": dataset.geometry_type,
    }
    start, end = (dataset.temporal_extent or [None, None]) if dataset.temporal_property else (None, None)
    if start and end:
        props |= {"datetime": None, "start_datetime": start, "end_datetime": end}
    else:
        props["datetime"] = (dataset.updated_at or dataset.created_at).isoformat().replace("+00:00", "Z")
    url = items_url(dataset.collection_id)
    return {
        "type": "Feature",
        "id": dataset.collection_id,
        "collection": STAC_COLLECTION,
        "bbox": [minx, miny, maxx, maxy],
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]],
        },
        "properties": props,
        "links": [],
        "assets": {
            "features": {
                "href": url,
                "type": "application/geo+json",
                "title": "OGC API Features items",
                "roles": ["data"],
            }
        },
    }


def dataset_publish_set(*, collection_id: str, published: bool) -> VectorDataset:
    """Show or hide a collection (and its STAC item, when it has one); idempotent.

    Publishing calls this inside its approval/revoke transaction, so a failed STAC write
    rolls the review decision back too.
    """
    with transaction.atomic():
        dataset = VectorDataset.objects.select_for_update().filter(pk=collection_id).first()
        if dataset is None:
            raise CollectionNotFound(f"No vector collection {collection_id!r}.")
        if dataset.published != published:
            dataset.published = published
            dataset.save(update_fields=["published", "updated_at"])
        if dataset.stac_item and published:
            catalog_services.item_upsert(collection_id=STAC_COLLECTION, item=stac_item_of(dataset))
        elif dataset.stac_item:
            stac_item_delete(collection_id)
    return dataset


def dataset_rename(*, collection_id: str, new_id: str, published: bool) -> VectorDataset:
    """Move a collection to another id: its table, metadata row and STAC item, showing or
    hiding it on the way. Runs in the caller's transaction (managed datasets swap versions:
    the live one renamed aside and the new one into place, in one transaction, so readers
    see the old data or the new, never neither). Styles follow the id: the old id's go, the
    new id gets its default style (``hooks``)."""
    new_id = sql.check_table_name(new_id)
    with transaction.atomic():
        dataset = VectorDataset.objects.select_for_update().filter(pk=collection_id).first()
        if dataset is None:
            raise CollectionNotFound(f"No vector collection {collection_id!r}.")
        if VectorDataset.objects.filter(pk=new_id).exists():
            raise TableExists(f"A collection {new_id!r} exists already.")
        sql.table_swap(load=collection_id, final=new_id, replace=False)
        VectorDataset.objects.filter(pk=collection_id).update(collection_id=new_id, published=published)
        moved = VectorDataset.objects.get(pk=new_id)
        if moved.stac_item:
            stac_item_delete(collection_id)
            if published:
                catalog_services.item_upsert(collection_id=STAC_COLLECTION, item=stac_item_of(moved))
        hooks.collection_removed.send(sender=VectorDataset, collection_id=collection_id)
        hooks.collection_ready.send(sender=VectorDataset, dataset=moved, classes=hooks.text_classes(new_id))
    return moved


def dataset_export_geoparquet(*, collection_id: str, zone: str = "silver") -> str:
    """Write the collection as GeoParquet (1.0 metadata, WKB, CRS84) into a storage zone;
    returns the blob name. Idempotent: the same name is overwritten."""
    # Imported here: heavy, loaded only by the code paths that read or write Arrow/Parquet.
    import geopandas
    import pandas
    import pyarrow as pa
    import pyarrow.parquet as pq

    dataset = VectorDataset.objects.filter(pk=collection_id).first()
    if dataset is None or not sql.table_exists(collection_id):
        raise CollectionNotFound(f"No vector collection {collection_id!r} (or its table) to export.")
    columns = [a["name"] for a in dataset.attributes]
    name = export_blob(collection_id)
    geo_metadata = json.dumps(
        {
            "version": "1.0.0",
            "primary_column": "geometry",
            "columns": {
                "geometry": {
                    "encoding": "WKB",
                    "geometry_types": [dataset.geometry_type],
                    "crs": pyproj.CRS("OGC:CRS84").to_json_dict(),
                    **({"bbox": dataset.bbox} if dataset.bbox else {}),
                }
            },
        }
    ).encode()
    with tempfile.TemporaryDirectory(prefix="geoplatform-export-") as tmp:
        path = Path(tmp) / "data.parquet"
        writer = None
        try:
            for rows in sql.rows_for_export(collection_id, columns):
                # The feature id first: rows of the file name the same features as the OGC API.
                frame = pandas.DataFrame([r[1:] for r in rows], columns=["id", *columns])
                geometry = shapely.from_wkb([bytes(r[0]) for r in rows])
                chunk = geopandas.GeoDataFrame(frame, geometry=geometry, crs="OGC:CRS84")
                table = pa.table(chunk.to_arrow(index=False, geometry_encoding="WKB"))
                table = table.replace_schema_metadata({b"geo": geo_metadata})
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema, compression="zstd")
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise PermanentError(f"Collection {collection_id!r} has no rows to export.", code="empty_export")
        target = storage.zone_storage(zone)
        with open(path, "rb") as fh:
            target.save(name, File(fh))
    return name


def stac_item_delete(collection_id: str) -> bool:
    return catalog_services.item_delete(collection_id=STAC_COLLECTION, item_id=collection_id)


def dataset_unpublish(*, collection_id: str, dry_run: bool = True) -> dict[str, Any]:
    """What unpublishing removes (dry run) or removes it: the tables, metadata rows, STAC
    items and GeoParquet exports of ``collection_id`` and, when its file was split by
    geometry type, of its ``_point`` / ``_line`` / ``_polygon`` collections. Idempotent.

    The dry run and the live run list the same things through this one function.
    """
    table = sql.check_table_name(collection_id)
    datasets = {d.collection_id: d for d in dataset_group(table=table)}
    names = sorted({table, *datasets})
    silver = storage.zone_storage("silver")
    tables = [n for n in names if sql.table_exists(n)]
    rows = sum(datasets[n].feature_count if n in datasets else sql.table_stats(table=n).count for n in tables)
    items = [n for n in names if catalog_selectors.item_get(collection_id=STAC_COLLECTION, item_id=n) is not None]
    exports = [export_blob(n) for n in names if silver.exists(export_blob(n))]
    plan = {
        "tables": [f"{sql.SCHEMA}.{n}" for n in tables],
        "rows": rows,
        "collections": sorted(datasets),
        "stac_items": [f"{STAC_COLLECTION}/{n}" for n in items],
        "silver_container": storage.zone_container("silver"),
        "silver_blobs": exports,
    }
    if dry_run:
        return {"collection_id": table, "dry_run": True, "would_remove": plan}
    with transaction.atomic():
        for name in tables:
            sql.table_drop(name)
        VectorDataset.objects.filter(pk__in=list(datasets)).delete()
        for name in datasets:
            hooks.collection_removed.send(sender=VectorDataset, collection_id=name)
        for name in items:
            stac_item_delete(name)
    for blob in exports:
        silver.delete(blob)
    return {"collection_id": table, "dry_run": False, "removed": plan}


def export_blob(collection_id: str) -> str:
    """Where :func:`dataset_export_geoparquet` writes a collection (in its zone)."""
    return f"exports/{collection_id}.parquet"
