"""Fixtures of the H3 API tests: a small land grid and one stat dataset, made with h3-py here
(the grid and aggregation jobs are tested on their own). Committed per module (live servers and
the reader pass read them), removed afterwards: only these cells and this dataset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import h3.api.basic_int as h3i
import pytest

# Near Nairobi: a few hundred cells at resolutions 2 to 6.
BBOX = (36.6, -1.5, 37.2, -0.9)
RESOLUTIONS = (4, 5, 6)
FINEST = 6
SPLIT_LON = 36.9  # cells east of it are shared between KEN and TZA (a made-up border)
COLUMNS = [
    {"name": "mean", "stat": "mean", "band": 1, "category": None, "units": "m", "approximate": False},
    {"name": "count", "stat": "count", "band": 1, "category": None, "units": "", "approximate": False},
]


@dataclass
class H3Fixture:
    dataset_id: int
    slug: str
    cells: dict[int, list[int]]  # res -> cells of the grid
    values: dict[int, float]  # cell -> mean

    def stat_cells(self, res: int) -> list[int]:
        return self.cells[res] if res in RESOLUTIONS else []


def value_of(cell: int) -> float:
    lat, lng = h3i.cell_to_latlng(cell)
    return round(1000 + 100 * lat + 10 * lng, 6)


def _grid() -> dict[int, list[int]]:
    w, s, e, n = BBOX
    poly = h3i.LatLngPoly([(s, w), (s, e), (n, e), (n, w)])
    finest = set(h3i.h3shape_to_cells_experimental(poly, FINEST, contain="overlap"))
    cells = {FINEST: sorted(finest)}
    for res in range(FINEST - 1, 1, -1):
        cells[res] = sorted({h3i.cell_to_parent(c, res) for c in cells[res + 1]})
    return cells


def _insert(slug: str) -> H3Fixture:
    from django.db import connection

    from h3grid.models import StatDataset

    cells = _grid()
    ds = StatDataset.objects.create(
        slug=slug,
        title="Test elevation",
        source_kind="raster",
        source_ref="dem/olinda",
        resolutions=list(RESOLUTIONS),
        columns=COLUMNS,
        units="m",
        storage={str(r): "postgres" for r in RESOLUTIONS},
        provenance={"method": "fixture"},
    )
    values: dict[int, float] = {}
    with connection.cursor() as cur:
        grid_rows = [(c, r, h3i.cell_to_parent(c, r - 1)) for r, cs in cells.items() for c in cs]
        cur.executemany("INSERT INTO h3.cell (cell, res, parent) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", grid_rows)
        country_rows = []
        for cs in cells.values():
            for c in cs:
                if h3i.cell_to_latlng(c)[1] < SPLIT_LON:
                    country_rows.append((c, "KEN", 1.0))
                else:
                    country_rows += [(c, "KEN", 0.6), (c, "TZA", 0.4)]
        cur.executemany(
            "INSERT INTO h3.cell_country (cell, iso3, share) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", country_rows
        )
        cur.execute(
            f"CREATE TABLE h3.{ds.table} (res smallint NOT NULL, cell bigint NOT NULL,"
            " mean double precision, count double precision, PRIMARY KEY (res, cell))"
        )
        stat_rows = []
        for r in RESOLUTIONS:
            for c in cells[r]:
                values[c] = value_of(c)
                stat_rows.append((r, c, values[c], 7.0 ** (FINEST - r)))
        cur.executemany(f"INSERT INTO h3.{ds.table} (res, cell, mean, count) VALUES (%s, %s, %s, %s)", stat_rows)
    return H3Fixture(dataset_id=ds.pk, slug=slug, cells=cells, values=values)


def _remove(fx: H3Fixture) -> None:
    from django.db import connection

    from h3grid.models import StatDataset

    every = [c for cs in fx.cells.values() for c in cs]
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS h3.stat_{fx.dataset_id}")
        cur.execute("DELETE FROM h3.cell_country WHERE cell = ANY(%s)", [every])
        cur.execute("DELETE FROM h3.cell WHERE cell = ANY(%s)", [every])
    StatDataset.objects.filter(pk=fx.dataset_id).delete()


@pytest.fixture(scope="module")
def h3data(django_db_setup: Any, django_db_blocker: Any, request: pytest.FixtureRequest) -> Iterator[H3Fixture]:
    slug = "h3-test-" + request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    from h3grid import selectors

    with django_db_blocker.unblock():
        fx = _insert(slug)
    selectors.cache_clear()
    yield fx
    with django_db_blocker.unblock():
        _remove(fx)
    selectors.cache_clear()
