"""The Parquet tier served by the API: a twin of the fixture dataset whose resolution 6 lives as
Parquet parts in the silver zone (written by stats.stat_part_write, read back through Azurite)
answers every cells query, the one-cell document and the DGGS zone data exactly as the
PostgreSQL copy does."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import h3
import h3.api.basic_int as h3i
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import BBOX, H3Fixture

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def twin(django_db_blocker: Any, h3data: H3Fixture) -> Iterator[str]:
    """``<slug>-pq``: res 5 in PostgreSQL, res 6 as three Parquet parts (the tier's layout)."""
    from django.db import connection

    from h3grid import selectors, stats
    from h3grid.models import StatDataset

    slug = h3data.slug + "-pq"
    with django_db_blocker.unblock():
        src = StatDataset.objects.get(pk=h3data.dataset_id)
        ds = StatDataset.objects.create(
            slug=slug,
            source_kind=src.source_kind,
            source_ref=src.source_ref,
            resolutions=[5, 6],
            columns=src.columns,
            units=src.units,
            storage=stats.storage_of(slug, [5, 6], 5),
        )
        with connection.cursor() as cur:
            cur.execute(f"CREATE TABLE h3.{ds.table} AS SELECT * FROM h3.{src.table} WHERE res = 5")
        cells = np.array(h3data.cells[6], dtype=np.int64)
        # Parts out of cell order, as fan-out tasks write them.
        for part, chunk in enumerate(np.array_split(np.random.default_rng(1).permutation(cells), 3)):
            stats.stat_part_write(
                slug=slug,
                res=6,
                part=part,
                cells=chunk,
                values={
                    "mean": np.array([h3data.values[int(c)] for c in chunk]),
                    "count": np.ones(len(chunk)),
                },
            )
    selectors.cache_clear()
    yield slug
    with django_db_blocker.unblock():
        stats.stat_dataset_delete(dataset=StatDataset.objects.get(slug=slug))
    selectors.cache_clear()


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _json(response: Any) -> Any:
    assert response.status_code == 200, _body(response)
    return json.loads(_body(response))


QUERIES = [
    "res=6&limit=10000",
    "res=6&limit=10000&iso3=TZA",
    "res=6&limit=10000&iso3=ken&stat=mean",
    f"res=6&limit=10000&bbox={BBOX[0]},{BBOX[1]},{BBOX[0] + 0.1},{BBOX[1] + 0.1}",
    "res=6&limit=10000&bbox=36.8,-1.5,37.0,-1.3&iso3=TZA",
]


@pytest.mark.parametrize("query", QUERIES)
def test_parquet_tier_answers_as_postgres(api_client: Any, h3data: H3Fixture, twin: str, query: str) -> None:
    want = _json(api_client.get(f"/api/h3/stats/{h3data.slug}/cells?{query}"))
    got = _json(api_client.get(f"/api/h3/stats/{twin}/cells?{query}"))
    assert got["cells"] and got["numberReturned"] == want["numberReturned"]
    for a, b in zip(got["cells"], want["cells"], strict=True):
        assert a.keys() == b.keys() and a["cell"] == b["cell"]
        assert a["mean"] == pytest.approx(b["mean"]) and a.get("share") == pytest.approx(b.get("share"))


def test_parquet_tier_parent_and_pages(api_client: Any, h3data: H3Fixture, twin: str) -> None:
    parent = h3data.cells[4][0]
    under = _json(api_client.get(f"/api/h3/stats/{twin}/cells?res=6&limit=10000&parent={h3.int_to_str(parent)}"))
    assert {int(c["cell"], 16) for c in under["cells"]} == {
        c for c in h3data.cells[6] if h3i.cell_to_parent(c, 4) == parent
    }
    for iso3 in ("", "&iso3=TZA"):
        url: str | None = f"/api/h3/stats/{twin}/cells?res=6&limit=7&f=geojson{iso3}"
        seen: list[int] = []
        while url:
            page = _json(api_client.get(url))
            assert len(page["features"]) <= 7
            seen += [int(f["id"], 16) for f in page["features"]]
            nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
            url = nxt[0].replace("http://testserver", "") if nxt else None
        full = _json(api_client.get(f"/api/h3/stats/{h3data.slug}/cells?res=6&limit=10000{iso3}"))
        assert seen == [int(c["cell"], 16) for c in full["cells"]]


def test_parquet_tier_csv_and_parquet(api_client: Any, h3data: H3Fixture, twin: str) -> None:
    cells = sorted(h3data.cells[6])
    response = api_client.get(f"/api/h3/stats/{twin}/cells?res=6&f=csv&limit=40")
    rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
    assert len(rows) == 40 and list(rows[0]) == ["cell", "cell_int", "res", "mean", "count"]
    assert int(rows[0]["cell"], 16) == int(rows[0]["cell_int"]) == cells[0]
    assert int(response["Link"].split("after=")[1].split("&")[0].split(">")[0], 16) == cells[39]
    response = api_client.get(f"/api/h3/stats/{twin}/cells?res=6&f=parquet&iso3=KEN&limit=10000")
    table = pq.read_table(io.BytesIO(_body(response)))
    assert table.column_names == ["cell", "res", "iso3", "share", "mean", "count"]
    assert table["cell"].to_pylist() == cells and "Link" not in response
    assert table.schema.field("res").type == pa.int16()


def test_parquet_tier_cell_and_zone_data(api_client: Any, h3data: H3Fixture, twin: str) -> None:
    cell = h3data.cells[6][3]
    doc = _json(api_client.get(f"/api/h3/cells/{h3.int_to_str(cell)}"))
    mine = next(d for d in doc["datasets"] if d["slug"] == twin)
    assert mine["values"]["mean"] == pytest.approx(h3data.values[cell])
    zone = h3data.cells[5][0]
    base = f"/api/dggs/collections/{{}}/dggs/H3/zones/{h3.int_to_str(zone)}/data?zone-depth=1"
    want = _json(api_client.get(base.format(h3data.slug)))
    got = _json(api_client.get(base.format(twin)))
    assert got["values"]["mean"][0]["data"] == want["values"]["mean"][0]["data"]
    assert any(v is not None for v in got["values"]["mean"][0]["data"])
    listing = _json(api_client.get(f"/api/dggs/collections/{twin}/dggs/H3/zones?zone-level=6&compact-zones=false"))
    assert listing["numberReturned"] > 0
