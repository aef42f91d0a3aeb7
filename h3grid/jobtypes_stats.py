"""The statistics job types of the H3 app (registered from :meth:`H3GridConfig.ready`):
``h3_raster_aggregation``, ``h3_vector_aggregation``, ``export_h3_stats`` and
``unpublish_h3_export`` (publishing's ``h3_stats`` kind runs the last two for a release)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db.models import Q

from geoplatform.errors import InvalidInput, NotFound
from ingest import registry
from ingest.models import Job, JobStatus

from . import export, raster_agg, stats, vector_agg, zonal
from .models import StatDataset

Handler = Callable[[registry.TaskContext], dict[str, Any]]
STAT_DATASET = "h3_stat_dataset"  # output kind: id = the dataset's slug
STAT_EXPORT = "h3_stat_export"  # output kind: id = the export's silver folder (h3/<slug>[/...])
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PYRAMID = (2, 7)


def _resolutions_problems(params: dict[str, Any]) -> list[str]:
    res = params.get("resolutions")
    if not isinstance(res, list) or not res or not all(isinstance(r, int) and not isinstance(r, bool) for r in res):
        return ["'resolutions' must be a non-empty list of integers, e.g. [5, 6, 7]."]
    lo, hi = PYRAMID if params.get("land_only", True) else (raster_agg.MIN_RES, raster_agg.MAX_RES)
    bad = sorted({r for r in res if not lo <= r <= hi})
    if bad:
        where = "the land pyramid (land_only=true)" if params.get("land_only", True) else "H3"
        return [f"Resolutions {bad} are outside {where}: use {lo} to {hi}."]
    return []


def _dataset_problems(params: dict[str, Any]) -> list[str]:
    slug = str(params.get("dataset", ""))
    if not _SLUG.match(slug):
        return [
            f"'dataset' {slug!r} must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit."
        ]
    if not params.get("overwrite") and StatDataset.objects.filter(slug=slug).exists():
        return [f"Statistics dataset {slug!r} exists: pass overwrite=true to replace it, or choose another name."]
    return []


def raster_preflight(params: dict[str, Any]) -> list[str]:
    problems = _dataset_problems(params) + _resolutions_problems(params)
    bad = [s for s in params.get("statistics") or [] if s not in zonal.STATS]
    if bad or not params.get("statistics"):
        problems.append(f"'statistics' must be a non-empty list of {', '.join(zonal.STATS)}; unknown: {bad}.")
    try:
        raster_agg.raster_asset(params)
    except Exception as exc:
        problems.append(getattr(exc, "message", str(exc)))
    return problems


def _replaces(params: dict[str, Any]) -> list[registry.Output]:
    return [registry.Output(STAT_DATASET, str(params["dataset"]))] if params.get("overwrite") else []


def _owner_jobs(slug: str) -> list[str] | None:
    found = StatDataset.objects.filter(slug=slug).values_list("job_id", flat=True).first()
    if found is None:
        return None
    return [found] if found else []


def _vector_preflight(params: dict[str, Any]) -> list[str]:
    return _dataset_problems(params) + _resolutions_problems(params) + vector_agg.vector_preflight(params)


def _batches(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The compute tasks: the batches the inventory planned."""
    return list(results[0]["batches"])


def _aggregation_stages(inventory: Handler, compute: Handler, finalise: Handler) -> list[registry.Stage]:
    """inventory (one task) -> compute (one task per batch) -> finalise (one task)."""
    return [
        registry.Stage("inventory", inventory, queue="etl"),
        registry.Stage("compute", compute, tasks=registry.from_previous(_batches), queue="etl"),
        registry.Stage("finalise", finalise, queue="etl"),
    ]


_COMMON = [
    registry.Param("dataset", str, required=True, help="Slug of the statistics dataset (h3.stat_<id>)."),
    registry.Param("title", str, default=""),
    registry.Param(
        "resolutions", list, default=[5, 6, 7], help="H3 resolutions to compute (2-7 with land_only, else 0-15)."
    ),
    registry.Param(
        "land_only", bool, default=True, help="Only the cells of the land pyramid h3.cell (bootstrap_h3_grid)."
    ),
    registry.Param("overwrite", bool, default=False, help="Replace an existing dataset of the same slug."),
    registry.Param(
        "postgres_max_res",
        int,
        default=stats.POSTGRES_MAX_RES,
        min=0,
        max=15,
        help="Resolutions up to this one go to PostgreSQL (h3.stat_<id>); finer ones to Parquet parts in silver.",
    ),
]

H3_RASTER_AGGREGATION = registry.JobType(
    name="h3_raster_aggregation",
    makes_outputs=True,
    description="Zonal statistics of a published raster per H3 cell (exact pixel coverage weights) into h3.stat_<id>.",
    params=[
        registry.Param("collection_id", str, required=True, help="STAC collection of the raster item."),
        registry.Param("item_id", str, required=True, help="STAC item of the raster."),
        registry.Param("asset", str, default="", help="Asset key (default: the analysis tier)."),
        registry.Param("band", int, default=1, min=1, max=10_000),
        registry.Param("statistics", list, default=list(zonal.STATS), help=", ".join(zonal.STATS)),
        registry.Param("units", str, default="", help="Units of the pixel values (e.g. 'm', 'persons')."),
        *_COMMON,
    ],
    validators=[raster_preflight],
    stages=_aggregation_stages(raster_agg.raster_inventory, raster_agg.raster_compute, raster_agg.raster_finalise),
    finalize=raster_agg.raster_result,
    cleanup=raster_agg.stat_cleanup,
    replaces=_replaces,
)

H3_VECTOR_AGGREGATION = registry.JobType(
    name="h3_vector_aggregation",
    makes_outputs=True,
    description=(
        "Per H3 cell: count of points (optionally by category), geodesic length of lines (m), "
        "equal-area area of polygons (m²) of a features collection, into h3.stat_<id>."
    ),
    params=[
        registry.Param("collection_id", str, required=True, help="Features collection (geo.<table>)."),
        registry.Param(
            "category", str, default="", help=f"Column to split by (at most {vector_agg.MAX_CATEGORIES} values)."
        ),
        *_COMMON,
    ],
    validators=[_vector_preflight],
    stages=_aggregation_stages(vector_agg.vector_inventory, vector_agg.vector_compute, vector_agg.vector_finalise),
    finalize=raster_agg.raster_result,
    cleanup=raster_agg.stat_cleanup,
    replaces=_replaces,
)


def _export_preflight(params: dict[str, Any]) -> list[str]:
    try:
        dataset, _ = export.export_plan(params)
    except (InvalidInput, NotFound) as exc:
        return [exc.message]
    folder = export.export_folder(params)
    if not params.get("overwrite", True) and export.export_blobs(slug=dataset.slug, folder=folder):
        return [f"{folder}/ already holds an export of {dataset.slug!r}: pass overwrite=true to replace it."]
    return []


def _export_replaces(params: dict[str, Any]) -> list[registry.Output]:
    return [registry.Output(STAT_EXPORT, export.export_folder(params))]


def _export_owner_jobs(folder: str) -> list[str] | None:
    """Who made the files in an export folder: the last export_h3_stats job that completed
    there (None when the folder holds none: the first export is free)."""
    slug = folder.split("/")[1] if folder.startswith("h3/") and folder.count("/") >= 1 else ""
    try:
        export.folder_check(slug, folder)
    except InvalidInput:
        return None  # pre-flight reports the bad folder
    if not export.export_blobs(slug=slug, folder=folder):
        return None
    jobs = Job.objects.filter(job_type="export_h3_stats", status=JobStatus.COMPLETED, parameters__dataset=slug)
    if folder == f"h3/{slug}":  # the default folder: jobs that gave none (or wrote it before the parameter)
        jobs = jobs.filter(Q(parameters__folder__in=["", folder]) | ~Q(parameters__has_key="folder"))
    else:
        jobs = jobs.filter(parameters__folder=folder)
    maker = jobs.order_by("-finished_at").values_list("pk", flat=True).first()
    return [maker] if maker else []


EXPORT_H3_STATS = registry.JobType(
    name="export_h3_stats",
    makes_outputs=True,
    description="A statistics dataset as GeoParquet 1.1 in the silver zone (one file per resolution under h3/<slug>/res-<r>/).",
    params=[
        registry.Param("dataset", str, required=True, help="Slug of the statistics dataset."),
        registry.Param("resolutions", list, default=[], help="Resolutions to export (default: all of the dataset)."),
        registry.Param(
            "folder",
            str,
            default="",
            help="Silver folder of the files, h3/<slug> (default) or a folder below it (a release's own).",
        ),
        registry.Param(
            "overwrite", bool, default=True, help="Replace an earlier export in the folder (false: refused if any)."
        ),
    ],
    validators=[_export_preflight],
    stages=[
        registry.Stage("export", export.export_resolution, tasks=export.export_tasks, queue="etl"),
    ],
    finalize=export.export_result,
    cleanup=export.export_cleanup,
    replaces=_export_replaces,
)


def _unpublish_preflight(params: dict[str, Any]) -> list[str]:
    try:
        export.folder_check(str(params["dataset"]), export.export_folder(params))
    except InvalidInput as exc:
        return [exc.message]
    return []


def _unpublish_export(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    removed = export.export_remove(slug=p["dataset"], folder=export.export_folder(p), dry_run=p["dry_run"])
    return {"blobs": removed, "dry_run": p["dry_run"]}


UNPUBLISH_H3_EXPORT = registry.JobType(
    name="unpublish_h3_export",
    description="List (dry_run, the default) or delete the GeoParquet files of an export_h3_stats run.",
    params=[
        registry.Param("dataset", str, required=True, help="Slug of the statistics dataset."),
        registry.Param("folder", str, default="", help="Silver folder of the export (default h3/<slug>)."),
        registry.Param("dry_run", bool, default=True),
    ],
    validators=[_unpublish_preflight],
    stages=[registry.Stage("unpublish", _unpublish_export)],
    finalize=lambda ctx: dict(ctx.stage_results[0][0]),
    replaces=lambda p: [] if p["dry_run"] else _export_replaces(p),
)


def register() -> None:
    registry.register(H3_RASTER_AGGREGATION)
    registry.register(H3_VECTOR_AGGREGATION)
    registry.register(EXPORT_H3_STATS)
    registry.register(UNPUBLISH_H3_EXPORT)
    registry.register_output_owners(STAT_DATASET, _owner_jobs)
    # A release's export (publishing's h3_stats kind) is its platform client's, like any other.
    registry.register_output_owners(STAT_EXPORT, _export_owner_jobs)
