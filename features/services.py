"""Writes of the features app: the stages of ``process_vector`` and ``unpublish_vector``.

process_vector: ``validate`` (inspect the file, decide the table's columns and geometry
type, create the job's staging table ``geo._load_<job>``, plan chunks) -> ``load`` (one
task per chunk, each COPY-loaded with its own ``etl_batch_id``; a retry deletes its batch
first in the same transaction) -> ``finalise`` (indexes, ANALYZE, then ONE transaction that
swaps the staging table in, writes the metadata row and the STAC item).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
import pyogrio
from django.conf import settings
from django.db import DatabaseError, transaction
from django.urls import reverse

from geoplatform import storage
from geoplatform.errors import ApplicationError, InvalidInput
from geoplatform.faults import fault_point
from ingest.errors import PermanentError
from ingest.registry import FinalizeContext, TaskContext

from . import conf, sources, sql, transform
from .errors import CollectionNotFound, InvalidSource, TableExists
from .models import VectorDataset

logger = logging.getLogger(__name__)

STAC_COLLECTION = "system-vectors"


# --- parameters and pre-flight -----------------------------------------------------------------


def container_of(params: dict[str, Any]) -> str:
    return str(params.get("container_name") or storage.zone_container("bronze"))


def table_of(params: dict[str, Any]) -> str:
    return sql.check_table_name(params.get("table_name") or sql.table_name_from_file(params["file_name"]))


def items_url(collection_id: str) -> str:
    path = reverse("features:items", kwargs={"collection_id": collection_id})
    return conf.public_base_url() + path


def _source(params: dict[str, Any]) -> sources.SourceParams:
    return sources.SourceParams.from_job({**params, "container_name": container_of(params)})


def _describe(exc: ApplicationError) -> str:
    text = exc.message
    if isinstance(exc.details, dict) and exc.details.get("layers"):
        text += f" Layers: {', '.join(exc.details['layers'])}."
    if exc.remediation:
        text += f" {exc.remediation}"
    return text


def vector_preflight(params: dict[str, Any]) -> list[str]:
    """Registry validator: every problem the file has, as 400 at submit; 409 for an existing table."""
    problems: list[str] = []
    try:
        table = table_of(params)
    except InvalidInput as exc:
        problems.append(_describe(exc))
        table = ""
    if (
        table
        and not params.get("overwrite")
        and (sql.table_exists(table) or VectorDataset.objects.filter(pk=table).exists())
    ):
        raise TableExists(
            f"Collection {table!r} already exists.",
            remediation="Pass overwrite=true to replace it, or choose another table_name.",
        )
    container = container_of(params)
    allowed = set(settings.GEOPLATFORM_UPLOAD_CONTAINERS) | {storage.zone_container("bronze")}
    if container not in allowed:
        problems.append(f"Container {container!r} is not a bronze-zone container ({', '.join(sorted(allowed))}).")
        return problems
    try:
        sources.detect_format(params["file_name"])
        size = storage.blob_size(container, params["file_name"])
        if size > conf.max_file_bytes():
            problems.append(f"The file is {size} bytes; the limit is {conf.max_file_bytes()} bytes.")
            return problems
        src_params = _source(params)
        with sources.opened(src_params) as src:
            info = sources.inspect(src_params, src)
        temporal = params.get("temporal_property")
        if temporal:
            names = [n for n, _ in info.fields]
            if temporal not in names and temporal not in sql.sanitize_names(names):
                problems.append(f"temporal_property {temporal!r} is not a column of the data ({', '.join(names)}).")
    except ApplicationError as exc:
        problems.append(_describe(exc))
    if params.get("create_stac"):
        from catalog import selectors as catalog_selectors

        if not catalog_selectors.collection_exists(collection_id=STAC_COLLECTION):
            problems.append(f"The STAC collection {STAC_COLLECTION!r} does not exist yet (run migrations).")
    return problems


# --- stage 1: validate -------------------------------------------------------------------------


def _as_permanent(exc: ApplicationError) -> PermanentError:
    return PermanentError(exc.message, code=exc.code, details=exc.details, remediation=exc.remediation or None)


def vector_validate(ctx: TaskContext) -> dict[str, Any]:
    params = ctx.params
    table = table_of(params)
    src_params = _source(params)
    try:
        with sources.opened(src_params) as src:
            info = sources.inspect(src_params, src)
            family, nulls, schema = _scan(src)
    except ApplicationError as exc:
        raise _as_permanent(exc) from exc
    if family is None:
        raise PermanentError(
            "No feature has a geometry.", code="no_geometry", remediation="Check the geometry columns."
        )
    source_names = [f.name for f in schema]
    names = sql.sanitize_names(source_names)
    columns = [
        {"name": name, "source_name": field.name, "type": transform.pg_type(field.type)}
        for name, field in zip(names, schema, strict=True)
    ]
    temporal = params.get("temporal_property") or ""
    if temporal:
        match = next((c for c in columns if temporal in (c["source_name"], c["name"])), None)
        if match is None:
            raise PermanentError(f"temporal_property {temporal!r} is not a column of the data.")
        temporal = match["name"]
    load = sql.load_table_name(ctx.job_id)
    geometry_type = f"Multi{family}"
    sql.load_table_create(table=load, columns=[(c["name"], c["type"]) for c in columns], geometry_type=geometry_type)
    size = int(params.get("chunk_rows") or conf.chunk_rows())
    chunks = [{"index": i, "skip": skip, "count": size} for i, skip in enumerate(range(0, info.feature_count, size))]
    renamed = {c["source_name"]: c["name"] for c in columns if c["source_name"] != c["name"]}
    if renamed:
        ctx.warn(f"Column names were made safe SQL identifiers: {renamed}.")
    return {
        "table": table,
        "load_table": load,
        "format": info.format,
        "layer": info.layer,
        "crs": info.crs,
        "family": family,
        "geometry_type": geometry_type,
        "columns": columns,
        "temporal_column": temporal,
        "feature_count": info.feature_count,
        "null_geometries": nulls,
        "chunks": chunks,
    }


def _scan(src: sources.Opened) -> tuple[str | None, int, list[Any]]:
    """The geometry family over ALL features (mixed types fail here, before any load) and the schema."""
    import pyarrow as pa

    if src.format == "parquet":
        pf, geo = sources._parquet_geo(src.path)
        wkb = pf.read(columns=[geo["column"]]).column(geo["column"])
        schema = [f for f in pf.schema_arrow if f.name != geo["column"]]
    else:
        kwargs = sources._gdal_kwargs(src)
        try:
            meta, table = pyogrio.read_arrow(src.path, columns=[], **kwargs)
            _, head = pyogrio.read_arrow(src.path, max_features=1, **kwargs)
        except Exception as exc:
            raise InvalidSource(f"Cannot read the features of the file: {exc}") from exc
        geom_name = meta.get("geometry_name") or "wkb_geometry"
        if geom_name not in table.column_names:
            raise InvalidSource("The layer has no geometry column.", code="no_geometry")
        wkb = table.column(geom_name)
        schema = [f for f in head.schema if f.name != geom_name]
    family, nulls = transform.geometry_family(
        pa.chunked_array(wkb).combine_chunks() if isinstance(wkb, pa.ChunkedArray) else wkb
    )
    return family, nulls, schema


# --- stage 2: load chunks ----------------------------------------------------------------------


def vector_load_chunk(ctx: TaskContext) -> dict[str, Any]:
    plan = ctx.previous_results[0]
    chunk = ctx.task_params
    batch_id = f"{ctx.job_id[:16]}:{chunk['index']}"
    src_params = _source(ctx.params)
    try:
        with sources.opened(src_params) as src:
            src.layer = plan["layer"]
            attributes, wkb = sources.read_chunk(src, skip=chunk["skip"], count=chunk["count"])
        cleaned = transform.clean_chunk(
            attributes=attributes,
            wkb=wkb,
            first_id=chunk["skip"] + 1,
            batch_id=batch_id,
            crs=plan["crs"],
            family=plan["family"],
            columns=plan["columns"],
        )
    except ApplicationError as exc:
        raise _as_permanent(exc) from exc
    try:
        loaded = sql.chunk_copy(
            table=plan["load_table"],
            batch_id=batch_id,
            columns=[c["name"] for c in plan["columns"]],
            csv_bytes=cleaned.csv,
        )
    except DatabaseError as exc:
        cause = exc.__cause__
        if isinstance(
            cause,
            psycopg.errors.DataError | psycopg.errors.CharacterNotInRepertoire | psycopg.errors.UntranslatableCharacter,
        ):
            raise PermanentError(
                f"PostgreSQL refused the data of rows {chunk['skip'] + 1}..{chunk['skip'] + chunk['count']}: {cause}",
                code="invalid_attribute_data",
                remediation="Check the attribute encoding (UTF-8) and values.",
            ) from exc
        raise
    fault_point("features.load_chunk.copied")  # rows committed, task not yet recorded
    return {
        "batch_id": batch_id,
        "rows": loaded,
        "dropped": cleaned.dropped_null,
        "repaired": cleaned.repaired,
        "bbox": cleaned.bbox,
        "single_points": cleaned.single_points,
    }


# --- stage 3: finalise -------------------------------------------------------------------------


def _stac_item(dataset: VectorDataset) -> dict[str, Any]:
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


def vector_finalise(ctx: TaskContext) -> dict[str, Any]:
    params = ctx.params
    loads = ctx.previous_results
    validate = _validate_result(ctx)
    load, table = validate["load_table"], validate["table"]
    if not sql.table_exists(load):
        if VectorDataset.objects.filter(pk=table, job_id=ctx.job_id).exists():
            return _dataset_summary(table)  # a retry after the swap committed
        raise PermanentError("The staging table is gone; resubmit the job.", code="staging_table_missing")
    dropped = sum(r.get("dropped", 0) for r in loads)
    repaired = sum(r.get("repaired", 0) for r in loads)
    if dropped:
        ctx.warn(f"{dropped} feature(s) without a usable geometry (null or empty) were dropped.")
    if repaired:
        ctx.warn(f"{repaired} invalid geometrie(s) were repaired with make_valid.")
    sql.load_table_finish(table=load)
    sql.table_analyze(load)
    # Count and extent add up from the chunks' results: no extra scan of the table.
    count = sum(int(r.get("rows", 0)) for r in loads)
    boxes = [r["bbox"] for r in loads if r.get("bbox")]
    bbox = (
        [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
        if boxes
        else None
    )
    temporal = (
        sql.temporal_extent(table=load, column=validate["temporal_column"]) if validate["temporal_column"] else None
    )
    if count == 0:
        raise PermanentError("No feature with a usable geometry was loaded.", code="empty_result")
    # Chunks of a job submitted before they reported it: one scan of the table.
    single_points = validate["geometry_type"] == "MultiPoint" and (
        all(r["single_points"] for r in loads)
        if all("single_points" in r for r in loads)
        else sql.all_single_points(load)
    )
    dense_ids = sql.ids_dense(load, count)
    with transaction.atomic():
        sql.table_swap(load=load, final=table, replace=bool(params.get("overwrite")))
        dataset, _ = VectorDataset.objects.update_or_create(
            collection_id=table,
            defaults={
                "title": params.get("title") or table,
                "description": params.get("description") or "",
                "geometry_type": validate["geometry_type"],
                "single_points": single_points,
                "dense_ids": dense_ids,
                "spatially_ordered": True,
                "feature_count": count,
                "bbox": bbox,
                "temporal_property": validate["temporal_column"] or "",
                "temporal_extent": temporal,
                "attributes": [
                    {"name": c["name"], "type": c["type"], "source_name": c["source_name"]} for c in validate["columns"]
                ],
                "source": {
                    "container": container_of(params),
                    "file_name": params["file_name"],
                    "format": validate["format"],
                    "layer": validate["layer"],
                    "crs": validate["crs"] if len(validate["crs"]) < 200 else "(WKT)",
                },
                "stac_item": bool(params.get("create_stac")),
                "published": bool(params.get("publish", True)),
                "job_id": ctx.job_id,
            },
        )
        if params.get("create_stac") and dataset.published:
            from catalog import services as catalog_services

            catalog_services.item_upsert(collection_id=STAC_COLLECTION, item=_stac_item(dataset))
        elif params.get("overwrite"):
            _stac_delete(table)  # the replaced (or now hidden) dataset's item no longer applies
    return _dataset_summary(table)


def dataset_publish_set(*, collection_id: str, published: bool) -> VectorDataset:
    """Show or hide a collection (and its STAC item, when it has one); idempotent.

    Publishing calls this inside its approval/revoke transaction, so a failed STAC write
    rolls the review decision back too.
    """
    from catalog import services as catalog_services

    with transaction.atomic():
        dataset = VectorDataset.objects.select_for_update().filter(pk=collection_id).first()
        if dataset is None:
            raise CollectionNotFound(f"No vector collection {collection_id!r}.")
        if dataset.published != published:
            dataset.published = published
            dataset.save(update_fields=["published", "updated_at"])
        if dataset.stac_item and published:
            catalog_services.item_upsert(collection_id=STAC_COLLECTION, item=_stac_item(dataset))
        elif dataset.stac_item:
            _stac_delete(collection_id)
    return dataset


def dataset_export_geoparquet(*, collection_id: str, zone: str = "silver") -> str:
    """Write the collection as GeoParquet (1.0 metadata, WKB, CRS84) into a storage zone;
    returns the blob name. Idempotent: the same name is overwritten."""
    import tempfile
    from pathlib import Path

    import geopandas
    import pandas
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyproj
    import shapely
    from django.core.files import File

    dataset = VectorDataset.objects.filter(pk=collection_id).first()
    if dataset is None or not sql.table_exists(collection_id):
        raise CollectionNotFound(f"No vector collection {collection_id!r} (or its table) to export.")
    columns = [a["name"] for a in dataset.attributes]
    name = f"exports/{collection_id}.parquet"
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


def _validate_result(ctx: TaskContext) -> dict[str, Any]:
    """The validate stage's plan (stage 0; finalise's previous stage is the load fan-out)."""
    results = ctx.results_of(0)
    result = results[0] if results else None
    if not result:
        raise PermanentError("The validate stage left no plan.", code="internal_error")
    return dict(result)


def _dataset_summary(table: str) -> dict[str, Any]:
    dataset = VectorDataset.objects.get(pk=table)
    return {
        "collection_id": table,
        "table": f"{sql.SCHEMA}.{table}",
        "items_url": items_url(table),
        "feature_count": dataset.feature_count,
        "geometry_type": dataset.geometry_type,
        "bbox": dataset.bbox,
        "temporal_extent": dataset.temporal_extent,
        "stac_item": f"{STAC_COLLECTION}/{table}" if dataset.stac_item else None,
    }


def vector_result(ctx: FinalizeContext) -> dict[str, Any]:
    return dict(ctx.stage_results[-1][0])


def _stac_delete(collection_id: str) -> bool:
    from catalog import services as catalog_services

    return catalog_services.item_delete(collection_id=STAC_COLLECTION, item_id=collection_id)


def vector_cleanup(job_id: str, params: dict[str, Any]) -> None:
    """JobType cleanup hook: remove everything a failed or cancelled process_vector wrote."""
    sql.table_drop(sql.load_table_name(job_id))
    try:
        table = table_of(params)
    except InvalidInput:
        return
    with transaction.atomic():
        if VectorDataset.objects.filter(pk=table, job_id=job_id).exists():
            # The swap committed but a later step failed: withdraw this job's dataset whole.
            sql.table_drop(table)
            VectorDataset.objects.filter(pk=table, job_id=job_id).delete()
        if params.get("create_stac") and not VectorDataset.objects.filter(pk=table).exists():
            _stac_delete(table)


# --- unpublish ----------------------------------------------------------------------------------


def vector_unpublish_preflight(params: dict[str, Any]) -> list[str]:
    try:
        sql.check_table_name(params["collection_id"])
    except InvalidInput as exc:
        return [_describe(exc)]
    return []


def vector_unpublish(ctx: TaskContext) -> dict[str, Any]:
    return dataset_unpublish(collection_id=ctx.params["collection_id"], dry_run=bool(ctx.params.get("dry_run", True)))


def dataset_unpublish(*, collection_id: str, dry_run: bool = True) -> dict[str, Any]:
    """What unpublishing removes (dry run) or removes it: table, metadata row, STAC item. Idempotent."""
    from catalog import selectors as catalog_selectors

    table = sql.check_table_name(collection_id)
    dataset = VectorDataset.objects.filter(pk=table).first()
    has_table = sql.table_exists(table)
    rows = 0
    if has_table:
        rows = sql.table_stats(table=table).count if dataset is None else dataset.feature_count
    has_item = catalog_selectors.item_get(collection_id=STAC_COLLECTION, item_id=table) is not None
    export = f"exports/{table}.parquet"
    silver = storage.zone_storage("silver")
    has_export = silver.exists(export)
    plan = {
        "table": f"{sql.SCHEMA}.{table}" if has_table else None,
        "rows": rows,
        "metadata": dataset is not None,
        "stac_item": f"{STAC_COLLECTION}/{table}" if has_item else None,
        "export": f"{storage.zone_container('silver')}/{export}" if has_export else None,
    }
    if dry_run:
        return {"collection_id": table, "dry_run": True, "would_remove": plan}
    with transaction.atomic():
        sql.table_drop(table)
        VectorDataset.objects.filter(pk=table).delete()
        if has_item:
            _stac_delete(table)
    if has_export:
        silver.delete(export)
    return {"collection_id": table, "dry_run": False, "removed": plan}
