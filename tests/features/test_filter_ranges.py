"""Property filters out of their column type's range: 400 InvalidParameterValue, not 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.reader]  # reader: also run on a reader deployment


@pytest.fixture
def airports(put_fixture: Any, submit_inline: Any) -> str:
    job = submit_inline(
        file_name=put_fixture("airports.csv"),
        table_name="airports_ranges",
        lat_column="Latitude",
        lon_column="Longitude",
    )
    assert job.status == "completed", job.error
    return "/api/features/collections/airports_ranges/items"


# Found by schemathesis over /api/features/api: altitude=-121645100408832001 (an integer column)
# made PostgreSQL's CAST fail and the route answer 500.
@pytest.mark.parametrize(
    "query",
    [
        "altitude=-121645100408832001",
        "altitude=2147483648",
        "altitude=99999999999999999999999",
        "latitude=1e400",
        "latitude=nan",
    ],
)
def test_out_of_range_filters_are_400(airports: str, api_client: Any, query: str) -> None:
    r = api_client.get(f"{airports}?{query}&f=json")
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["code"] == "InvalidParameterValue" and query.split("=")[0] in body["description"], body


def _page(api_client: Any, url: str) -> dict[str, Any]:
    r = api_client.get(url)
    assert r.status_code == 200, url
    return json.loads(b"".join(r.streaming_content) if r.streaming else r.content)


def test_in_range_filters_still_match(airports: str, api_client: Any) -> None:
    assert _page(api_client, f"{airports}?altitude=2147483647&f=json")["numberReturned"] == 0
    assert _page(api_client, f"{airports}?latitude=1e-400&f=json")["numberReturned"] == 0  # 0.0, no underflow
    assert _page(api_client, f"{airports}?altitude=393&f=json")["numberReturned"] >= 1  # Lehigh Valley
