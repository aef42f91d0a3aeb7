"""Job types of the rasters app: ``process_raster``, ``process_large_raster``, ``unpublish_raster``.

process_raster stages: ``validate`` (one task) -> ``cog`` (one task per output tier) ->
``register`` (one task: statistics, STAC item, removal of older runs) -> result.
process_large_raster: ``validate`` -> ``windows`` (one task per window, long queue) ->
``assemble`` (one task per tier, long queue) -> ``register``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from rasterio.errors import RasterioIOError

from geoplatform.errors import ApplicationError, NotFound
from geoplatform.storage import blob_size, check_blob_name, local_copy, zone_container
from ingest import registry

from . import cog, conf, gdal, links, services, stac, windows
from .errors import InvalidRaster

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def default_item_id(file_name: str) -> str:
    stem = Path(file_name).stem
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "raster"
    return cleaned[:128]


def _ids(params: dict[str, Any]) -> tuple[str, str]:
    return params["collection_id"], params.get("item_id") or default_item_id(params["file_name"])


def _source_containers() -> set[str]:
    return {*settings.GEOPLATFORM_UPLOAD_CONTAINERS, zone_container("bronze")}


# --- pre-flight (at submit: problems -> 400) -----------------------------------------------


def preflight(params: dict[str, Any]) -> list[str]:
    return check_file(params)


def check_file(params: dict[str, Any], *, large: bool = False, catalog: bool = True) -> list[str]:
    """Problems with one source file; ``catalog=False`` skips the collection/item checks."""
    container, name = params["container_name"], params["file_name"]
    collection_id, item_id = _ids(params)
    problems: list[str] = []
    for label, value in (("collection_id", collection_id), ("item_id", item_id)):
        if not _ID_RE.match(value):
            problems.append(f"{label} {value!r} must be 1-128 letters, digits, '.', '_' or '-'.")
    if container not in _source_containers():
        problems.append(
            f"container_name {container!r} is not a bronze container ({', '.join(sorted(_source_containers()))})."
        )
        return problems
    if params.get("crs"):
        try:
            cog.check_crs(params["crs"])
        except InvalidRaster as exc:
            problems.append(exc.message)
    try:
        check_blob_name(name)
        size = blob_size(container, name)
    except ApplicationError as exc:
        return [*problems, exc.message]
    if size == 0:
        return [*problems, f"{name!r} is empty (0 bytes)."]
    if size > conf.get("MAX_BYTES"):
        return [*problems, f"{name!r} is {size} bytes, above the limit of {conf.get('MAX_BYTES')} bytes."]
    if size >= conf.get("LARGE_BYTES") and not large:
        problems.append(
            f"{name!r} is {size} bytes, at or above the large-file threshold ({conf.get('LARGE_BYTES')} bytes): "
            "submit it as process_large_raster (long queue, processed by windows)."
        )
    try:
        with gdal.open_blob(container, name) as ds:
            facts = cog.inspect(ds, crs=params.get("crs"))
        problems.extend(facts.problems)
    except RasterioIOError as exc:
        problems.append(f"{name!r} is not a readable GeoTIFF ({exc}).")
    if not problems and catalog:
        problems.extend(_catalog_problems(params, collection_id, item_id))
    return problems


def _catalog_problems(params: dict[str, Any], collection_id: str, item_id: str) -> list[str]:
    from catalog import selectors as catalog_selectors

    if (
        collection_id != services.SYSTEM_COLLECTION
        and catalog_selectors.collection_get(collection_id=collection_id) is None
    ):
        return [f"STAC collection {collection_id!r} does not exist; create it first or leave collection_id out."]
    if not params["overwrite"] and catalog_selectors.item_get(collection_id=collection_id, item_id=item_id):
        return [f"Item {item_id!r} already exists in {collection_id!r}; pass overwrite=true to replace it."]
    return []


# --- stage handlers -------------------------------------------------------------------------


def validate_file(p: dict[str, Any], warn: Callable[[str], None]) -> dict[str, Any]:
    """Facts, detected type and tiers of ``p['file_name']`` (raises InvalidRaster)."""
    try:
        with gdal.open_blob(p["container_name"], p["file_name"]) as ds:
            facts = cog.inspect(ds, crs=p.get("crs"))
            if facts.problems:
                raise InvalidRaster(
                    f"{p['file_name']!r} cannot be published: " + " ".join(facts.problems),
                    details={"problems": facts.problems},
                )
            detected = cog.detect_type(ds, name=p["file_name"])
    except RasterioIOError as exc:
        raise InvalidRaster(f"{p['file_name']!r} is not a readable GeoTIFF ({exc}).") from exc
    except NotFound as exc:
        raise InvalidRaster(exc.message, code="file_not_found") from exc
    raster_type = detected if p["raster_type"] == "auto" else p["raster_type"]
    if p["raster_type"] != "auto" and detected != p["raster_type"]:
        warn(f"{p['file_name']}: raster_type {p['raster_type']!r} was given; the file looks like {detected!r}.")
    tiers = list(cog.TIERS) if p["output_tier"] == "all" else [p["output_tier"]]
    return {"facts": facts.as_dict(), "raster_type": raster_type, "detected_type": detected, "tiers": tiers}


def _validate(ctx: registry.TaskContext) -> dict[str, Any]:
    return validate_file(ctx.params, ctx.warn)


def cog_file(
    p: dict[str, Any], *, job_id: str, task_params: dict[str, Any], warn: Callable[[str], None]
) -> dict[str, Any]:
    """One tier's COG of ``p['file_name']`` into silver."""
    collection_id, item_id = _ids(p)
    suffix = Path(p["file_name"]).suffix or ".tif"
    with local_copy(p["container_name"], p["file_name"], suffix=suffix) as path:
        out = services.cog_tier_publish(
            source_container=p["container_name"],
            source_name=p["file_name"],
            local_source=path,
            collection_id=collection_id,
            item_id=item_id,
            job_id=job_id,
            tier=task_params["tier"],
            raster_type=task_params["raster_type"],
            crs=p.get("crs"),
            web_optimized=p["web_optimized"],
        )
    for warning in out["warnings"]:
        warn(warning)
    return {**out, "facts": task_params["facts"], "raster_type": task_params["raster_type"]}


def _cog(ctx: registry.TaskContext) -> dict[str, Any]:
    return cog_file(ctx.params, job_id=ctx.job_id, task_params=ctx.task_params, warn=ctx.warn)


def item_for(p: dict[str, Any], *, job_id: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The STAC item of one raster from its tier outputs (statistics read from the data COG)."""
    collection_id, item_id = _ids(p)
    outputs = sorted(outputs, key=lambda r: stac.DATA_ASSET_ORDER.index(r["tier"]))
    data = outputs[0]
    with gdal.open_blob(data["container"], data["blob"]) as ds:
        stats = cog.band_statistics(ds)
        # The COG's own facts (a reprojection may have changed shape, transform and CRS).
        facts = cog.inspect(ds).as_dict()
    return stac.build_item(
        collection_id=collection_id,
        item_id=item_id,
        job_id=job_id,
        facts=facts,
        raster_type=data["raster_type"],
        geometry_bbox=cog.wgs84_bounds(cog.RasterFacts(**{**facts, "bounds": tuple(facts["bounds"])})),
        assets=outputs,
        stats=stats,
        title=p.get("title") or "",
        description=p.get("description") or "",
        metadata=p.get("metadata") or {},
        source=f"{p['container_name']}/{p['file_name']}",
    )


def _register(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    collection_id, item_id = _ids(p)
    item = item_for(p, job_id=ctx.job_id, outputs=ctx.previous_results)
    published = p.get("publish", True)
    if published:
        services.raster_item_register(collection_id=collection_id, item=item)
        services.old_runs_delete(collection_id=collection_id, item_id=item_id, keep_job_id=ctx.job_id)
    services.parts_delete(collection_id=collection_id, item_id=item_id, job_id=ctx.job_id)
    result = {
        "collection_id": collection_id,
        "item_id": item_id,
        "raster_type": item["properties"]["geoplatform:raster_type"],
        "render": item["properties"]["geoplatform:render"],
        "tiers": [o["tier"] for o in ctx.previous_results],
    }
    if not published:  # a reviewed release: publishing registers it on approval
        result["stac_item"] = item
        services.pending_item_set(collection_id=collection_id, item_id=item_id, item=item, job_id=ctx.job_id)
    return result


def _finalize(ctx: registry.FinalizeContext) -> dict[str, Any]:
    registered = ctx.stage_results[-1][0]
    c, i = registered["collection_id"], registered["item_id"]
    render = registered["render"]
    return {
        "collection_id": c,
        "item_id": i,
        "raster_type": registered["raster_type"],
        "tiers": registered["tiers"],
        "tilejson_url": links.tilejson(c, i),
        "tile_url_template": links.tile_template(c, i, query=render),
        "preview_url": links.preview(c, i),
        "viewer_url": links.viewer(c, i),
        "stac_item_url": links.stac_item(c, i),
        **({"stac_item": registered["stac_item"]} if "stac_item" in registered else {}),
    }


def _cleanup(job_id: str, params: dict[str, Any]) -> None:
    collection_id, item_id = _ids(params)
    services.run_outputs_delete(collection_id=collection_id, item_id=item_id, job_id=job_id)


def _tier_tasks(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    validated = results[0]
    return [
        {"tier": t, "raster_type": validated["raster_type"], "facts": validated["facts"]} for t in validated["tiers"]
    ]


PROCESS_RASTER = registry.JobType(
    name="process_raster",
    description="GeoTIFF in bronze -> validated COG(s) in silver (per output tier) -> STAC item -> tile URLs.",
    params=[
        registry.Param("container_name", str, required=True, help="Bronze container holding the file."),
        registry.Param("file_name", str, required=True, help="Blob name of the GeoTIFF."),
        registry.Param("collection_id", str, default=services.SYSTEM_COLLECTION, help="STAC collection."),
        registry.Param("item_id", str, default="", help="STAC item id (default: from the file name)."),
        registry.Param("output_tier", str, default="analysis", choices=cog.OUTPUT_TIERS),
        registry.Param("raster_type", str, default="auto", choices=cog.RASTER_TYPES),
        registry.Param("crs", str, default="", help="CRS for files without one (or reproject to it)."),
        registry.Param("overwrite", bool, default=False, help="Replace an existing item."),
        registry.Param("web_optimized", bool, default=False, help="Align the COG to the WebMercatorQuad grid."),
        registry.Param("title", str, default=""),
        registry.Param("description", str, default=""),
        registry.Param("metadata", dict, default=None, help="Free properties copied into the STAC item."),
        registry.Param(
            "publish",
            bool,
            default=True,
            help="Register the STAC item at once (default); false returns it in the result for a reviewer's approval.",
        ),
    ],
    validators=[preflight],
    stages=[
        registry.Stage("validate", _validate),
        registry.Stage("cog", _cog, tasks=registry.from_previous(_tier_tasks)),
        registry.Stage("register", _register),
    ],
    finalize=_finalize,
    cleanup=_cleanup,
)


# --- process_large_raster: windows in parallel on the long queue ----------------------------


def _large_validate(ctx: registry.TaskContext) -> dict[str, Any]:
    validated = _validate(ctx)
    facts = validated["facts"]
    crs = ctx.params.get("crs")
    if crs and facts["crs"] and cog.check_crs(crs) != cog.check_crs(facts["crs"]):
        raise InvalidRaster(
            "process_large_raster does not reproject; the crs parameter only assigns a CRS to a file without one.",
            remediation="Reproject the file first, or use process_raster for files below the large-file threshold.",
        )
    validated["windows"] = windows.plan(facts["width"], facts["height"], ctx.params["window_size"])
    return validated


def _window_tasks(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    validated = results[0]
    shared = {k: validated[k] for k in ("facts", "raster_type", "tiers")}
    return [{"window": w, **shared} for w in validated["windows"]]


def _window(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    collection_id, item_id = _ids(p)
    window = ctx.task_params["window"]
    blob = services.part_blob(collection_id, item_id, ctx.job_id, window["index"])
    with tempfile.TemporaryDirectory(prefix="geoplatform-part-") as tmp:
        part = Path(tmp) / "part.tif"
        with gdal.open_blob(p["container_name"], p["file_name"]) as src:
            try:
                windows.write_part(src, window, part, crs=p.get("crs") or None)
            except RasterioIOError as exc:
                raise InvalidRaster(f"Window {window['index']} cannot be read: {exc}") from exc
        services.blob_store(container=zone_container("silver"), name=blob, path=part)
    return {"window": window, "blob": blob, **{k: ctx.task_params[k] for k in ("facts", "raster_type", "tiers")}}


def _assemble_tasks(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    first = results[0]
    parts = [[r["window"], r["blob"]] for r in sorted(results, key=lambda r: r["window"]["index"])]
    return [
        {"tier": t, "raster_type": first["raster_type"], "facts": first["facts"], "parts": parts}
        for t in first["tiers"]
    ]


def _assemble(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    collection_id, item_id = _ids(p)
    silver = zone_container("silver")
    facts = ctx.task_params["facts"]
    with gdal.open_blob(silver, ctx.task_params["parts"][0][1]) as first:
        try:
            colormap = first.colormap(1) if first.count == 1 else None
        except ValueError:
            colormap = None
    parts = [(window, gdal.gdal_path(silver, blob)) for window, blob in ctx.task_params["parts"]]
    with tempfile.TemporaryDirectory(prefix="geoplatform-vrt-") as tmp, gdal.gdal_env():
        vrt = Path(tmp) / "mosaic.vrt"
        vrt.write_text(windows.build_vrt(facts, parts, colormap))
        out = services.cog_tier_publish(
            source_container=silver,
            source_name="(parts)",
            local_source=vrt,
            collection_id=collection_id,
            item_id=item_id,
            job_id=ctx.job_id,
            tier=ctx.task_params["tier"],
            raster_type=ctx.task_params["raster_type"],
            crs=None,
            web_optimized=p["web_optimized"],
        )
    for warning in out["warnings"]:
        ctx.warn(warning)
    return {**out, "facts": facts, "raster_type": ctx.task_params["raster_type"]}


def _large_preflight(params: dict[str, Any]) -> list[str]:
    return check_file(params, large=True)


PROCESS_LARGE_RASTER = registry.JobType(
    name="process_large_raster",
    description="Like process_raster, for big files: windows copied in parallel on the long queue, then COGs.",
    params=[
        *[p for p in PROCESS_RASTER.params if p.name != "crs"],
        registry.Param("crs", str, default="", help="CRS for files without one (no reprojection here)."),
        registry.Param("window_size", int, default=4096, min=256, max=32768, help="Window edge in pixels."),
    ],
    validators=[_large_preflight],
    stages=[
        registry.Stage("validate", _large_validate, queue="long"),
        registry.Stage("windows", _window, tasks=registry.from_previous(_window_tasks), queue="long"),
        registry.Stage("assemble", _assemble, tasks=registry.from_previous(_assemble_tasks), queue="long"),
        registry.Stage("register", _register),
    ],
    finalize=_finalize,
    cleanup=_cleanup,
)


def _unpublish(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    return services.raster_unpublish(collection_id=p["collection_id"], item_id=p["item_id"], dry_run=p["dry_run"])


UNPUBLISH_RASTER = registry.JobType(
    name="unpublish_raster",
    description="List (dry_run, the default) or delete a raster item's COGs and STAC item.",
    params=[
        registry.Param("collection_id", str, default=services.SYSTEM_COLLECTION),
        registry.Param("item_id", str, required=True),
        registry.Param("dry_run", bool, default=True),
        registry.Param("run_tag", str, default="", help="Free text; makes otherwise equal jobs distinct."),
    ],
    stages=[registry.Stage("unpublish", _unpublish)],
    finalize=lambda ctx: ctx.stage_results[0][0],
)


def register() -> None:
    registry.register(PROCESS_RASTER)
    registry.register(PROCESS_LARGE_RASTER)
    registry.register(UNPUBLISH_RASTER)
