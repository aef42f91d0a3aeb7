"""The read API on a dataset virtualized by the climate app: kerchunk references in the silver
zone over the source files in Azurite, the STAC item in pgSTAC, chunks read by range."""

from __future__ import annotations

from typing import Any

import pytest

from tests.climate.conftest import upload, virtualize  # noqa: F401  (the climate app's fixtures)

pytestmark = pytest.mark.django_db


def test_edr_and_xarray_routes_on_a_virtualized_series(client: Any, virtualize: Any, covjson_validator: Any) -> None:  # noqa: F811
    result = virtualize()
    collection, item = result["collection_id"], result["item_id"]
    edr_id = f"{collection}~{item}"
    listed = {c["id"]: c for c in client.get("/api/edr/collections").json()["collections"]}
    assert listed[edr_id]["parameter_names"]["tas"]["unit"]["symbol"] == "K"
    assert listed[edr_id]["extent"]["temporal"]["calendar"] == "360_day"

    response = client.get(f"/api/edr/collections/{edr_id}/position", {"coords": "POINT(-100 40)"})
    assert response.status_code == 200, response.content
    doc = response.json()
    covjson_validator.validate(doc)
    assert len(doc["domain"]["axes"]["t"]["values"]) == 60
    assert all(200 < v < 330 for v in doc["ranges"]["tas"]["values"])

    point = client.get(f"/api/xarray/point/{collection}/{item}", {"location": "-100,40"}).json()
    assert [p["value"] for p in point["series"]] == pytest.approx(doc["ranges"]["tas"]["values"], rel=1e-6)
    tile = client.get(f"/api/xarray/{collection}/{item}/tiles/WebMercatorQuad/3/1/3.png")
    assert tile.status_code == 200 and tile["Content-Type"] == "image/png"


def test_pending_dataset_hidden_from_the_public(client: Any, virtualize: Any) -> None:  # noqa: F811
    result = virtualize(publish=False)
    edr_id = f"{result['collection_id']}~{result['item_id']}"
    response = client.get(f"/api/edr/collections/{edr_id}")
    assert response.status_code == 404 and set(response.json()) == {"code", "description"}
    assert edr_id not in {c["id"] for c in client.get("/api/edr/collections").json()["collections"]}


def test_point_series_read_the_rechunked_copy(client: Any, virtualize: Any, settings: Any) -> None:  # noqa: F811
    from climate.read import sources
    from tests.climate.conftest import run_ok

    settings.GEOPLATFORM_CLIMATE_HOT_DATASET_BYTES = 0  # read from storage, not the in-memory copy
    result = virtualize()
    collection, item = result["collection_id"], result["item_id"]
    edr_id = f"{collection}~{item}"
    before = client.get(f"/api/edr/collections/{edr_id}/position", {"coords": "POINT(-100 40)"}).json()
    run_ok("rechunk_climate", {"collection_id": collection, "item_id": item})
    ds = sources.dataset_get(collection, item, time_series=True)
    assert ds.tas.encoding["chunks"][0] == 60  # the time-chunked copy
    assert sources.dataset_get(collection, item).tas.encoding["chunks"][0] == 1  # maps keep the references
    after = client.get(f"/api/edr/collections/{edr_id}/position", {"coords": "POINT(-100 40)"}).json()
    assert after["ranges"]["tas"]["values"] == before["ranges"]["tas"]["values"]
    assert after["domain"]["axes"]["t"] == before["domain"]["axes"]["t"]


def test_reviewer_previews_a_pending_dataset(client: Any, virtualize: Any) -> None:  # noqa: F811
    from django.contrib.auth.models import Permission, User

    result = virtualize(publish=False)
    edr_id = f"{result['collection_id']}~{result['item_id']}"
    reviewer = User.objects.create_user("climate-reviewer")
    reviewer.user_permissions.add(
        Permission.objects.get(codename="preview_unpublished", content_type__app_label="climate")
    )
    client.force_login(reviewer)
    response = client.get(f"/api/edr/collections/{edr_id}/position", {"coords": "POINT(-100 40)"})
    assert response.status_code == 200, response.content
