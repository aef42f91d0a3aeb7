"""Writes of the h3grid app: the land grid in ``h3.cell`` / ``h3.cell_country``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import connection, transaction

from geoplatform.errors import InvalidInput

from . import grid, land, pgcopy

CELL = ("h3", "cell")
CELL_COUNTRY = ("h3", "cell_country")
ALL_RES = range(0, 16)


def grid_bootstrap_params(params: dict[str, Any]) -> dict[str, Any]:
    """Check and complete a bootstrap's parameters (pre-flight): the source resolved, its ISO3
    column found, the country known, the bbox sane. Raises InvalidInput saying what to fix."""
    source = land.source_resolve(params.get("source", ""))
    iso3_column = land.iso3_column_resolve(source, params.get("iso3_column", ""))
    min_res, max_res = int(params.get("min_res", grid.MIN_RES)), int(params.get("max_res", grid.MAX_RES))
    if min_res > max_res:
        raise InvalidInput(f"min_res ({min_res}) is above max_res ({max_res}).")
    bbox = params.get("bbox") or None
    if bbox is not None:
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            raise InvalidInput("bbox is [min_lon, min_lat, max_lon, max_lat]: four numbers.")
        minx, miny, maxx, maxy = (float(v) for v in bbox)
        if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
            raise InvalidInput("bbox must have -180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90.")
        bbox = [minx, miny, maxx, maxy]
    country = (params.get("country") or "").strip().upper()
    if country:
        codes, _ = land.rows(source, iso3_column)
        known = {c.strip().upper() for c in codes}
        if country not in known:
            raise InvalidInput(
                f"Unknown country {country!r} in {source!r} (column {iso3_column!r}): give an ISO3 code it has.",
                details={"countries": sorted(c for c in known if grid.ISO3.match(c))},
            )
    return {
        "source": source,
        "iso3_column": iso3_column,
        "country": country,
        "bbox": bbox,
        "min_res": min_res,
        "max_res": max_res,
    }


def grid_land(params: dict[str, Any]) -> grid.Land:
    resolved = grid_bootstrap_params(params)
    return land.land_get(
        source=resolved["source"],
        iso3_column=resolved["iso3_column"],
        country=resolved["country"],
        bbox=resolved["bbox"],
    )


def _delete_ranges(cur: Any, ranges: Sequence[tuple[int, int]]) -> int:
    if not ranges:
        return 0
    lo = [r[0] for r in ranges]
    hi = [r[1] for r in ranges]
    deleted = 0
    for table in ("h3.cell", "h3.cell_country"):
        # One range scan of the primary key per range (unnest keeps it one statement).
        cur.execute(
            f"DELETE FROM {table} t USING unnest(%s::bigint[], %s::bigint[]) r(lo, hi)"
            " WHERE t.cell BETWEEN r.lo AND r.hi",
            [lo, hi],
        )
        deleted += cur.rowcount
    return deleted


def grid_clear_outside(*, coarse_cells: Sequence[int], min_res: int, max_res: int) -> int:
    """Delete the rows a bootstrap will not rewrite: resolutions outside [min_res, max_res]
    and the cells under coarse cells it has no batch for (idempotent)."""
    keep = set(coarse_cells)
    others = [int(c) for c in grid.res0_cells() if int(c) not in keep]
    ranges = [grid.descendant_range(c, grid.COARSE_RES, r) for c in others for r in range(min_res, max_res + 1)]
    with transaction.atomic(), connection.cursor() as cur:
        deleted = 0
        # Shares have a cell row: look for other resolutions on h3.cell's res index before
        # scanning the (large) share table for them.
        cur.execute("SELECT EXISTS (SELECT 1 FROM h3.cell WHERE res NOT BETWEEN %s AND %s)", [min_res, max_res])
        if cur.fetchone()[0]:
            cur.execute(
                "DELETE FROM h3.cell_country WHERE NOT ((cell >> 52) & 15) BETWEEN %s AND %s", [min_res, max_res]
            )
            deleted += cur.rowcount
            cur.execute("DELETE FROM h3.cell WHERE res NOT BETWEEN %s AND %s", [min_res, max_res])
            deleted += cur.rowcount
        deleted += _delete_ranges(cur, ranges)
    return deleted


def grid_batch_write(*, coarse: int, land_: grid.Land, min_res: int, max_res: int) -> dict[str, Any]:
    """Compute and store the pyramid under one coarse cell, replacing its earlier rows in one
    transaction (a batch run twice leaves the same rows)."""
    levels = list(grid.batch_levels(coarse, land_, min_res=min_res, max_res=max_res))
    codes = np.array([c.encode("ascii") for c in land_.iso3], dtype="S3") if len(land_) else np.empty(0, "S3")
    ranges = [grid.descendant_range(coarse, grid.COARSE_RES, r) for r in range(min_res, max_res + 1)]
    with transaction.atomic(), connection.cursor() as cur:
        _delete_ranges(cur, ranges)
        raw = cur.cursor
        for level in levels:
            if len(level.cell):
                parent = level.parent if level.res > min_res else None
                pgcopy.copy_binary(
                    CELL,
                    [
                        ("cell", "int8", level.cell),
                        ("res", "int2", np.full(len(level.cell), level.res, np.int16)),
                        ("parent", "int8", parent),
                    ],
                    cursor=raw,
                )
            if len(level.share_cell):
                pgcopy.copy_binary(
                    CELL_COUNTRY,
                    [
                        ("cell", "int8", level.share_cell),
                        ("iso3", "char3", codes[level.share_country]),
                        ("share", "float4", level.share),
                    ],
                    cursor=raw,
                )
    return {
        "coarse": grid.cell_str(coarse),
        "cells": {str(lv.res): len(lv.cell) for lv in levels},
        "shares": {str(lv.res): len(lv.share_cell) for lv in levels},
        "tested": {str(lv.res): lv.tested for lv in levels},
        # Land cells whose H3 parent overlaps no land (they poke out of a sea parent).
        "orphans": {str(lv.res): lv.orphans for lv in levels if lv.orphans},
        # Their sea parents, added so that the pyramid is closed under parent.
        "closure": {str(lv.res): lv.closure for lv in levels if lv.closure},
    }


# The secondary indexes of the grid tables (0001 migration). A bootstrap drops them in its plan
# and builds them again in its finalise (and in its cleanup when it fails): keeping them up to date
# row by row made the COPY of a batch 3x slower (bench/h3_grid.py; docs/apps/h3grid.md).
SECONDARY_INDEXES = {
    "cell_res_idx": "CREATE INDEX IF NOT EXISTS cell_res_idx ON h3.cell (res)",
    "cell_parent_idx": "CREATE INDEX IF NOT EXISTS cell_parent_idx ON h3.cell (parent)",
    "cell_country_iso3_idx": "CREATE INDEX IF NOT EXISTS cell_country_iso3_idx ON h3.cell_country (iso3, cell)",
}


def _own_grid_tables(cur: Any) -> bool:
    """Whether this role owns the grid tables (dropping and building indexes needs it; with
    separate owner and application roles the indexes stay and the COPY keeps them current)."""
    cur.execute(
        "SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'h3'::regnamespace"
        " AND c.relname IN ('cell', 'cell_country') AND pg_has_role(c.relowner, 'MEMBER')"
    )
    return bool(cur.fetchone()[0] == 2)


def grid_indexes_drop() -> None:
    with connection.cursor() as cur:
        if _own_grid_tables(cur):
            for name in SECONDARY_INDEXES:
                cur.execute(f"DROP INDEX IF EXISTS h3.{name}")


def grid_indexes_build() -> None:
    """Build the secondary indexes that are missing (idempotent), then refresh statistics."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'h3'")
        present = {r[0] for r in cur.fetchall()}
        missing = [statement for name, statement in SECONDARY_INDEXES.items() if name not in present]
        if missing:
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for statement in missing:
                cur.execute(statement)
    grid_analyze()


def grid_analyze() -> None:
    with connection.cursor() as cur:
        cur.execute("ANALYZE h3.cell")
        cur.execute("ANALYZE h3.cell_country")


# --- statistics whose source changed ----------------------------------------------------------------


def stats_recompute(*, kind: str, ref: str = "", ref_prefix: str = "") -> dict[str, str]:
    """Run again, with the same parameters and ``overwrite``, the jobs that computed the
    statistics of a source that changed under the same reference (a managed dataset's swap or
    rollback): ``kind`` "vector" or "raster", ``ref`` the exact ``source_ref`` (a features
    collection, a raster's "collection/item") or ``ref_prefix`` every item of a collection.
    The replacement is atomic (built beside, swapped in at finalise): readers keep the old
    values until the new ones are complete. Returns {dataset slug: new job id}; a dataset
    without a job to repeat (loaded by hand) is left as it is."""
    from ingest.models import Job
    from ingest.services import job_submit

    from .models import StatDataset

    found = StatDataset.objects.filter(source_kind=kind)
    found = found.filter(source_ref=ref) if ref else found.filter(source_ref__startswith=ref_prefix)
    started: dict[str, str] = {}
    for dataset in found.exclude(job_id="").order_by("slug"):
        job = Job.objects.filter(pk=dataset.job_id).first()
        if job is None:
            continue
        outcome = job_submit(job_type=job.job_type, parameters={**job.parameters, "overwrite": True}, force=True)
        started[dataset.slug] = outcome.job.id
    return started
