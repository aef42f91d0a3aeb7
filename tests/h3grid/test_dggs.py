"""OGC API - DGGS with H3 as a custom DGGRS: landing, conformance, DGGRS list and description,
zone listing (zone-level, bbox, parent-zone, compact-zones, paging), zone info and zone data."""

from __future__ import annotations

from typing import Any

import h3
import h3.api.basic_int as h3i
import pytest

from .conftest import BBOX, H3Fixture

pytestmark = [pytest.mark.reader, pytest.mark.django_db]
ROOT = "/api/dggs"


def _get(client: Any, path: str, status: int = 200) -> Any:
    response = client.get(path)
    assert response.status_code == status, response.content
    return response.json()


def test_landing_conformance_and_descriptions(api_client: Any, h3data: H3Fixture) -> None:
    landing = _get(api_client, ROOT + "/")
    rels = {link["rel"] for link in landing["links"]}
    assert {"conformance", "data", "http://www.opengis.net/def/rel/ogc/1.0/dggrs-list"} <= rels
    conf = _get(api_client, ROOT + "/conformance")["conformsTo"]
    assert "https://www.opengis.net/spec/ogcapi-dggs-1/1.0/conf/zone-query" in conf
    assert not any(c.endswith(("data-json", "dggs-json", "root-dggs")) for c in conf)  # not claimed
    assert [d["id"] for d in _get(api_client, ROOT + "/dggs")["dggrs"]] == ["H3"]
    desc = _get(api_client, ROOT + "/dggs/H3")
    assert desc["crs"].endswith("CRS84") and desc["maxRefinementLevel"] == 15
    collections = _get(api_client, ROOT + "/collections")["collections"]
    assert h3data.slug in [c["id"] for c in collections]
    cdesc = _get(api_client, f"{ROOT}/collections/{h3data.slug}/dggs/H3")
    assert cdesc["zoneLevels"] == [4, 5, 6]
    assert any(link["rel"].endswith("dggrs-zone-data") for link in cdesc["links"])
    assert "H3" in _get(api_client, ROOT + "/dggs/ISEA3H", 404)["description"]


def test_zone_listing(api_client: Any, h3data: H3Fixture) -> None:
    zones = f"{ROOT}/collections/{h3data.slug}/dggs/H3/zones"
    flat = _get(api_client, zones + "?zone-level=6&compact-zones=false&limit=10000")["zones"]
    assert [int(z, 16) for z in flat] == sorted(h3data.cells[6])
    compact = _get(api_client, zones + "?zone-level=6")["zones"]
    assert set(h3i.uncompact_cells([int(z, 16) for z in compact], 6)) == set(h3data.cells[6])
    assert len(compact) < len(flat)
    parent = h3data.cells[4][0]
    under = _get(api_client, zones + f"?zone-level=6&compact-zones=false&parent-zone={h3.int_to_str(parent)}")["zones"]
    assert {int(z, 16) for z in under} == {c for c in h3data.cells[6] if h3i.cell_to_parent(c, 4) == parent}
    w, s, *_ = BBOX
    page = _get(api_client, zones + f"?zone-level=5&compact-zones=false&bbox={w},{s},{w + 0.1},{s + 0.1}&limit=2")
    assert page["numberReturned"] <= 2
    # Paging follows next links; the root lists the land grid (levels 2..7).
    first = _get(api_client, f"{ROOT}/dggs/H3/zones?zone-level=6&compact-zones=false&limit=100")
    nxt = next(link["href"] for link in first["links"] if link["rel"] == "next")
    second = _get(api_client, nxt.replace("http://testserver", ""))
    assert not set(first["zones"]) & set(second["zones"])
    _get(api_client, zones + "?zone-level=3", 400)
    _get(api_client, zones + "?zone-level=6&parent-zone=bad", 400)
    _get(api_client, zones + "?zone-level=6&compact-zones=maybe", 400)


def test_zone_info_and_data(api_client: Any, h3data: H3Fixture) -> None:
    cell = h3data.cells[5][0]
    zone = h3.int_to_str(cell)
    info = _get(api_client, f"{ROOT}/dggs/H3/zones/{zone}")
    assert info["id"] == zone and info["level"] == 5 and info["shapeType"] == "hexagon"
    assert info["geometry"]["type"] == "Polygon" and info["areaMetersSquare"] > 1e8
    base = f"{ROOT}/collections/{h3data.slug}/dggs/H3/zones/{zone}/data"
    data = _get(api_client, base)
    assert data["zoneId"] == zone and data["values"]["mean"][0]["data"] == [pytest.approx(h3data.values[cell])]
    deeper = _get(api_client, base + "?zone-depth=1&properties=mean")
    children = sorted(h3i.cell_to_children(cell, 6))
    expected = [h3data.values.get(c) for c in children]
    got = deeper["values"]["mean"][0]["data"]
    assert len(got) == 7 and got == [pytest.approx(v) if v is not None else None for v in expected]
    error = _get(api_client, base + "?zone-depth=2", 400)
    assert "zone-depth=2" in error["description"]  # OGC exception body
    _get(api_client, base + "?properties=median", 400)
    _get(api_client, f"{ROOT}/collections/nope/dggs/H3/zones/{zone}/data", 404)


@pytest.mark.django_db(transaction=True)
def test_owslib_reads_landing_and_conformance(live_server: Any) -> None:
    """A real OGC API client (OWSLib's generic OGC API reader; it has no DGGS module)."""
    from owslib.ogcapi import API

    api = API(f"{live_server.url}/api/dggs/")
    assert any(link["rel"] == "conformance" for link in api.links)  # the landing page was read
    conf = api.conformance()["conformsTo"]
    assert "https://www.opengis.net/spec/ogcapi-dggs-1/1.0/conf/core" in conf
