"""Job types of the h3grid app, registered from :meth:`H3GridConfig.ready`."""

from __future__ import annotations

from ingest import registry

from . import grid, stages

BOOTSTRAP_H3_GRID = registry.JobType(
    name="bootstrap_h3_grid",
    description=(
        "Build the land-filtered H3 pyramid (res 2-7 by default; cells that overlap land) and the cell -> "
        "country shares in h3.cell / h3.cell_country, replacing the grid there. country or bbox build a "
        "small grid (tests)."
    ),
    params=[
        registry.Param(
            "source",
            str,
            default="",
            help=(
                "Land polygons: a features collection id with an ISO3 column, 'naturalearth_lowres' (shipped), "
                "or '' for the managed 'ne_admin0_countries' collection when loaded, else the shipped file."
            ),
        ),
        registry.Param("iso3_column", str, default="", help="ISO3 column of the source (default: found by name)."),
        registry.Param("country", str, default="", help="Only this country (ISO3 code): a small grid."),
        registry.Param("bbox", list, default=None, help="Only land inside [min_lon, min_lat, max_lon, max_lat]."),
        registry.Param("min_res", int, default=grid.MIN_RES, min=0, max=grid.MAX_RES),
        registry.Param("max_res", int, default=grid.MAX_RES, min=0, max=grid.MAX_RES),
    ],
    validators=[stages.preflight],
    stages=[
        registry.Stage("plan", stages.plan, queue="etl"),
        registry.Stage("cells", stages.cells, tasks=registry.from_previous(stages.batches), queue="etl"),
        registry.Stage("finalise", stages.finalise, queue="etl"),
    ],
    finalize=stages.result,
    cleanup=stages.cleanup,
    makes_outputs=True,
)


def register() -> None:
    registry.register(BOOTSTRAP_H3_GRID)
