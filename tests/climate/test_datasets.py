"""climate.datasets: the read side's entry point, on a virtualized CMIP6 series."""

from __future__ import annotations

from typing import Any

import cftime
import pytest

from climate import datasets
from climate.errors import DatasetNotFound

pytestmark = pytest.mark.django_db


def test_dataset_open_reads_the_series_lazily(virtualize: Any) -> None:
    result = virtualize()
    ds = datasets.dataset_open(result["collection_id"], result["item_id"])
    assert ds.sizes["time"] == 60 and ds.sizes["latitude"] == 37 and ds.sizes["longitude"] == 49
    assert isinstance(ds.time.values[0], cftime.Datetime360Day)
    assert ds.time.values[0].year == 1860 and ds.time.values[-1].year == 1919
    assert ds.tas.attrs["units"] == "K"
    value = float(ds.tas.isel(time=-1, latitude=5, longitude=5))
    assert 200 < value < 330
    # Cached per ETag: the same object again.
    assert datasets.dataset_open(result["collection_id"], result["item_id"]) is ds


def test_item_and_collection_list(virtualize: Any) -> None:
    result = virtualize()
    item = datasets.item_get(result["collection_id"], result["item_id"])
    assert item["assets"]["references"]["geoplatform:format"] == "kerchunk"
    assert item["properties"]["cmip6:variable_id"] == "tas"
    listed = {c["id"]: c for c in datasets.collection_list()}
    assert result["item_id"] in listed[result["collection_id"]]["items"]


def test_pending_dataset_is_seen_only_with_include_pending(virtualize: Any) -> None:
    result = virtualize(publish=False)
    with pytest.raises(DatasetNotFound):
        datasets.dataset_open(result["collection_id"], result["item_id"])
    ds = datasets.dataset_open(result["collection_id"], result["item_id"], include_pending=True)
    assert ds.sizes["time"] == 60
    item = datasets.item_get(result["collection_id"], result["item_id"], include_pending=True)
    assert item["properties"]["geoplatform:pending"] is True
    assert result["item_id"] not in {i for c in datasets.collection_list() for i in c["items"]}


def test_unknown_dataset_is_404(db: Any) -> None:
    with pytest.raises(DatasetNotFound):
        datasets.dataset_open("system-zarr", "nope")
