"""The job types of the features app, registered from :meth:`FeaturesConfig.ready`."""

from __future__ import annotations

from typing import Any

from geoplatform.errors import InvalidInput
from ingest import registry

from . import selectors, services, stages


def _chunks(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    return list(results[0]["chunks"])


def _replaced_table(params: dict[str, Any]) -> list[registry.Output]:
    """The existing collection an overwrite replaces (a bad name is pre-flight's to report)."""
    if not params.get("overwrite"):
        return []
    try:
        return [registry.Output(registry.VECTOR_TABLE, services.table_of(params))]
    except InvalidInput:
        return []


PROCESS_VECTOR = registry.JobType(
    name="process_vector",
    makes_outputs=True,
    description="Load a vector file from the bronze zone into geo.<table> and publish it as an OGC API Features collection.",
    params=[
        registry.Param(
            "container_name", str, default="", help="Bronze-zone container (default: the bronze container)."
        ),
        registry.Param("file_name", str, required=True, help="Path of the file in the container."),
        registry.Param("table_name", str, default="", help="Table and collection id (default: from the file name)."),
        registry.Param("layer_name", str, default="", help="Layer to load (required for multi-layer files)."),
        registry.Param("lat_column", str, default="", help="CSV: latitude column (WGS 84 unless crs says otherwise)."),
        registry.Param("lon_column", str, default="", help="CSV: longitude column."),
        registry.Param("wkt_column", str, default="", help="CSV: WKT geometry column (needs crs)."),
        registry.Param("crs", str, default="", help="Source CRS when the file has none, e.g. 'EPSG:4326'."),
        registry.Param(
            "temporal_property", str, default="", help="Column used for datetime filters and the temporal extent."
        ),
        registry.Param("title", str, default=""),
        registry.Param("description", str, default=""),
        registry.Param(
            "column_map",
            dict,
            default=None,
            help='Rename source columns before loading, {"OLD": "new"}; "" drops a column.',
        ),
        registry.Param("create_stac", bool, default=False, help="Also publish a STAC item in system-vectors."),
        registry.Param("overwrite", bool, default=False, help="Replace an existing collection atomically."),
        registry.Param(
            "split_geometry_types",
            bool,
            default=True,
            help=(
                "A file mixing points, lines and polygons loads into one collection per type ({table}_point, ...); "
                "false fails it instead, naming the types found (Polygon with MultiPolygon is one type: promoted)."
            ),
        ),
        registry.Param(
            "publish",
            bool,
            default=True,
            help=(
                "Serve at once (default; through /api/jobs only for accounts holding "
                "ingest.publish_without_review); false keeps the collection (and its STAC item) hidden until published."
            ),
        ),
        registry.Param(
            "chunk_rows", int, default=0, min=0, max=10_000_000, help="Features per load task (0: platform default)."
        ),
    ],
    validators=[stages.vector_preflight],
    stages=[
        registry.Stage("validate", stages.vector_validate, queue="etl"),
        registry.Stage("load", stages.vector_load_chunk, tasks=registry.from_previous(_chunks), queue="etl"),
        registry.Stage("finalise", stages.vector_finalise, queue="etl"),
    ],
    finalize=stages.vector_result,
    cleanup=stages.vector_cleanup,
    replaces=_replaced_table,
    publishes=lambda p: bool(p.get("publish", True)),
    preview_params={"publish": False},
)

UNPUBLISH_VECTOR = registry.JobType(
    name="unpublish_vector",
    description="Remove a vector collection: its table, metadata row and STAC item (dry_run reports only).",
    params=[
        registry.Param("collection_id", str, required=True),
        registry.Param("dry_run", bool, default=True, help="Only report what would be removed."),
    ],
    validators=[stages.vector_unpublish_preflight],
    stages=[registry.Stage("unpublish", stages.vector_unpublish)],
    finalize=lambda ctx: dict(ctx.stage_results[0][0]),
    replaces=lambda p: [] if p["dry_run"] else [registry.Output(registry.VECTOR_TABLE, p["collection_id"])],
)


def register() -> None:
    registry.register(PROCESS_VECTOR)
    registry.register(UNPUBLISH_VECTOR)
    # Which client may replace or delete an existing table through the generic API.
    registry.register_output_owners(registry.VECTOR_TABLE, selectors.dataset_owner_jobs)
