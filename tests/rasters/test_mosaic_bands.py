"""A collection mosaic whose rasters have different band counts: a 400 that says what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from catalog import services
from rasters import mosaic
from tests.catalog.conftest import make_collection


def test_mixed_band_counts_answer_400_naming_the_items(publish: Callable[..., dict[str, Any]], api_client: Any) -> None:
    # Found by schemathesis (tests/test_openapi_schemathesis.py): rio-tiler asserts that the
    # images stack, and the AssertionError was a 500.
    services.collection_upsert(collection=make_collection("band-mix"))
    one = publish("lc.tif", collection_id="band-mix", item_id="one-band")
    three = publish("natural_earth_1_downsampled_cog.tif", collection_id="band-mix", item_id="three-bands")
    assert one["collection_id"] == three["collection_id"] == "band-mix"
    mosaic.index_clear()
    base = "/api/raster/mosaic/collections/band-mix/tiles/WebMercatorQuad/0/0/0.png"
    try:
        r = api_client.get(f"{base}?pixel_selection=mean")  # mean reads every raster of the tile
        assert r.status_code == 400, r.content
        message = r.json()["message"]
        assert "different band counts" in message and "'one-band' has 1" in message, message
        assert "'three-bands' has 3" in message and "bidx" in message, message
        assert api_client.get(f"{base}?pixel_selection=mean&bidx=1").status_code == 200
    finally:
        mosaic.index_clear()
