"""Stage handlers of the rasters app's single-file jobs (declared in :mod:`rasters.jobtypes`).

process_raster stages: ``validate`` (one task) -> ``prepare`` (large files: one task per
window, long queue; small files: one task that does nothing) -> ``cog`` (one task per output
tier; from the parts on the long queue for a large file) -> ``register`` (one task:
statistics, STAC item, removal of older runs) -> result. unpublish_raster and unpublish_raster_collection: one task each.

``file_stages`` (prepare + cog) is shared with process_raster_collection
(:mod:`rasters.collection_stages`).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from rasterio.errors import RasterioIOError

from catalog import selectors as catalog_selectors
from geoplatform.errors import ApplicationError, NotFound
from geoplatform.storage import blob_exists, blob_size, check_blob_name, get_storage, local_copy, zone_container
from ingest import registry
from ingest.preflight import saw as preflight_saw

from . import cog, conf, gdal, links, rat, services, stac, windows
from .errors import InvalidRaster
from .results import RasterJobResult

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def default_item_id(file_name: str) -> str:
    stem = Path(file_name).stem
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "raster"
    return cleaned[:128]


def ids_of(params: dict[str, Any]) -> tuple[str, str]:
    return params["collection_id"], params.get("item_id") or default_item_id(params["file_name"])


def _source_containers() -> set[str]:
    return {*settings.GEOPLATFORM_UPLOAD_CONTAINERS, zone_container("bronze")}


# --- whole file or windows -----------------------------------------------------------------

PROCESSING = ("auto", "whole", "windows")


def windowed(params: dict[str, Any], size: int) -> bool:
    """Whether a file goes through windows: asked for, or ``auto`` and at/above the threshold."""
    if params.get("processing") == "windows":
        return True
    if params.get("processing") == "whole":
        return False
    return size >= conf.get("LARGE_BYTES")


def _reprojection_problem(params: dict[str, Any], file_crs: str | None) -> str | None:
    """Windows copy pixels as they are: a ``crs`` other than the file's own is refused there."""
    crs = params.get("crs")
    if crs and file_crs and cog.check_crs(crs) != cog.check_crs(file_crs):
        return (
            f"{params['file_name']!r} is processed by windows (large file or processing='windows'), which does not "
            f"reproject; the crs parameter ({crs}) can only assign a CRS to a file without one. "
            "Reproject the file first, or pass processing='whole' to convert it in one task."
        )
    return None


# --- pre-flight (at submit: problems -> 400) -----------------------------------------------


def preflight(params: dict[str, Any]) -> list[str]:
    return check_file(params)


def check_file(params: dict[str, Any], *, catalog: bool = True) -> list[str]:
    """Problems with one source file; ``catalog=False`` skips the collection/item checks."""
    container, name = params["container_name"], params["file_name"]
    collection_id, item_id = ids_of(params)
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
    preflight_saw(container=container, file_name=name, size=size)
    if size == 0:
        return [*problems, f"{name!r} is empty (0 bytes)."]
    if size > conf.get("MAX_BYTES"):
        return [*problems, f"{name!r} is {size} bytes, above the limit of {conf.get('MAX_BYTES')} bytes."]
    try:
        with gdal.open_blob(container, name) as ds:
            facts = cog.inspect(ds, crs=params.get("crs"))
        preflight_saw(
            format=facts.driver,
            crs=facts.crs,
            bands=facts.count,
            dimensions=[facts.width, facts.height],
            dtype=facts.dtype,
            nodata=facts.nodata,
            windowed=windowed(params, size),
        )
        problems.extend(facts.problems)
        if not problems and windowed(params, size):
            problems.extend(filter(None, [_reprojection_problem(params, facts.crs)]))
    except RasterioIOError as exc:
        problems.append(f"{name!r} is not a readable GeoTIFF ({exc}).")
    if not problems and catalog:
        problems.extend(_catalog_problems(params, collection_id, item_id))
    return problems


def _catalog_problems(params: dict[str, Any], collection_id: str, item_id: str) -> list[str]:
    if (
        collection_id != services.SYSTEM_COLLECTION
        and catalog_selectors.collection_get(collection_id=collection_id) is None
    ):
        return [f"STAC collection {collection_id!r} does not exist; create it first or leave collection_id out."]
    if not params["overwrite"] and catalog_selectors.item_get(collection_id=collection_id, item_id=item_id):
        return [f"Item {item_id!r} already exists in {collection_id!r}; pass overwrite=true to replace it."]
    return []


# --- stage handlers, shared with process_raster_collection ------------------------------------
#
# Every file goes validate -> prepare -> cog. ``prepare`` is where a large file is copied by
# windows, in parallel tasks on the long queue; a small file has one prepare task that does
# nothing. ``cog`` then writes each tier from the source (small) or from a VRT over the
# parts (large, long queue). Task parameters always carry file_name and item_id, so one
# collection job can mix small and large files.


def validate_file(p: dict[str, Any], warn: Callable[[str], None]) -> dict[str, Any]:
    """Facts, detected type, tiers and (large files) the windows of ``p['file_name']``."""
    try:
        size = blob_size(p["container_name"], p["file_name"])
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
    plan: list[dict[str, int]] = []
    if windowed(p, size):
        problem = _reprojection_problem(p, facts.crs)
        if problem:
            raise InvalidRaster(problem)
        plan = windows.plan(facts.width, facts.height, p["window_size"])
    _, item_id = ids_of(p)
    return {
        "file_name": p["file_name"],
        "item_id": item_id,
        "facts": facts.as_dict(),
        "raster_type": raster_type,
        "detected_type": detected,
        "tiers": tiers,
        "windows": plan,
    }


_SHARED = ("file_name", "item_id", "facts", "raster_type", "tiers")


def prepare_tasks(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """One task per window of each large file; one (empty) task per small file."""
    tasks: list[dict[str, Any]] = []
    for validated in results:
        shared = {k: validated[k] for k in _SHARED}
        tasks.extend([{**shared, "window": w} for w in validated["windows"]] or [shared])
    return tasks


def _long_if(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda task_params: "long" if key in task_params else "default"


def decoded_bytes(task_params: dict[str, Any]) -> int:
    """The source's pixels decoded (width x height x bands x sample size): what building its
    COG reads and compresses, whatever its size on disk. A task past GEOPLATFORM_LONG_WORK_BYTES
    goes to the long pool (``Stage.work_bytes``), e.g. a deflated 600 MiB file decoding to 3 GiB
    converted whole."""
    facts = task_params.get("facts") or {}
    try:
        sample = np.dtype(facts.get("dtype", "uint8")).itemsize
    except TypeError:
        sample = 8
    return int(facts.get("width", 0)) * int(facts.get("height", 0)) * int(facts.get("count", 1)) * sample


def prepare_file(p: dict[str, Any], *, job_id: str, task_params: dict[str, Any]) -> dict[str, Any]:
    """Copy one window of a large file to a lossless part in silver (small files: nothing to do)."""
    if "window" not in task_params:
        return dict(task_params)
    collection_id, item_id = ids_of(p)
    window = task_params["window"]
    blob = services.part_blob(collection_id, item_id, job_id, window["index"])
    with tempfile.TemporaryDirectory(prefix="geoplatform-part-") as tmp:
        part = Path(tmp) / "part.tif"
        with gdal.open_blob(p["container_name"], p["file_name"]) as src:
            try:
                windows.write_part(src, window, part, crs=p.get("crs") or None)
            except RasterioIOError as exc:
                raise InvalidRaster(f"Window {window['index']} cannot be read: {exc}") from exc
        services.blob_store(container=zone_container("silver"), name=blob, path=part)
    return {**task_params, "blob": blob}


def cog_tasks(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """One task per file and tier; a windowed file's tasks carry its parts, in window order."""
    by_item: dict[str, list[dict[str, Any]]] = {}
    for prepared in results:
        by_item.setdefault(prepared["item_id"], []).append(prepared)
    tasks: list[dict[str, Any]] = []
    for prepared_parts in by_item.values():
        first = prepared_parts[0]
        base = {k: first[k] for k in ("file_name", "item_id", "facts", "raster_type")}
        if "window" in first:
            ordered = sorted(prepared_parts, key=lambda r: r["window"]["index"])
            base["parts"] = [[r["window"], r["blob"]] for r in ordered]
        tasks.extend({**base, "tier": tier} for tier in first["tiers"])
    return tasks


@contextlib.contextmanager
def _cog_source(p: dict[str, Any], task_params: dict[str, Any]) -> Iterator[tuple[str, str, Path, str | None]]:
    """(container, name, local GDAL path, crs) to convert: the file itself, or a VRT over its window parts."""
    if "parts" not in task_params:
        suffix = Path(p["file_name"]).suffix or ".tif"
        with local_copy(p["container_name"], p["file_name"], suffix=suffix) as path:
            yield p["container_name"], p["file_name"], path, p.get("crs")
        return
    # Windows: a VRT over the parts, read with range requests; they already have the CRS.
    silver = zone_container("silver")
    with gdal.open_blob(silver, task_params["parts"][0][1]) as first:
        try:
            colormap = first.colormap(1) if first.count == 1 else None
        except ValueError:
            colormap = None
    parts = [(window, gdal.gdal_path(silver, blob)) for window, blob in task_params["parts"]]
    with tempfile.TemporaryDirectory(prefix="geoplatform-vrt-") as tmp, gdal.gdal_env():
        vrt = Path(tmp) / "mosaic.vrt"
        vrt.write_text(windows.build_vrt(task_params["facts"], parts, colormap))
        yield silver, "(parts)", vrt, None


def cog_file(
    p: dict[str, Any], *, job_id: str, task_params: dict[str, Any], warn: Callable[[str], None]
) -> dict[str, Any]:
    """One tier's COG of ``p['file_name']`` into silver: from the source, or from its parts."""
    collection_id, item_id = ids_of(p)
    with _cog_source(p, task_params) as (container, name, path, crs):
        out = services.cog_tier_publish(
            source_container=container,
            source_name=name,
            local_source=path,
            collection_id=collection_id,
            item_id=item_id,
            job_id=job_id,
            tier=task_params["tier"],
            raster_type=task_params["raster_type"],
            crs=crs,
            web_optimized=p["web_optimized"],
        )
    for warning in out["warnings"]:
        warn(warning)
    return {
        **out,
        "file_name": p["file_name"],
        "item_id": item_id,
        "facts": task_params["facts"],
        "raster_type": task_params["raster_type"],
        "from_parts": "parts" in task_params,  # window parts to delete once registered
    }


def file_stages(
    file_params: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
) -> list[registry.Stage]:
    """The prepare and cog stages of a job whose validate stage returns validate_file()'s results.

    ``file_params(job_params, task_params)`` gives the parameters of one file (a collection
    job holds many files; process_raster's own parameters are its file's).
    """

    def _prepare(ctx: registry.TaskContext) -> dict[str, Any]:
        return prepare_file(file_params(ctx.params, ctx.task_params), job_id=ctx.job_id, task_params=ctx.task_params)

    def _cog(ctx: registry.TaskContext) -> dict[str, Any]:
        p = file_params(ctx.params, ctx.task_params)
        return cog_file(p, job_id=ctx.job_id, task_params=ctx.task_params, warn=ctx.warn)

    return [
        registry.Stage("prepare", _prepare, tasks=registry.from_previous(prepare_tasks), queue_of=_long_if("window")),
        registry.Stage(
            "cog",
            _cog,
            tasks=registry.from_previous(cog_tasks),
            queue_of=_long_if("parts"),
            work_bytes=decoded_bytes,
        ),
    ]


def validate(ctx: registry.TaskContext) -> dict[str, Any]:
    return validate_file(ctx.params, ctx.warn)


def item_for(p: dict[str, Any], *, job_id: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The STAC item of one raster from its tier outputs (statistics read from the data COG)."""
    collection_id, item_id = ids_of(p)
    outputs = sorted(outputs, key=lambda r: stac.DATA_ASSET_ORDER.index(r["tier"]))
    data = outputs[0]
    with gdal.open_blob(data["container"], data["blob"]) as ds:
        stats = cog.band_statistics(ds)
        # The COG's own facts (a reprojection may have changed shape, transform and CRS).
        facts = cog.inspect(ds).as_dict()
    item = stac.build_item(
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
    rat.apply_classes(item, _sidecar_classes(p["container_name"], p["file_name"]))
    return item


def _sidecar_classes(container: str, file_name: str) -> list[dict[str, Any]]:
    """Classes of the raster attribute table in ``<file>.aux.xml`` beside the upload, if any."""
    name = f"{file_name}.aux.xml"
    if not blob_exists(container, name):
        return []
    with get_storage(container).open(name) as fh:
        return rat.classes_from_aux_xml(fh.read())


def register_item(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    collection_id, item_id = ids_of(p)
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


def finalize(ctx: registry.FinalizeContext) -> dict[str, Any]:
    return dict(_raster_job_result(ctx))


def _raster_job_result(ctx: registry.FinalizeContext) -> RasterJobResult:
    registered = ctx.stage_results[-1][0]
    c, i = registered["collection_id"], registered["item_id"]
    render = registered["render"]
    result: RasterJobResult = {
        "collection_id": c,
        "item_id": i,
        "raster_type": registered["raster_type"],
        "tiers": registered["tiers"],
        "tilejson_url": links.tilejson(c, i),
        "tile_url_template": links.tile_template(c, i, query=render),
        "preview_url": links.preview(c, i),
        "viewer_url": links.viewer(c, i),
        "stac_item_url": links.stac_item(c, i),
    }
    if "stac_item" in registered:
        result["stac_item"] = registered["stac_item"]
    return result


def cleanup(job_id: str, params: dict[str, Any]) -> None:
    collection_id, item_id = ids_of(params)
    services.run_outputs_delete(collection_id=collection_id, item_id=item_id, job_id=job_id)


def unpublish(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    return dict(services.raster_unpublish(collection_id=p["collection_id"], item_id=p["item_id"], dry_run=p["dry_run"]))


def collection_unpublish_preflight(params: dict[str, Any]) -> list[str]:
    if params["collection_id"] == services.SYSTEM_COLLECTION:
        return [
            f"{services.SYSTEM_COLLECTION!r} holds every single-file raster: unpublish its items one by one "
            "with unpublish_raster."
        ]
    return []


def collection_unpublish(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    return dict(services.raster_collection_unpublish(collection_id=p["collection_id"], dry_run=p["dry_run"]))
