"""Job types of the rasters app (declarations only; the handlers are :mod:`rasters.stages`
and :mod:`rasters.collection_stages`): ``process_raster``, ``unpublish_raster``,
``unpublish_raster_collection``, ``process_raster_collection``.
"""

from __future__ import annotations

from ingest import registry

from . import cog, collection_stages, services, stages

PROCESSING_PARAMS = [
    registry.Param(
        "processing",
        str,
        default="auto",
        choices=stages.PROCESSING,
        help=(
            "auto: files at or above GEOPLATFORM_RASTER_LARGE_BYTES are copied by windows in parallel tasks on the "
            "long queue (bounded memory, no reprojection), smaller ones are converted in one task; "
            "whole / windows force one way."
        ),
    ),
    registry.Param("window_size", int, default=4096, min=256, max=32768, help="Window edge in pixels (windows)."),
]

PROCESS_RASTER = registry.JobType(
    name="process_raster",
    makes_outputs=True,
    description=(
        "GeoTIFF in bronze -> validated COG(s) in silver (per output tier) -> STAC item -> tile URLs. "
        "Large files are processed by windows on the long queue."
    ),
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
            help=(
                "Register the STAC item at once (default; through /api/jobs only for accounts holding "
                "ingest.publish_without_review); false returns it in the result for a reviewer's approval."
            ),
        ),
        *PROCESSING_PARAMS,
    ],
    validators=[stages.preflight],
    stages=[
        registry.Stage("validate", stages.validate),
        *stages.file_stages(lambda job_params, task_params: job_params),
        registry.Stage("register", stages.register_item),
    ],
    finalize=stages.finalize,
    cleanup=stages.cleanup,
    replaces=lambda p: [registry.Output(registry.STAC_ITEM, "/".join(stages.ids_of(p)))] if p["overwrite"] else [],
    publishes=lambda p: bool(p.get("publish", True)),
    preview_params={"publish": False},
)


UNPUBLISH_RASTER = registry.JobType(
    name="unpublish_raster",
    description="List (dry_run, the default) or delete a raster item's COGs and STAC item.",
    params=[
        registry.Param("collection_id", str, default=services.SYSTEM_COLLECTION),
        registry.Param("item_id", str, required=True),
        registry.Param("dry_run", bool, default=True),
        registry.Param("run_tag", str, default="", help="Free text; makes otherwise equal jobs distinct."),
    ],
    stages=[registry.Stage("unpublish", stages.unpublish)],
    finalize=lambda ctx: ctx.stage_results[0][0],
    replaces=lambda p: (
        [] if p["dry_run"] else [registry.Output(registry.STAC_ITEM, f"{p['collection_id']}/{p['item_id']}")]
    ),
)


UNPUBLISH_RASTER_COLLECTION = registry.JobType(
    name="unpublish_raster_collection",
    description=(
        "List (dry_run, the default) or delete a raster collection made by process_raster_collection: "
        "its COGs, STAC items, the collection and its registered mosaic searches."
    ),
    params=[
        registry.Param("collection_id", str, required=True),
        registry.Param("dry_run", bool, default=True),
        registry.Param("run_tag", str, default="", help="Free text; makes otherwise equal jobs distinct."),
    ],
    validators=[stages.collection_unpublish_preflight],
    stages=[registry.Stage("unpublish", stages.collection_unpublish)],
    finalize=lambda ctx: ctx.stage_results[0][0],
    replaces=lambda p: [] if p["dry_run"] else [registry.Output(registry.STAC_COLLECTION, p["collection_id"])],
)


PROCESS_RASTER_COLLECTION = registry.JobType(
    name="process_raster_collection",
    makes_outputs=True,
    description="Many GeoTIFFs (list or JSON manifest) -> one COG each (in parallel) -> a STAC collection.",
    params=[
        registry.Param("container_name", str, required=True),
        registry.Param("files", list, default=None, help="Blob names (or {file_name, item_id} objects)."),
        registry.Param("manifest", str, default="", help="JSON blob in the container listing the files."),
        registry.Param("collection_id", str, required=True),
        registry.Param("title", str, default=""),
        registry.Param("description", str, default=""),
        registry.Param("output_tier", str, default="analysis", choices=cog.OUTPUT_TIERS),
        registry.Param("raster_type", str, default="auto", choices=cog.RASTER_TYPES),
        registry.Param("crs", str, default=""),
        registry.Param("overwrite", bool, default=False),
        registry.Param("web_optimized", bool, default=False),
        registry.Param("metadata", dict, default=None, help="Properties copied into every item."),
        registry.Param("minzoom", int, default=None, min=0, max=30, help="Mosaic minzoom (default: from the COGs)."),
        registry.Param("maxzoom", int, default=None, min=0, max=30, help="Mosaic maxzoom (default: from the COGs)."),
        registry.Param(
            "publish",
            bool,
            default=True,
            help=(
                "Register the collection and items at once (default; through /api/jobs only for accounts holding "
                "ingest.publish_without_review); false keeps them for a reviewer's approval."
            ),
        ),
        *PROCESSING_PARAMS,
    ],
    validators=[collection_stages.preflight],
    stages=[
        registry.Stage("plan", collection_stages.plan),
        registry.Stage(
            "validate", collection_stages.validate, tasks=registry.from_previous(collection_stages.validate_tasks)
        ),
        *stages.file_stages(collection_stages.entry_params),
        registry.Stage("register", collection_stages.register_collection),
    ],
    finalize=collection_stages.finalize,
    cleanup=collection_stages.cleanup,
    replaces=lambda p: [registry.Output(registry.STAC_COLLECTION, p["collection_id"])] if p["overwrite"] else [],
    publishes=lambda p: bool(p.get("publish", True)),
    preview_params={"publish": False},
)


def register() -> None:
    registry.register(PROCESS_RASTER)
    registry.register(UNPUBLISH_RASTER)
    registry.register(UNPUBLISH_RASTER_COLLECTION)
    registry.register(PROCESS_RASTER_COLLECTION)
