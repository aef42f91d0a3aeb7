"""Reads of the h3grid app: the land grid (``h3.cell``, ``h3.cell_country``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import connection
from numpy.typing import NDArray

from geoplatform.errors import InvalidInput
from ingest.models import JobStatus
from ingest.selectors import job_list

from . import grid


def grid_counts() -> dict[str, int]:
    """Land cells per resolution (as strings: JSON keys); counts every row (seconds for the
    world at res 7: the last bootstrap's counts are in its job result, see
    :func:`grid_last_bootstrap`)."""
    with connection.cursor() as cur:
        cur.execute("SELECT res, count(*) FROM h3.cell GROUP BY res ORDER BY res")
        return {str(r): int(n) for r, n in cur.fetchall()}


def grid_country_count() -> int:
    """Countries in the grid: a skip scan of the (iso3, cell) index, one probe per country
    (count(DISTINCT) would read all 30 M rows)."""
    with connection.cursor() as cur:
        cur.execute(
            "WITH RECURSIVE t(iso3) AS (SELECT min(iso3) FROM h3.cell_country"
            " UNION ALL SELECT (SELECT min(c.iso3) FROM h3.cell_country c WHERE c.iso3 > t.iso3)"
            " FROM t WHERE t.iso3 IS NOT NULL) SELECT count(iso3) FROM t"
        )
        return int(cur.fetchone()[0])


def _check_res(res: int) -> None:
    if not grid.MIN_RES <= res <= grid.MAX_RES:
        raise InvalidInput(f"Resolution {res} is outside the pyramid ({grid.MIN_RES} to {grid.MAX_RES}).")


def grid_cells_for_country(*, iso3: str, res: int) -> NDArray[np.int64]:
    """The land cells of ``res`` touching country ``iso3`` (sorted)."""
    _check_res(res)
    lo, hi = (res << 52) | (1 << 59), ((res + 1) << 52) | (1 << 59)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT cell FROM h3.cell_country WHERE iso3 = %s AND cell >= %s AND cell < %s ORDER BY cell",
            [iso3.upper(), lo, hi],
        )
        return np.array([r[0] for r in cur.fetchall()], dtype=np.int64)


def grid_cells_for_bbox(*, bbox: list[float], res: int) -> NDArray[np.int64]:
    """The land cells of ``res`` whose centre lies in ``bbox`` [minx, miny, maxx, maxy] (sorted):
    the candidates from the res-0 cells near the bbox, filtered on centres computed in bulk."""
    _check_res(res)
    cells = grid.cells_in_bbox(bbox, res)
    if len(cells) == 0:
        return cells
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.cell FROM h3.cell c JOIN unnest(%s::bigint[]) u(cell) USING (cell) ORDER BY c.cell",
            [cells.tolist()],
        )
        return np.array([r[0] for r in cur.fetchall()], dtype=np.int64)


def grid_last_bootstrap() -> dict[str, Any] | None:
    """The last completed bootstrap_h3_grid: its job id, parameters, end time and cells per res."""
    job = (
        job_list()
        .filter(job_type="bootstrap_h3_grid", status=JobStatus.COMPLETED)
        .order_by("-finished_at")
        .values("id", "parameters", "finished_at", "result")
        .first()
    )
    if job is None:
        return None
    result = job["result"] or {}
    return {
        "job_id": job["id"],
        "parameters": job["parameters"],
        "finished_at": job["finished_at"].isoformat() if job["finished_at"] else None,
        "cells": result.get("cells"),
        "source": result.get("source"),
    }


def grid_bootstraps_running() -> list[str]:
    """Ids of the bootstrap_h3_grid jobs queued or running (a second one would interleave)."""
    return list(
        job_list()
        .filter(job_type="bootstrap_h3_grid", status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .values_list("id", flat=True)
    )
