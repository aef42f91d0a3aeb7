"""The STAC item of a virtual dataset: datacube + CMIP6 extensions, validated offline."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from climate import datasets, stac

pytestmark = pytest.mark.django_db


def test_item_validates_and_describes_the_cube(virtualize: Any) -> None:
    result = virtualize()
    item = datasets.item_get(result["collection_id"], result["item_id"])
    assert stac.validate(item) == []
    props = item["properties"]
    dims = props["cube:dimensions"]
    assert dims["longitude"]["axis"] == "x" and dims["longitude"]["extent"] == [225.0, 315.0]
    assert dims["latitude"]["axis"] == "y" and dims["latitude"]["step"] == 1.25
    assert dims["time"]["type"] == "temporal" and dims["time"]["step"] == "P1Y"
    assert dims["time"]["extent"][0].startswith("1860-06-01") and "360_day" in dims["time"]["description"]
    assert props["cube:variables"]["tas"]["unit"] == "K"
    assert props["start_datetime"].startswith("1860-06-01") and props["end_datetime"].startswith("1919-06-01")
    # 0-360 longitudes become a -180..180 bbox
    assert item["bbox"][0] == pytest.approx(-135.0) and item["bbox"][2] == pytest.approx(-45.0)
    assert props["cmip6:variable_id"] == "tas" and props["cmip6:experiment_id"] == "sresa1b"
    assert props["cmip6:realization_index"] == 1 and props["cmip6:variant_label"] == "r1i1p1f1"
    assert len([link for link in item["links"] if link["rel"] == "derived_from"]) == 6


def test_schema_catches_a_broken_item(virtualize: Any) -> None:
    item = copy.deepcopy(datasets.item_get(*[virtualize()[k] for k in ("collection_id", "item_id")]))
    item["properties"]["cube:dimensions"]["longitude"]["extent"] = ["a", "b"]
    item["properties"]["cmip6:realization_index"] = "one"
    problems = stac.validate(item)
    assert any("datacube" in p and "longitude" in p for p in problems)
    assert any("cmip6" in p and "realization_index" in p for p in problems)
