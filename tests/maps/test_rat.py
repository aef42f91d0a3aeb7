"""A raster attribute table (.aux.xml sidecar) -> STAC classification:classes -> the legend."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.files.base import ContentFile

from geoplatform.storage import get_storage, zone_container
from rasters import rat, selectors, services
from tests.conftest import FIXTURES
from tests.rasters.conftest import run_job_inline

pytestmark = pytest.mark.django_db


def test_parse_aux_xml() -> None:
    classes = rat.classes_from_aux_xml((FIXTURES / "lc_rat.aux.xml").read_text())
    assert classes[0] == {"value": 11, "name": "open_water", "description": "Open Water"}
    assert len(classes) == 15
    assert rat.classes_from_aux_xml("<PAMDataset/>") == [] and rat.classes_from_aux_xml("not xml") == []
    with_colour = (
        "<PAMDataset><PAMRasterBand band='1'><GDALRasterAttributeTable>"
        "<FieldDefn index='0'><Name>v</Name><Type>0</Type><Usage>5</Usage></FieldDefn>"
        "<FieldDefn index='1'><Name>n</Name><Type>2</Type><Usage>2</Usage></FieldDefn>"
        "<FieldDefn index='2'><Name>r</Name><Type>0</Type><Usage>6</Usage></FieldDefn>"
        "<FieldDefn index='3'><Name>g</Name><Type>0</Type><Usage>7</Usage></FieldDefn>"
        "<FieldDefn index='4'><Name>b</Name><Type>0</Type><Usage>8</Usage></FieldDefn>"
        "<Row index='0'><F>1</F><F>Forest</F><F>0</F><F>128</F><F>255</F></Row>"
        "</GDALRasterAttributeTable></PAMRasterBand></PAMDataset>"
    )
    assert rat.classes_from_aux_xml(with_colour)[0]["color_hint"] == "0080FF"


def test_sidecar_rat_names_the_legend_classes(api_client: Any) -> None:
    bronze = zone_container("bronze")
    storage = get_storage(bronze)
    name = f"tests/{uuid.uuid4().hex[:10]}-lc.tif"
    storage.save(name, ContentFile((FIXTURES / "lc.tif").read_bytes()))
    storage.save(f"{name}.aux.xml", ContentFile((FIXTURES / "lc_rat.aux.xml").read_bytes()))
    item_id = f"rat-{uuid.uuid4().hex[:8]}"
    try:
        _job, result, _warnings = run_job_inline(
            "process_raster", {"container_name": bronze, "file_name": name, "item_id": item_id}
        )
        c, i = result["collection_id"], result["item_id"]
        item = api_client.get(f"/api/stac/collections/{c}/items/{i}").json()
        assert rat.CLASSIFICATION_EXT in item["stac_extensions"]
        band = next(a for a in item["assets"].values() if a.get("bands"))["bands"][0]
        assert band["classification:classes"][0]["description"] == "Open Water"
        legend = api_client.get(f"/api/raster/{c}/{i}/legend").json()
        assert legend["type"] == "categorical"
        water = next(x for x in legend["classes"] if x["value"] == 11)
        assert water == {
            "value": 11,
            "name": "Open Water",
            "color": "#476ba1",
        }  # name from the RAT, colour from the palette
        services.raster_unpublish(collection_id=c, item_id=i, dry_run=False)
    finally:
        storage.delete(name)
        storage.delete(f"{name}.aux.xml")
        selectors.item_cache_clear()
