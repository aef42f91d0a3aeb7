"""Stage handlers of ``process_raster_collection`` (declared in :mod:`rasters.jobtypes`):
many GeoTIFFs -> one COG per file (fan-out) -> one STAC collection.

Stages: ``plan`` (read the file list or manifest) -> ``validate`` (one task per file) ->
``prepare`` (large files: one task per window, long queue) -> ``cog`` (one task per file and
tier) -> ``register`` (collection + items, one task). The prepare and cog stages are
process_raster's (``stages.file_stages``), so a collection may mix small and large files.

``register`` also registers the pgSTAC search ``{"collections": [collection_id]}`` with
metadata ``{name, minzoom, maxzoom}``: the same collection and zooms always give the same
search id, so the mosaic URL ``/api/raster/mosaic/{search_id}/...`` in the result is stable
across re-runs.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from rio_tiler.io import Reader

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from geoplatform import storage
from geoplatform.errors import ApplicationError
from geoplatform.storage import get_storage, zone_container
from ingest import registry

from . import links, mosaic, services, stac, stages
from .errors import InvalidRaster
from .gdal import gdal_env, gdal_path
from .results import RasterCollectionJobResult

MAX_FILES = 1000


def resolve_files(params: dict[str, Any]) -> list[dict[str, str]]:
    """[{file_name, item_id}] from ``files`` or a JSON manifest blob (a list, or {"files": [...]})."""
    entries: list[Any] = list(params.get("files") or [])
    if params.get("manifest"):
        storage = get_storage(params["container_name"])
        if not storage.exists(params["manifest"]):
            raise InvalidRaster(f"No manifest {params['manifest']!r} in {params['container_name']!r}.")
        with storage.open(params["manifest"], "rb") as fh:
            try:
                doc = json.loads(fh.read())
            except ValueError as exc:
                raise InvalidRaster(f"The manifest is not JSON: {exc}") from exc
        entries += doc.get("files", []) if isinstance(doc, dict) else doc
    out = []
    for entry in entries:
        if isinstance(entry, str):
            out.append({"file_name": entry, "item_id": stages.default_item_id(entry)})
        elif isinstance(entry, dict) and isinstance(entry.get("file_name"), str):
            item_id = entry.get("item_id") or stages.default_item_id(entry["file_name"])
            out.append({"file_name": entry["file_name"], "item_id": str(item_id)})
        else:
            raise InvalidRaster(f"Manifest entries are file names or {{file_name, item_id}} objects, not {entry!r}.")
    return out


def _file_params(params: dict[str, Any], entry: dict[str, str]) -> dict[str, Any]:
    # title/description describe the collection, not each item.
    return {**params, "file_name": entry["file_name"], "item_id": entry["item_id"], "title": "", "description": ""}


def preflight(params: dict[str, Any]) -> list[str]:
    try:
        entries = resolve_files(params)
    except ApplicationError as exc:
        return [exc.message]
    if not entries:
        return ["Give the files: 'files' (a list of blob names) or 'manifest' (a JSON blob listing them)."]
    if len(entries) > MAX_FILES:
        return [f"{len(entries)} files; at most {MAX_FILES} per collection job."]
    problems: list[str] = []
    ids = [e["item_id"] for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.append(f"Item ids repeat: {', '.join(duplicates)}; give item_id per file in the manifest.")
    for entry in entries:
        problems += [
            f"{entry['file_name']}: {p}" for p in stages.check_file(_file_params(params, entry), catalog=False)
        ]
    if (
        params.get("minzoom") is not None
        and params.get("maxzoom") is not None
        and params["minzoom"] > params["maxzoom"]
    ):
        problems.append(f"minzoom {params['minzoom']} is above maxzoom {params['maxzoom']}.")
    if not problems:
        if params["collection_id"] == services.SYSTEM_COLLECTION:
            problems.append("process_raster_collection makes its own collection; choose a collection_id.")
        elif not params["overwrite"] and catalog_selectors.collection_get(collection_id=params["collection_id"]):
            problems.append(f"Collection {params['collection_id']!r} exists; pass overwrite=true to replace its items.")
    return problems


def plan(ctx: registry.TaskContext) -> dict[str, Any]:
    return {"files": resolve_files(ctx.params)}


def validate_tasks(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(entry) for entry in results[0]["files"]]


def entry_params(params: dict[str, Any], task_params: dict[str, Any]) -> dict[str, Any]:
    return _file_params(params, {"file_name": task_params["file_name"], "item_id": task_params["item_id"]})


def validate(ctx: registry.TaskContext) -> dict[str, Any]:
    return stages.validate_file(entry_params(ctx.params, ctx.task_params), ctx.warn)


def register_collection(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    by_item: dict[str, list[dict[str, Any]]] = {}
    for result in ctx.previous_results:
        by_item.setdefault(result["item_id"], []).append(result)
    items = []
    for item_id, outputs in sorted(by_item.items()):
        entry = {"file_name": outputs[0]["file_name"], "item_id": item_id}
        items.append(stages.item_for(_file_params(p, entry), job_id=ctx.job_id, outputs=outputs))
    bboxes = [i["bbox"] for i in items]
    union = [min(b[0] for b in bboxes), min(b[1] for b in bboxes), max(b[2] for b in bboxes), max(b[3] for b in bboxes)]
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    metadata = p.get("metadata") or {}
    collection = {
        "type": "Collection",
        "stac_version": stac.STAC_VERSION,
        "stac_extensions": [stac.PROJ_EXT, stac.RASTER_EXT],
        "id": p["collection_id"],
        "title": p.get("title") or p["collection_id"],
        "description": p.get("description") or f"{len(items)} rasters published by the platform.",
        "license": str(metadata.get("license", "other")),
        "extent": {"spatial": {"bbox": [union]}, "temporal": {"interval": [[now, None]]}},
        "summaries": {"geoplatform:raster_type": sorted({i["properties"]["geoplatform:raster_type"] for i in items})},
        "links": [],
        "geoplatform:job_id": ctx.job_id,
    }
    published = p.get("publish", True)
    if published:
        services.raster_collection_register(collection=collection, items=items, job_id=ctx.job_id)
    else:  # a reviewed release: publishing registers the collection and its items on approval
        for item in items:
            services.pending_item_set(
                collection_id=p["collection_id"], item_id=item["id"], item=item, job_id=ctx.job_id
            )
    # Only windowed files have parts: no storage listing per item for the others.
    for item_id in sorted({r["item_id"] for r in ctx.previous_results if r.get("from_parts")}):
        services.parts_delete(collection_id=p["collection_id"], item_id=item_id, job_id=ctx.job_id)
    minzoom, maxzoom = _mosaic_zooms(p, items)
    # A registered search is only a stored query: registering it before approval gives the
    # release its stable mosaic URL, which answers 404 until the collection is public.
    search_id = catalog_services.search_register(
        search={"collections": [p["collection_id"]]},
        metadata={"name": p["collection_id"], "minzoom": minzoom, "maxzoom": maxzoom},
    )
    return {
        "collection_id": p["collection_id"],
        "items": [i["id"] for i in items],
        "bbox": union,
        "search_id": search_id,
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        # silver COGs of every item (the external copy of an approved public release uses them)
        "cog_blobs": sorted(
            a["geoplatform:blob"] for i in items for a in i["assets"].values() if "geoplatform:blob" in a
        ),
        **({} if published else {"stac_collection": collection}),
    }


def _mosaic_zooms(params: dict[str, Any], items: list[dict[str, Any]]) -> tuple[int, int]:
    """WebMercatorQuad zooms of the mosaic: the parameters, else from the first COG.

    The default minzoom is two levels further out than the COG's own (a few items per tile, like the
    collection mosaic's TileJSON): further out, one tile would open too many COGs. The
    default maxzoom allows two levels of overzoom (deep tiles read one COG each: cheap).
    """
    minzoom, maxzoom = params.get("minzoom"), params.get("maxzoom")
    if minzoom is None or maxzoom is None:
        where = next((w for w in map(mosaic._data_asset, items) if w is not None), None)
        if where is None:
            raise InvalidRaster("No item has a COG asset: cannot size the mosaic.")
        with gdal_env(), Reader(gdal_path(*where)) as reader:
            minzoom = max(0, int(reader.minzoom) - 2) if minzoom is None else minzoom
            maxzoom = min(24, int(reader.maxzoom) + 2) if maxzoom is None else maxzoom
    if minzoom > maxzoom:
        raise InvalidRaster(f"minzoom {minzoom} is above maxzoom {maxzoom}.")
    return int(minzoom), int(maxzoom)


def finalize(ctx: registry.FinalizeContext) -> dict[str, Any]:
    return dict(_collection_job_result(ctx))


def _collection_job_result(ctx: registry.FinalizeContext) -> RasterCollectionJobResult:
    registered = ctx.stage_results[-1][0]
    c = registered["collection_id"]
    result: RasterCollectionJobResult = {
        "collection_id": c,
        "item_ids": registered["items"],
        "item_count": len(registered["items"]),
        "bbox": registered["bbox"],
        "stac_collection_url": f"/api/stac/collections/{c}",
        "tilejson_url_template": links.base(c, "{item_id}") + "/tilejson.json",
        "search_id": registered["search_id"],
        "mosaic_minzoom": registered["minzoom"],
        "mosaic_maxzoom": registered["maxzoom"],
        "mosaic_tilejson_url": links.search_mosaic_tilejson(registered["search_id"]),
        "mosaic_tile_url_template": links.search_mosaic_tile_template(registered["search_id"]),
        "cog_blobs": registered["cog_blobs"],
    }
    if "stac_collection" in registered:
        result["stac_collection"] = registered["stac_collection"]
    return result


def cleanup(job_id: str, params: dict[str, Any]) -> None:
    """Remove this run's COGs and the items (and collection) it wrote; earlier runs stay."""
    collection_id = params["collection_id"]
    silver = zone_container("silver")
    run = job_id[:16]
    item_ids = set()
    for blob in storage.blob_list(silver, f"rasters/{collection_id}"):
        parts = blob.split("/")
        if len(parts) >= 5 and parts[3] == run:
            storage.blob_delete(silver, blob)
            item_ids.add(parts[2])
    for item_id in sorted(item_ids):
        item = catalog_selectors.item_get(collection_id=collection_id, item_id=item_id)
        if item is not None and item.get("properties", {}).get("geoplatform:job_id") == job_id:
            catalog_services.item_delete(collection_id=collection_id, item_id=item_id)
    collection = catalog_selectors.collection_get(collection_id=collection_id)
    if collection is not None and collection.get("geoplatform:job_id") == job_id:
        catalog_services.collection_delete(collection_id=collection_id)
    services.pending_items_discard(collection_id=collection_id, job_id=job_id)
