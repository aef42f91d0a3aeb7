"""rechunk_climate: a Zarr v3 copy chunked for time series, the item's second asset."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from climate import datasets
from tests.climate.conftest import run_job, run_ok

pytestmark = pytest.mark.django_db


def test_rechunked_copy_is_a_second_asset_with_the_same_values(virtualize: Any) -> None:
    made = virtualize()
    c, i = made["collection_id"], made["item_id"]
    result = run_ok("rechunk_climate", {"collection_id": c, "item_id": i})
    assert result["chunks"]["time"] == 60 and result["chunks"]["latitude"] == 37 and result["bytes_written"] > 0
    item = datasets.item_get(c, i)
    assert item["assets"]["rechunked"]["geoplatform:format"] == "zarr"
    virtual = datasets.dataset_open(c, i)
    copy = datasets.dataset_open(c, i, asset="rechunked")
    assert copy.tas.encoding["chunks"] == (60, 37, 49)
    np.testing.assert_array_equal(
        copy.tas.isel(latitude=4, longitude=7).values, virtual.tas.isel(latitude=4, longitude=7).values
    )
    assert copy.time.values[0] == virtual.time.values[0]
    # Again with explicit chunks: the older copy is replaced.
    again = run_ok("rechunk_climate", {"collection_id": c, "item_id": i, "chunks": {"latitude": 8, "longitude": 8}})
    assert {k: again["chunks"][k] for k in ("time", "latitude", "longitude")} == {
        "time": 60,
        "latitude": 8,
        "longitude": 8,
    }
    datasets.dataset_cache_clear()
    assert datasets.dataset_open(c, i, asset="rechunked").tas.encoding["chunks"] == (60, 8, 8)
    unpublished = run_ok("unpublish_zarr", {"collection_id": c, "item_id": i})
    assert all(b.startswith(again["zarr_prefix"]) or b.endswith("refs.json") for b in unpublished["blobs"])


def test_rechunk_of_unknown_dataset_is_refused(db: Any) -> None:
    from geoplatform.errors import InvalidInput

    with pytest.raises(InvalidInput) as exc:
        run_job("rechunk_climate", {"item_id": "nope"})
    assert "virtualize it first" in str(exc.value.details)
