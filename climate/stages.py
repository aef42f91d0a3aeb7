"""Stage handlers of the climate job types (declared in :mod:`climate.jobtypes`).

virtualize_climate: ``plan`` (one task: the files, their formats) -> ``reference`` (one task
per file: its kerchunk references, metadata only, saved under the run's ``parts/``) ->
``combine`` (one task: pre-flight across files, one reference set along time, the STAC item).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path
from typing import Any

import xarray as xr

from geoplatform import storage
from geoplatform.errors import ApplicationError
from geoplatform.storage import zone_container
from ingest import registry
from ingest.errors import PermanentError

from . import cmip6, conf, gpstore, inventory, meta, refs, selectors, services, sources, stac
from .errors import InvalidClimateSource
from .results import RechunkResult, VirtualizeResult

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def default_item_id(files: list[str]) -> str:
    """From a CMIP6 series: its name without the time range; else the first file's stem."""
    first = Path(files[0]).name
    parsed = cmip6.parse(first)
    stem = parsed.series_id if parsed is not None else Path(first).stem.removesuffix(".zarr")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "climate"
    return cleaned[:128]


def ids_of(params: dict[str, Any]) -> tuple[str, str]:
    item_id = params.get("item_id") or default_item_id(sources.resolve(params))
    return params["collection_id"], item_id


def _permanent(exc: ApplicationError) -> PermanentError:
    return PermanentError(exc.message)


# --- pre-flight (at submit: problems -> 400 naming the files and the field) ----------------

# Series up to this size are compared at submit (metadata reads in the request); larger ones in ``combine``.
PREFLIGHT_METADATA_FILES = 16


def _source_problems(params: dict[str, Any]) -> tuple[list[str], list[str]]:
    try:
        files = sources.resolve(params)
    except ApplicationError as exc:
        return [exc.message + (f" {exc.remediation}" if exc.remediation else "")], []
    limit = params.get("max_files") or conf.max_files()
    if len(files) > limit:
        return [f"The series has {len(files)} files, more than max_files={limit}."], files
    return [], files


def preflight(params: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if params.get("chunks"):
        problems.append(
            "'chunks' does not apply to virtualize_climate: references keep the source files' chunks. "
            "Run rechunk_climate on the virtual dataset for a copy chunked for time series."
        )
    source, files = _source_problems(params)
    if source:
        return problems + source
    item_id = params.get("item_id") or default_item_id(files)
    if not _ID_RE.match(item_id):
        problems.append(f"item_id {item_id!r} must be 1-128 letters, digits, '.', '_' or '-'.")
    collection_id = params["collection_id"]
    if not params.get("overwrite") and selectors.dataset_row_find(collection_id=collection_id, item_id=item_id):
        problems.append(
            f"A climate dataset {collection_id}/{item_id} exists: pass overwrite=true to replace it, or another item_id."
        )
    if len(files) <= PREFLIGHT_METADATA_FILES:
        refusals, _ = inventory.problems_for_series(
            params["container_name"], files, concat_dim=params.get("concat_dim") or "time"
        )
        problems.extend(refusals)
    return problems


# --- virtualize_climate --------------------------------------------------------------------


def plan(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    try:
        files = sources.resolve(p)
        formats = [sources.file_format(p["container_name"], f) for f in files]
    except ApplicationError as exc:
        raise _permanent(exc) from exc
    if "zarr" in formats and len(files) > 1:
        raise PermanentError("A Zarr store is virtualized on its own: submit one .zarr per job.")
    collection_id, item_id = ids_of(p)
    for name in files:
        if (miss := cmip6.near_miss(name)) is not None:
            ctx.warn(miss)
    for issue in cmip6.time_issues(files):
        ctx.warn(issue)
    return {"collection_id": collection_id, "item_id": item_id, "files": files, "formats": formats}


def reference_tasks(previous: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    planned = previous[0]
    return [
        {"index": i, "file": f, "format": fmt}
        for i, (f, fmt) in enumerate(zip(planned["files"], planned["formats"], strict=True))
    ]


def reference(ctx: registry.TaskContext) -> dict[str, Any]:
    """One file's references (metadata reads only) -> the run's parts folder."""
    p, t = ctx.params, ctx.task_params
    collection_id, item_id = ids_of(p)
    container = p["container_name"]
    if t["format"] == "zarr":
        return {"index": t["index"], "file": t["file"], "format": "zarr", "part": "", "meta": {}}
    try:
        file_refs = refs.file_references(container, t["file"], fmt=t["format"])
    except ApplicationError as exc:
        raise _permanent(exc) from exc
    except Exception as exc:  # h5py/kerchunk on a truncated or corrupt file: bad data, not retried
        raise PermanentError(f"{t['file']!r} cannot be read as {t['format']}: {exc}") from exc
    name = services.part_blob(collection_id, item_id, ctx.job_id, t["index"])
    services.json_save(container=zone_container("silver"), name=name, document=file_refs)
    return {
        "index": t["index"],
        "file": t["file"],
        "format": t["format"],
        "part": name,
        "meta": meta.file_metadata(file_refs),
    }


def combine(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    planned = ctx.results_of(0)[0]
    collection_id, item_id = planned["collection_id"], planned["item_id"]
    parts = sorted(ctx.previous_results, key=lambda r: r["index"])
    silver = zone_container("silver")
    concat_dim = p.get("concat_dim") or "time"
    if parts[0]["format"] == "zarr":
        return _register_zarr_store(ctx, collection_id, item_id, parts[0]["file"])
    metas = [(r["file"], r["meta"]) for r in parts]
    problems = meta.compare(metas, concat_dim=concat_dim)
    if problems:
        raise PermanentError("The files cannot be combined into one series: " + " ".join(problems[:20]))
    for name, m in metas[:1]:
        for warning in meta.warnings(name, m, concat_dim=concat_dim):
            ctx.warn(warning)
    loaded = [services.json_load(container=silver, name=r["part"]) for r in parts]
    first = metas[0][1]
    identical = [c for c in first["variables"] if concat_dim not in first["variables"][c]["dims"] and c != concat_dim]
    try:
        combined = refs.combine(loaded, concat_dim=concat_dim, identical_dims=identical)
    except Exception as exc:  # kerchunk's own refusal (e.g. a dimension missing in one file)
        raise PermanentError(f"The files cannot be combined along {concat_dim!r}: {exc}") from exc
    refs_blob = f"{services.run_prefix(collection_id, item_id, ctx.job_id)}/refs.json"
    etag = services.json_save(container=silver, name=refs_blob, document=combined)
    ds = refs.open_references(combined)
    container = p["container_name"]
    item = stac.build_item(
        ds=ds,
        item_id=item_id,
        collection_id=collection_id,
        refs_href=storage.blob_href(silver, refs_blob),
        refs_container=silver,
        refs_blob=refs_blob,
        refs_etag=etag,
        sources=[{"href": storage.blob_href(container, r["file"]), "title": r["file"]} for r in parts],
        facets=cmip6.item_facets([r["file"] for r in parts]),
        job_id=ctx.job_id,
        title=p.get("title") or "",
        description=p.get("description") or "",
    )
    invalid = stac.validate(item)
    if invalid:  # our own item is wrong: a bug, reported rather than published
        raise PermanentError("The STAC item does not validate: " + "; ".join(invalid[:5]))
    publish = bool(p.get("publish", True))
    services.dataset_register(
        collection_id=collection_id,
        item=item,
        refs_blob=refs_blob,
        refs_etag=etag,
        source_container=container,
        source_files=[r["file"] for r in parts],
        job_id=ctx.job_id,
        publish=publish,
    )
    services.parts_delete(collection_id=collection_id, item_id=item_id, job_id=ctx.job_id)
    if publish:
        services.old_runs_delete(collection_id=collection_id, item_id=item_id, keep_job_id=ctx.job_id)
    result: VirtualizeResult = {
        "collection_id": collection_id,
        "item_id": item_id,
        "files": len(parts),
        "references_blob": refs_blob,
        "references_etag": etag,
        "variables": sorted(k for k, v in item["properties"]["cube:variables"].items() if v["type"] == "data"),
        "published": publish,
        "source_container": container,
        "source_files": [r["file"] for r in parts],
        "stac_item_url": f"/api/stac/collections/{collection_id}/items/{item_id}",
    }
    if not publish:
        result["stac_item"] = item
    return dict(result)


def _register_zarr_store(ctx: registry.TaskContext, collection_id: str, item_id: str, store: str) -> dict[str, Any]:
    """A Zarr v3 store is already cloud-native: the item points at it, nothing is written to silver."""
    p = ctx.params
    container = p["container_name"]
    with services.source_open(container=container, name=f"{store}/zarr.json") as fh:
        etag = hashlib.sha256(fh.read()).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="(?i).*consolidated metadata")
            ds = xr.open_dataset(
                gpstore.url(container, store),
                engine="zarr",
                backend_kwargs={"zarr_format": 3, "consolidated": None},
                decode_times=xr.coders.CFDatetimeCoder(use_cftime=True),
            )
    except Exception as exc:
        raise PermanentError(f"{store!r} cannot be opened as a Zarr v3 dataset: {exc}") from exc
    item = stac.build_item(
        ds=ds,
        item_id=item_id,
        collection_id=collection_id,
        refs_href=storage.blob_href(container, store),
        refs_container=container,
        refs_blob=store,
        refs_etag=etag,
        sources=[{"href": storage.blob_href(container, store), "title": store}],
        facets={},
        job_id=ctx.job_id,
        title=p.get("title") or "",
        description=p.get("description") or "",
        asset_format="zarr",
    )
    invalid = stac.validate(item)
    if invalid:
        raise PermanentError("The STAC item does not validate: " + "; ".join(invalid[:5]))
    publish = bool(p.get("publish", True))
    services.dataset_register(
        collection_id=collection_id,
        item=item,
        refs_blob="",
        refs_etag=etag,
        source_container=container,
        source_files=[store],
        job_id=ctx.job_id,
        publish=publish,
    )
    result: VirtualizeResult = {
        "collection_id": collection_id,
        "item_id": item_id,
        "files": 1,
        "references_blob": "",
        "references_etag": etag,
        "variables": sorted(k for k, v in item["properties"]["cube:variables"].items() if v["type"] == "data"),
        "published": publish,
        "source_container": container,
        "source_files": [store],
        "stac_item_url": f"/api/stac/collections/{collection_id}/items/{item_id}",
    }
    if not publish:
        result["stac_item"] = item
    return dict(result)


def finalize(ctx: registry.FinalizeContext) -> dict[str, Any]:
    return dict(ctx.stage_results[-1][0])


def cleanup(job_id: str, params: dict[str, Any]) -> None:
    try:
        collection_id, item_id = ids_of(params)
    except InvalidClimateSource:
        return
    services.run_outputs_delete(collection_id=collection_id, item_id=item_id, job_id=job_id)


# --- inventory_climate (writes nothing) ------------------------------------------------------


def inventory_plan(ctx: registry.TaskContext) -> dict[str, Any]:
    try:
        files = sources.resolve(ctx.params)
    except ApplicationError as exc:
        raise _permanent(exc) from exc
    return {"files": files}


def inventory_tasks(previous: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"index": i, "file": f} for i, f in enumerate(previous[0]["files"])]


def inventory_file(ctx: registry.TaskContext) -> dict[str, Any]:
    entry = inventory.describe_file(ctx.params["container_name"], ctx.task_params["file"])
    return {"index": ctx.task_params["index"], **entry}


def inventory_finalize(ctx: registry.FinalizeContext) -> dict[str, Any]:
    entries = sorted(ctx.stage_results[-1], key=lambda e: e["index"])
    entries = [{k: v for k, v in e.items() if k != "index"} for e in entries]
    return inventory.report(entries, concat_dim=ctx.params.get("concat_dim") or "time")


# --- unpublish_zarr ----------------------------------------------------------------------------


def unpublish(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    return dict(
        services.climate_unpublish(
            collection_id=p["collection_id"],
            item_id=p["item_id"],
            dry_run=p["dry_run"],
            delete_sources=p["delete_sources"],
        )
    )


# --- rechunk_climate -----------------------------------------------------------------------------

RECHUNK_TARGET_BYTES = 1024 * 1024  # per chunk: a point series reads one chunk of about this size


def rechunk_preflight(params: dict[str, Any]) -> list[str]:
    row = selectors.dataset_row_find(collection_id=params["collection_id"], item_id=params["item_id"])
    if row is None:
        return [f"No climate dataset {params['collection_id']}/{params['item_id']}: virtualize it first."]
    chunks = params.get("chunks") or {}
    bad = [k for k, v in chunks.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1]
    return [f"chunks: {', '.join(bad)} must be positive integers."] if bad else []


def time_series_chunks(ds: xr.Dataset, var: str, concat_dim: str, given: dict[str, int]) -> tuple[int, ...]:
    """Long along time, small in space: the whole time axis and square spatial tiles of about
    ``RECHUNK_TARGET_BYTES`` (``given`` overrides per dimension)."""
    da = ds[var]
    steps = int(ds.sizes.get(concat_dim, 1))
    space = [d for d in da.dims if d != concat_dim]
    side = max(1, int((RECHUNK_TARGET_BYTES / max(1, steps * da.dtype.itemsize)) ** (1 / max(1, len(space[-2:])))))
    out = []
    for dim in da.dims:
        size = int(ds.sizes[dim])
        default = size if dim == concat_dim else (min(size, side) if dim in space[-2:] else 1)
        out.append(min(size, int(given.get(str(dim), default))))
    return tuple(out)


def rechunk(ctx: registry.TaskContext) -> dict[str, Any]:
    import tempfile

    from . import datasets

    p = ctx.params
    c, i = p["collection_id"], p["item_id"]
    ds = datasets.dataset_open(c, i, include_pending=True, asset="references")
    limit = conf.rechunk_max_bytes()
    if ds.nbytes > limit:
        raise PermanentError(
            f"The dataset is {ds.nbytes / 1e9:.1f} GB; rechunk_climate copies at most {limit / 1e9:.1f} GB "
            "(GEOPLATFORM_CLIMATE_RECHUNK_MAX_BYTES)."
        )
    concat_dim = p.get("concat_dim") or "time"
    data = ds.compute()  # a new in-memory dataset: the cached lazy one is left as it is
    encoding: dict[str, dict[str, Any]] = {}
    chunks: dict[str, int] = {}
    for name, var in data.variables.items():
        for key in ("chunks", "preferred_chunks", "chunksizes", "compressors", "filters", "shards", "compressor"):
            var.encoding.pop(key, None)
        if name in data.data_vars and var.ndim >= 2 and concat_dim in var.dims:
            shape = time_series_chunks(data, str(name), concat_dim, p.get("chunks") or {})
            encoding[str(name)] = {"chunks": shape}
            chunks.update({str(d): n for d, n in zip(var.dims, shape, strict=True)})
    prefix = services.rechunked_prefix(c, i, ctx.job_id)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "copy.zarr"
        with warnings.catch_warnings():
            # Consolidated metadata is our choice for v3 (one read to open); zarr warns it is not in the spec yet.
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            data.to_zarr(local, zarr_format=3, encoding=encoding, consolidated=True, mode="w")
        written = services.folder_upload(local=local, container=zone_container("silver"), prefix=prefix)
    services.rechunked_register(collection_id=c, item_id=i, prefix=prefix, chunks=chunks, job_id=ctx.job_id)
    result: RechunkResult = {
        "collection_id": c,
        "item_id": i,
        "zarr_prefix": prefix,
        "chunks": chunks,
        "bytes_written": written,
    }
    return dict(result)


def rechunk_cleanup(job_id: str, params: dict[str, Any]) -> None:
    services.rechunked_delete(collection_id=params["collection_id"], item_id=params["item_id"], job_id=job_id)
