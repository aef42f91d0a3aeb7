"""The maps tests reuse the features fixtures (in-process vector ingest) and publish two small
rasters once per session (a DEM and a paletted land-cover raster) with the rasters tests' helper."""

from collections.abc import Iterator
from typing import Any

import pytest

from rasters import selectors
from tests.features.conftest import _quiet_azure_sdk, bronze, put_file, put_fixture, submit_inline  # noqa: F401
from tests.rasters.conftest import _publisher


@pytest.fixture(scope="session")
def published(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, dict[str, Any]]]:
    """Committed (the live server's thread and read-only tests share them)."""
    with django_db_blocker.unblock():
        selectors.item_cache_clear()
        _publish, _cleanup = _publisher(keep_jobs=False)
        items = {"dem": _publish("olinda_dem_utm25s.tif"), "lc": _publish("lc.tif")}
    yield items
    with django_db_blocker.unblock():
        _cleanup()
