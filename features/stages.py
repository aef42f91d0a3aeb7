"""Stage handlers of the features app's jobs (declared in :mod:`features.jobtypes`).

process_vector: ``validate`` (inspect the file, decide the table's columns and geometry
type, create the job's staging table ``geo._load_<job>``, plan chunks) -> ``load`` (one
task per chunk, each COPY-loaded with its own ``etl_batch_id``; a retry deletes its batch
first in the same transaction) -> ``finalise`` (indexes, ANALYZE, then ONE transaction that
swaps the staging table in, writes the metadata row and the STAC item).
unpublish_vector: one task, :func:`features.services.dataset_unpublish`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from geoplatform import storage
from geoplatform.errors import ApplicationError, InvalidInput
from geoplatform.faults import fault_point
from ingest import preflight
from ingest.errors import PermanentError
from ingest.registry import FinalizeContext, TaskContext

from . import conf, hooks, sources, sql, transform
from .errors import InvalidSource, TableExists
from .models import VectorDataset
from .results import VectorCollectionResult, VectorJobResult
from .selectors import dataset_group
from .services import (
    STAC_COLLECTION,
    container_of,
    dataset_unpublish,
    items_url,
    stac_item_delete,
    stac_item_of,
    table_of,
)

logger = logging.getLogger(__name__)


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
        and (
            sql.table_exists(table)
            or VectorDataset.objects.filter(pk=table).exists()
            # an earlier file with mixed geometry types made {table}_point / _line / _polygon
            or VectorDataset.objects.filter(source__split_of=table).exists()
        )
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
        fmt = sources.detect_format(params["file_name"])
        size = storage.blob_size(container, params["file_name"])
        preflight.saw(container=container, file_name=params["file_name"], format=fmt, size=size)
        if size > conf.max_file_bytes():
            problems.append(f"The file is {size} bytes; the limit is {conf.max_file_bytes()} bytes.")
            return problems
        # In place (range requests), never a download inside the request; None: only the head was read.
        info = sources.preflight_inspect(_source(params))
        if info is not None:
            preflight.saw(
                layer=info.layer,
                crs=info.crs,
                crs_from_request=info.crs_from_request,
                feature_count=info.feature_count,
                geometry_type=info.geometry_type,
                fields=[name for name, _ in info.fields],
            )
        else:
            preflight.saw(scanned="head only (stream format above GEOPLATFORM_PREFLIGHT_SCAN_BYTES)")
        temporal = params.get("temporal_property")
        if temporal and info is not None:
            names = [n for n, _ in info.fields]
            if temporal not in names and temporal not in sql.sanitize_names(names):
                problems.append(f"temporal_property {temporal!r} is not a column of the data ({', '.join(names)}).")
    except ApplicationError as exc:
        problems.append(_describe(exc))
    column_map = params.get("column_map")
    if column_map is not None and (
        not isinstance(column_map, dict)
        or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in column_map.items())
    ):
        problems.append('column_map maps source column names to new names (or "" to drop one): {"OLD": "new"}.')
    if params.get("create_stac"):
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
            families, nulls, schema = _scan(src)
    except ApplicationError as exc:
        raise _as_permanent(exc) from exc
    if not families:
        raise PermanentError(
            "No feature has a geometry.", code="no_geometry", remediation="Check the geometry columns."
        )
    if len(families) > 1 and not params.get("split_geometry_types", True):
        raise _mixed_families(families)
    # column_map renames source columns before they are made SQL-safe ("" or null drops one):
    # two releases of a source that renamed its fields load into one schema.
    column_map = params.get("column_map") or {}
    kept = [(index, field) for index, field in enumerate(schema) if column_map.get(field.name, field.name)]
    names = sql.sanitize_names([column_map.get(field.name) or field.name for _, field in kept])
    columns = [
        {"name": name, "source_name": field.name, "source_index": index, "type": transform.pg_type(field.type)}
        for (index, field), name in zip(kept, names, strict=True)
    ]
    temporal = params.get("temporal_property") or ""
    if temporal:
        match = next((c for c in columns if temporal in (c["source_name"], c["name"])), None)
        if match is None:
            raise PermanentError(f"temporal_property {temporal!r} is not a column of the data.")
        temporal = match["name"]
    parts = _plan_parts(ctx.job_id, table, list(families), overwrite=bool(params.get("overwrite")))
    for part in parts:
        sql.load_table_create(
            table=part["load_table"],
            columns=[(c["name"], c["type"]) for c in columns],
            geometry_type=part["geometry_type"],
        )
    size = int(params.get("chunk_rows") or conf.chunk_rows())
    chunks = [{"index": i, "skip": skip, "count": size} for i, skip in enumerate(range(0, info.feature_count, size))]
    renamed = [
        f"{c['source_name']!r} -> {c['name']}"
        for c in columns
        if c["source_name"] != c["name"] and c["source_name"] not in column_map
    ]
    if renamed:
        # A list, not a dict: a header that repeats a name is renamed twice.
        ctx.warn(
            f"COLUMN_NAMES_SANITISED: {len(renamed)} column name(s) were made safe, unique SQL identifiers "
            f"(the original names stay as the properties' titles): {', '.join(renamed)}."
        )
    return {
        "table": table,
        "parts": parts,
        # The one part's names at the top level too (plans of single-type files read the same as before).
        "load_table": parts[0]["load_table"],
        "family": parts[0]["family"],
        "geometry_type": parts[0]["geometry_type"],
        "format": info.format,
        "layer": info.layer,
        "crs": info.crs,
        "columns": columns,
        "temporal_column": temporal,
        "feature_count": info.feature_count,
        "null_geometries": nulls,
        "chunks": chunks,
    }


_FAMILY_NAMES = {
    "Point": "Point/MultiPoint",
    "LineString": "LineString/MultiLineString",
    "Polygon": "Polygon/MultiPolygon",
}


def _mixed_families(families: dict[str, int]) -> PermanentError:
    """A file holding several geometry families, for a caller that wants ONE collection
    (``split_geometry_types=false``, e.g. a managed source's stable id): fail before any load,
    naming what was found. Single and Multi* of one family are not a mix (they load promoted)."""
    found = ", ".join(f"{count} {_FAMILY_NAMES[family]}" for family, count in families.items())
    return PermanentError(
        f"The file mixes geometry types ({found}); this collection holds one type.",
        code="mixed_geometry_types",
        details={"geometry_types": dict(families)},
        remediation=(
            "Publish one type per file or layer (e.g. ogr2ogr -nlt PROMOTE_TO_MULTI "
            "-where \"OGR_GEOMETRY='POLYGON' OR OGR_GEOMETRY='MULTIPOLYGON'\"), "
            "or upload the file as a plain process_vector job, which splits it into one collection per type."
        ),
    )


def _plan_parts(job_id: str, table: str, families: list[str], *, overwrite: bool) -> list[dict[str, Any]]:
    """One target table per geometry family: ``table`` itself for a single-type file, else
    ``{table}_point`` / ``_line`` / ``_polygon`` (the predecessor's rule: a Multi* joins
    its family, each family becomes its own collection)."""
    if len(families) == 1:
        family = families[0]
        return [
            {
                "family": family,
                "geometry_type": f"Multi{family}",
                "table": table,
                "load_table": sql.load_table_name(job_id),
            }
        ]
    parts = [
        {
            "family": family,
            "geometry_type": f"Multi{family}",
            "table": sql.split_table_name(table, family),
            "load_table": sql.load_table_name(job_id, family),
        }
        for family in families
    ]
    if not overwrite:
        taken = [
            p["table"]
            for p in parts
            if sql.table_exists(p["table"]) or VectorDataset.objects.filter(pk=p["table"]).exists()
        ]
        if taken:
            raise PermanentError(
                f"The file mixes geometry types ({', '.join(families)}), so it loads into one table per type, "
                f"and {', '.join(taken)} already exist(s).",
                code="table_exists",
                remediation="Pass overwrite=true to replace them, or choose another table_name.",
            )
    return parts


def _parts(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's target tables (a plan made before files were split has only top-level keys)."""
    if plan.get("parts"):
        return list(plan["parts"])
    return [
        {
            "family": plan["family"],
            "geometry_type": plan["geometry_type"],
            "table": plan["table"],
            "load_table": plan["load_table"],
        }
    ]


def _scan(src: sources.Opened) -> tuple[dict[str, int], int, list[Any]]:
    """The geometry families over ALL features (before any load, with their counts) and the schema."""
    # Imported here: heavy, loaded only by the code paths that read or write Arrow/Parquet.
    import pyarrow as pa
    import pyogrio  # ~30 MiB (its own GDAL) a web process never needs

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
    families, nulls = transform.geometry_families(
        pa.chunked_array(wkb).combine_chunks() if isinstance(wkb, pa.ChunkedArray) else wkb
    )
    return families, nulls, schema


# --- stage 2: load chunks ----------------------------------------------------------------------


def vector_load_chunk(ctx: TaskContext) -> dict[str, Any]:
    # Imported here: heavy, loaded only by the code paths that read or write Arrow/Parquet.
    import pyarrow as pa
    import pyarrow.compute as pc

    plan = ctx.previous_results[0]
    parts = _parts(plan)
    chunk = ctx.task_params
    batch_id = f"{ctx.job_id[:16]}:{chunk['index']}"
    first_id = chunk["skip"] + 1
    src_params = _source(ctx.params)
    cleaned: list[tuple[dict[str, Any], transform.CleanChunk]] = []
    try:
        with sources.opened(src_params) as src:
            src.layer = plan["layer"]
            attributes, wkb = sources.read_chunk(src, skip=chunk["skip"], count=chunk["count"])
        common = {"batch_id": batch_id, "crs": plan["crs"], "columns": plan["columns"]}
        if len(parts) == 1:
            one = transform.clean_chunk(
                attributes=attributes, wkb=wkb, first_id=first_id, family=parts[0]["family"], **common
            )
            cleaned.append((parts[0], one))
            nulls = one.dropped_null
        else:  # each family's rows to its own table, with their ids in the file
            codes = transform.row_families(wkb)
            nulls = int((codes < 0).sum())
            for part in parts:
                mask = codes == transform.FAMILIES.index(part["family"])
                if not mask.any():
                    continue
                selection = pa.array(mask)
                cleaned.append(
                    (
                        part,
                        transform.clean_chunk(
                            attributes=attributes.filter(selection),
                            wkb=pc.filter(wkb, selection),
                            first_id=first_id,
                            ids=first_id + np.nonzero(mask)[0].astype(np.int64),
                            family=part["family"],
                            **common,
                        ),
                    )
                )
    except ApplicationError as exc:
        raise _as_permanent(exc) from exc
    loaded: dict[str, dict[str, Any]] = {}
    try:
        with transaction.atomic():  # a retried chunk replaces its rows in every table, or none
            for part, out in cleaned:
                rows = sql.chunk_copy(
                    table=part["load_table"],
                    batch_id=batch_id,
                    columns=[c["name"] for c in plan["columns"]],
                    csv_bytes=out.csv,
                )
                loaded[part["table"]] = {"rows": rows, "bbox": out.bbox, "single_points": out.single_points}
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
    first = loaded.get(parts[0]["table"], {})
    return {
        "batch_id": batch_id,
        "rows": sum(p["rows"] for p in loaded.values()),
        "dropped": nulls,
        "dropped_invalid": sum(out.dropped_invalid for _, out in cleaned),
        "repaired": sum(out.repaired for _, out in cleaned),
        "bbox": first.get("bbox"),
        "single_points": first.get("single_points", True),
        "parts": loaded,
    }


# --- stage 3: finalise -------------------------------------------------------------------------


def _load_warnings(ctx: TaskContext, loads: list[dict[str, Any]]) -> None:
    """The chunks' counts as coded warnings (``CODE: text``), so clients can match the code."""
    dropped = sum(int(r.get("dropped", 0)) for r in loads)
    invalid = sum(int(r.get("dropped_invalid", 0)) for r in loads)
    repaired = sum(int(r.get("repaired", 0)) for r in loads)
    if dropped:
        ctx.warn(f"NULL_GEOMETRY_DROPPED: {dropped} feature(s) without a geometry (null or empty) were dropped.")
    if repaired:
        ctx.warn(
            f"INVALID_GEOMETRY_REPAIRED: {repaired} invalid geometrie(s) were repaired with make_valid "
            "(each keeps its geometry type)."
        )
    if invalid:
        ctx.warn(
            f"INVALID_GEOMETRY_DROPPED: {invalid} invalid geometrie(s) were dropped: their repair left nothing "
            "of their geometry type (e.g. a polygon with no area)."
        )


def _part_totals(part: dict[str, Any], loads: list[dict[str, Any]], single: bool) -> dict[str, Any]:
    """A target table's row count, extent and point shape, added up from the chunks' results
    (no extra scan of the table)."""
    if single:  # chunks of single-type files report at the top level (also before parts existed)
        reports = [
            {"rows": r.get("rows", 0), "bbox": r.get("bbox"), "single_points": r.get("single_points")} for r in loads
        ]
    else:
        reports = [r["parts"][part["table"]] for r in loads if part["table"] in (r.get("parts") or {})]
    boxes = [r["bbox"] for r in reports if r.get("bbox")]
    bbox = (
        [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
        if boxes
        else None
    )
    known = all(r.get("single_points") is not None for r in reports)
    return {
        "rows": sum(int(r.get("rows", 0)) for r in reports),
        "bbox": bbox,
        "single_points": all(r["single_points"] for r in reports) if known else None,
    }


def vector_finalise(ctx: TaskContext) -> dict[str, Any]:
    params = ctx.params
    loads = ctx.previous_results
    validate = _validate_result(ctx)
    table, parts = validate["table"], _parts(validate)
    single = len(parts) == 1
    if not any(sql.table_exists(p["load_table"]) for p in parts):
        done = [p["table"] for p in parts if VectorDataset.objects.filter(pk=p["table"], job_id=ctx.job_id).exists()]
        if done:
            return _load_result(table, done)  # a retry after the swap committed
        raise PermanentError("The staging table is gone; resubmit the job.", code="staging_table_missing")
    _load_warnings(ctx, loads)
    totals = {p["table"]: _part_totals(p, loads, single) for p in parts}
    kept = [p for p in parts if totals[p["table"]]["rows"] > 0]
    for part in parts:
        if part not in kept:  # every feature of this type was dropped: no empty collection
            sql.table_drop(part["load_table"])
    if not kept:
        raise PermanentError("No feature with a usable geometry was loaded.", code="empty_result")
    if not single:
        made = ", ".join(f"{p['table']} ({totals[p['table']]['rows']} {p['family']})" for p in kept)
        ctx.warn(
            f"GEOMETRY_TYPE_SPLIT: the file mixes geometry types; it was split into one collection per type: {made}."
        )
    facts: dict[str, dict[str, Any]] = {}
    for part in kept:
        load, count = part["load_table"], totals[part["table"]]["rows"]
        sql.load_table_finish(table=load)
        sql.table_analyze(load)
        single_points = part["geometry_type"] == "MultiPoint" and (
            totals[part["table"]]["single_points"]
            if totals[part["table"]]["single_points"] is not None
            else sql.all_single_points(load)  # chunks of a job submitted before they reported it
        )
        facts[part["table"]] = {
            "temporal": (
                sql.temporal_extent(table=load, column=validate["temporal_column"])
                if validate["temporal_column"]
                else None
            ),
            "single_points": single_points,
            "dense_ids": sql.ids_dense(load, count),
        }
    title = params.get("title") or table
    with transaction.atomic():
        for part in kept:
            final = part["table"]
            sql.table_swap(load=part["load_table"], final=final, replace=bool(params.get("overwrite")))
            source: dict[str, Any] = {
                "container": container_of(params),
                "file_name": params["file_name"],
                "format": validate["format"],
                "layer": validate["layer"],
                "crs": validate["crs"] if len(validate["crs"]) < 200 else "(WKT)",
            }
            if not single:
                source |= {"split_of": table, "family": part["family"]}
            dataset, _ = VectorDataset.objects.update_or_create(
                collection_id=final,
                defaults={
                    "title": title if single else f"{title} ({_FAMILY_TITLES[part['family']]})",
                    "description": params.get("description") or "",
                    "geometry_type": part["geometry_type"],
                    "single_points": facts[final]["single_points"],
                    "dense_ids": facts[final]["dense_ids"],
                    "spatially_ordered": True,
                    "feature_count": totals[final]["rows"],
                    "bbox": totals[final]["bbox"],
                    "temporal_property": validate["temporal_column"] or "",
                    "temporal_extent": facts[final]["temporal"],
                    "attributes": [
                        {"name": c["name"], "type": c["type"], "source_name": c["source_name"]}
                        for c in validate["columns"]
                    ],
                    "source": source,
                    "stac_item": bool(params.get("create_stac")),
                    "published": bool(params.get("publish", True)),
                    "job_id": ctx.job_id,
                },
            )
            hooks.collection_ready.send(sender=VectorDataset, dataset=dataset, classes=hooks.text_classes(final))
            if params.get("create_stac") and dataset.published:
                catalog_services.item_upsert(collection_id=STAC_COLLECTION, item=stac_item_of(dataset))
            elif params.get("overwrite"):
                stac_item_delete(final)  # the replaced (or now hidden) dataset's item no longer applies
        if params.get("overwrite"):
            _group_prune(table, keep={p["table"] for p in kept})
    return _load_result(table, [p["table"] for p in kept])


_FAMILY_TITLES = {"Point": "points", "LineString": "lines", "Polygon": "polygons"}


def _group_prune(table: str, *, keep: set[str]) -> list[str]:
    """An overwrite replaces what the earlier load into ``table`` made: a collection of it
    that this load did not make again (the file no longer holds lines, or is no longer
    mixed) goes, with its table and STAC item."""
    gone = [d.collection_id for d in dataset_group(table=table) if d.collection_id not in keep]
    for name in gone:
        sql.table_drop(name)
        stac_item_delete(name)
    VectorDataset.objects.filter(pk__in=gone).delete()
    for name in gone:
        hooks.collection_removed.send(sender=VectorDataset, collection_id=name)
    return gone


def _validate_result(ctx: TaskContext) -> dict[str, Any]:
    """The validate stage's plan (stage 0; finalise's previous stage is the load fan-out)."""
    results = ctx.results_of(0)
    result = results[0] if results else None
    if not result:
        raise PermanentError("The validate stage left no plan.", code="internal_error")
    return dict(result)


def _dataset_summary(table: str) -> VectorCollectionResult:
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


def _load_result(table: str, made: list[str]) -> dict[str, Any]:
    """The job result: ``collections`` lists every collection made. A single-type file's one
    collection is also spelled out at the top level (as before files were split)."""
    return dict(_vector_job_result(table, made))


def _vector_job_result(table: str, made: list[str]) -> VectorJobResult:
    collections = [_dataset_summary(name) for name in made]
    if made == [table]:
        return {**collections[0], "collections": collections}
    return {
        "split_by_geometry_type": True,
        "collection_ids": made,
        "feature_count": sum(c["feature_count"] for c in collections),
        "geometry_types": [c["geometry_type"] for c in collections],
        "collections": collections,
    }


def vector_result(ctx: FinalizeContext) -> dict[str, Any]:
    return dict(ctx.stage_results[-1][0])


def vector_cleanup(job_id: str, params: dict[str, Any]) -> None:
    """JobType cleanup hook: remove everything a failed or cancelled process_vector wrote."""
    for load in sql.load_table_names(job_id):
        sql.table_drop(load)
    try:
        table = table_of(params)
    except InvalidInput:
        return
    with transaction.atomic():
        # The swap committed but a later step failed: withdraw this job's collections whole.
        mine = VectorDataset.objects.filter(Q(pk=table) | Q(source__split_of=table), job_id=job_id)
        names = list(mine.values_list("collection_id", flat=True))
        for name in names:
            sql.table_drop(name)
        mine.delete()
        if params.get("create_stac"):
            for name in {table, *names}:
                if not VectorDataset.objects.filter(pk=name).exists():
                    stac_item_delete(name)


# --- unpublish ----------------------------------------------------------------------------------


def vector_unpublish_preflight(params: dict[str, Any]) -> list[str]:
    try:
        sql.check_table_name(params["collection_id"])
    except InvalidInput as exc:
        return [_describe(exc)]
    return []


def vector_unpublish(ctx: TaskContext) -> dict[str, Any]:
    return dataset_unpublish(collection_id=ctx.params["collection_id"], dry_run=bool(ctx.params.get("dry_run", True)))
