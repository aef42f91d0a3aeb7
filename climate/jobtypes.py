"""Job types of the climate app (declarations only; the handlers are :mod:`climate.stages`)."""

from __future__ import annotations

from typing import Any

from ingest import registry

from . import selectors, services, stages

SOURCE_PARAMS = [
    registry.Param("container_name", str, required=True, help="Container holding the files (bronze / upload)."),
    registry.Param("file_name", str, default="", help="One NetCDF file or a .zarr store."),
    registry.Param("files", list, default=None, help="Blob names of a series (one variable, joined along time)."),
    registry.Param("manifest", str, default="", help='JSON blob listing the files ({"files": [...]}).'),
    registry.Param("prefix", str, default="", help="Folder of a series (with file_pattern)."),
    registry.Param("file_pattern", str, default="", help="Glob on file names under prefix, e.g. tas_*.nc."),
    registry.Param("max_files", int, default=None, min=1, max=100_000, help="Refuse a series with more files."),
]


def outputs_of(collection_id: str, item_id: str) -> list[registry.Output]:
    """The STAC item (publishing's guard protects the items of releases; its maker is read from
    the item's geoplatform:job_id) and the climate dataset (pending ones included)."""
    output_id = f"{collection_id}/{item_id}"
    return [registry.Output(registry.STAC_ITEM, output_id), registry.Output(selectors.OUTPUT_KIND, output_id)]


def _output(params: dict[str, Any]) -> list[registry.Output]:
    return outputs_of(*stages.ids_of(params))


VIRTUALIZE_CLIMATE = registry.JobType(
    name="virtualize_climate",
    makes_outputs=True,
    description=(
        "NetCDF file(s) or a Zarr store in storage -> kerchunk references per file (fan-out) -> one virtual "
        "dataset along time in silver (references only; no data copied) -> datacube STAC item."
    ),
    params=[
        *SOURCE_PARAMS,
        registry.Param("collection_id", str, default=services.SYSTEM_COLLECTION, help="STAC collection."),
        registry.Param("item_id", str, default="", help="STAC item id (default: the CMIP6 series or file name)."),
        registry.Param("concat_dim", str, default="time", help="Dimension the files are joined along."),
        registry.Param(
            "pipeline",
            str,
            default="virtual",
            choices=("virtual",),
            help="'virtual': references to the sources, no data copied (the only pipeline; rechunk_climate copies).",
        ),
        registry.Param("chunks", dict, default=None, help="Not applicable (references keep the sources' chunks): 400."),
        registry.Param("overwrite", bool, default=False, help="Replace an existing dataset."),
        registry.Param("title", str, default=""),
        registry.Param("description", str, default=""),
        registry.Param(
            "publish",
            bool,
            default=True,
            help="Register the STAC item at once (default); false keeps it for a reviewer's approval.",
        ),
    ],
    validators=[stages.preflight],
    stages=[
        registry.Stage("plan", stages.plan),
        registry.Stage("reference", stages.reference, tasks=registry.from_previous(stages.reference_tasks)),
        registry.Stage("combine", stages.combine),
    ],
    finalize=stages.finalize,
    cleanup=stages.cleanup,
    replaces=lambda p: _output(p) if p["overwrite"] else [],
    publishes=lambda p: bool(p.get("publish", True)),
    preview_params={"publish": False},
)


INVENTORY_CLIMATE = registry.JobType(
    name="inventory_climate",
    description=(
        "Writes nothing: lists the files, parses CMIP6 names, reads each file's metadata (variables, dimensions, "
        "coordinates, units, calendar, chunks, codecs, scale/offset/fill), groups them into series and says per "
        "series whether it can be combined and why not, with gaps and overlaps of the time ranges."
    ),
    params=[*SOURCE_PARAMS, registry.Param("concat_dim", str, default="time")],
    stages=[
        registry.Stage("plan", stages.inventory_plan),
        registry.Stage("describe", stages.inventory_file, tasks=registry.from_previous(stages.inventory_tasks)),
    ],
    finalize=stages.inventory_finalize,
)


UNPUBLISH_ZARR = registry.JobType(
    name="unpublish_zarr",
    description=(
        "List (dry_run, the default) or delete a climate dataset: its references, any rechunked copy, its STAC "
        "item. The source files stay unless delete_sources=true."
    ),
    params=[
        registry.Param("collection_id", str, default=services.SYSTEM_COLLECTION),
        registry.Param("item_id", str, required=True),
        registry.Param("dry_run", bool, default=True),
        registry.Param("delete_sources", bool, default=False, help="Also delete the source NetCDF files."),
        registry.Param("run_tag", str, default="", help="Free text; makes otherwise equal jobs distinct."),
    ],
    stages=[registry.Stage("unpublish", stages.unpublish)],
    finalize=lambda ctx: ctx.stage_results[0][0],
    replaces=lambda p: [] if p["dry_run"] else outputs_of(p["collection_id"], p["item_id"]),
)


RECHUNK_CLIMATE = registry.JobType(
    name="rechunk_climate",
    makes_outputs=True,
    description=(
        "An optional physical Zarr v3 copy of a virtual dataset chunked for time series (the whole time axis, "
        "small spatial tiles), registered as the item's second asset 'rechunked' for hot datasets."
    ),
    params=[
        registry.Param("collection_id", str, default=services.SYSTEM_COLLECTION),
        registry.Param("item_id", str, required=True),
        registry.Param("chunks", dict, default=None, help='Chunk length per dimension, e.g. {"time": 240, "lat": 32}.'),
        registry.Param("concat_dim", str, default="time"),
    ],
    validators=[stages.rechunk_preflight],
    stages=[registry.Stage("rechunk", stages.rechunk, queue="long")],
    finalize=lambda ctx: ctx.stage_results[0][0],
    cleanup=stages.rechunk_cleanup,
    replaces=lambda p: [registry.Output(selectors.OUTPUT_KIND, f"{p['collection_id']}/{p['item_id']}")],
)


def register() -> None:
    registry.register(RECHUNK_CLIMATE)
    registry.register(UNPUBLISH_ZARR)
    registry.register(VIRTUALIZE_CLIMATE)
    registry.register(INVENTORY_CLIMATE)
