"""Stages of ``bootstrap_h3_grid``: plan (the source read, the coarse cells with land) ->
cells (one task per coarse res-0 cell: its whole pyramid, replaced in one transaction) ->
finalise (statistics, counts per resolution).

Task ids are deterministic from job, stage and position (ingest's Task identity) and the plan
lists coarse cells in a fixed order: a restarted job runs only the batches that did not
complete, and a batch that runs again replaces its own rows (delete-then-COPY).
"""

from __future__ import annotations

from typing import Any

from geoplatform.errors import InvalidInput
from ingest.errors import PermanentError
from ingest.registry import FinalizeContext, TaskContext

from . import grid, selectors, services


def preflight(params: dict[str, Any]) -> list[str]:
    try:
        services.grid_bootstrap_params(params)
    except InvalidInput as exc:
        return [exc.message]
    running = selectors.grid_bootstraps_running()
    if running:
        # Each bootstrap replaces the whole grid: two at once would mix their batches.
        return [f"Another bootstrap_h3_grid job is running ({', '.join(running)}): wait for it or cancel it."]
    return []


def plan(ctx: TaskContext) -> dict[str, Any]:
    resolved = services.grid_bootstrap_params(ctx.params)
    land = services.grid_land(ctx.params)
    if len(land) == 0:
        raise PermanentError(
            "No land polygon in the region asked for (country/bbox): widen the bbox or name another country."
        )
    if land.skipped:
        ctx.warn(f"Rows skipped for an invalid ISO3 code: {', '.join(land.skipped)}.")
    coarse = grid.coarse_cells_for(land)
    services.grid_indexes_drop()
    deleted = services.grid_clear_outside(coarse_cells=coarse, min_res=resolved["min_res"], max_res=resolved["max_res"])
    return {
        "source": resolved["source"],
        "iso3_column": resolved["iso3_column"],
        "countries": len(land),
        "batches": [grid.cell_str(c) for c in coarse],
        "deleted_outside": deleted,
    }


def cleanup(job_id: str, params: dict[str, Any]) -> None:
    """A failed or cancelled bootstrap leaves the batches it completed; its indexes come back."""
    services.grid_indexes_build()


def batches(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"coarse": c} for c in results[0]["batches"]]


def cells(ctx: TaskContext) -> dict[str, Any]:
    resolved = services.grid_bootstrap_params(ctx.params)
    return services.grid_batch_write(
        coarse=grid.cell_int(ctx.task_params["coarse"]),
        land_=services.grid_land(ctx.params),
        min_res=resolved["min_res"],
        max_res=resolved["max_res"],
    )


def finalise(ctx: TaskContext) -> dict[str, Any]:
    services.grid_indexes_build()
    return {"countries": selectors.grid_country_count()}


def result(ctx: FinalizeContext) -> dict[str, Any]:
    planned = ctx.stage_results[0][0]
    done = ctx.stage_results[2][0]
    # The batches' own counts of what they wrote (counting 30 M rows again would take seconds).
    cells: dict[str, int] = {}
    tested: dict[str, int] = {}
    orphans: dict[str, int] = {}
    closure: dict[str, int] = {}
    for batch in ctx.stage_results[1]:
        for res, n in batch.get("cells", {}).items():
            cells[res] = cells.get(res, 0) + int(n)
        for res, n in batch.get("tested", {}).items():
            tested[res] = tested.get(res, 0) + int(n)
        for res, n in batch.get("orphans", {}).items():
            orphans[res] = orphans.get(res, 0) + int(n)
        for res, n in batch.get("closure", {}).items():
            closure[res] = closure.get(res, 0) + int(n)
    return {
        "source": planned["source"],
        "iso3_column": planned["iso3_column"],
        "containment": "overlap",
        "batches": len(planned["batches"]),
        "cells": {res: n for res, n in sorted(cells.items(), key=lambda kv: int(kv[0])) if n},
        "countries": done["countries"],
        "geometry_tested": tested,
        "orphans": orphans,
        "closure": closure,
    }
