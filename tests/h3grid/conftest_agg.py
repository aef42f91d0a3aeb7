"""Helpers of the aggregation tests (imported by their modules, not a conftest: the grid
helper's own fixtures live in tests/h3grid/conftest.py).

``fill_land_grid`` writes ``h3.cell`` (and ``h3.cell_country``) for a small lon/lat box with
h3-py, the way bootstrap_h3_grid would for land: every cell overlapping the box at each
resolution, with its parent link; every cell is given ``iso3`` with ``share``.
"""

from __future__ import annotations

import h3
import numpy as np
from django.db import connection

from h3grid.zonal import bbox_cells


def fill_land_grid(
    bbox: tuple[float, float, float, float], resolutions: range, iso3: str = "TST", share: float = 1.0
) -> dict[int, int]:
    counts: dict[int, int] = {}
    with connection.cursor() as cur:
        for res in resolutions:
            cells = bbox_cells(bbox, res)
            parents = [
                h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), res - 1)) if res > 0 else None for c in cells
            ]
            cur.executemany(
                "INSERT INTO h3.cell (cell, res, parent) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [(int(c), res, p) for c, p in zip(cells, parents, strict=True)],
            )
            cur.executemany(
                "INSERT INTO h3.cell_country (cell, iso3, share) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [(int(c), iso3, share) for c in cells],
            )
            counts[res] = len(cells)
    return counts


def cells_at(res: int) -> np.ndarray:
    with connection.cursor() as cur:
        cur.execute("SELECT cell FROM h3.cell WHERE res = %s ORDER BY cell", [res])
        return np.array([r[0] for r in cur.fetchall()], dtype=np.int64)


def quiet_azure() -> None:
    """The Azure SDK logs every HTTP request at INFO; keep failures readable."""
    import logging

    logging.getLogger("azure").setLevel(logging.WARNING)


def silver_h3_clear() -> None:
    """Remove what the tests wrote below h3/ in the silver zone (parts and exports)."""
    from geoplatform.storage import blob_delete, blob_list, zone_container

    silver = zone_container("silver")
    for name in blob_list(silver, "h3"):
        blob_delete(silver, name)
