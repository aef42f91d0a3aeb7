"""Fixtures of the styles tests: a small polygon collection loaded in-process (its default
style made by the real process_vector job through features.hooks)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile

from geoplatform import storage
from tests.conftest import FIXTURES
from tests.ingest.inline import submit_inline

DATA = FIXTURES / "styles"
ROOT = FIXTURES.parent.parent
GL_VALIDATE = ROOT / ".cache" / "maplibre" / "node_modules" / ".bin" / "gl-style-validate"


def load_areas(table: str = "areas", **more: Any) -> Any:
    store = storage.get_storage(storage.zone_container("bronze"))
    name = "styles-tests/areas.geojson"
    if not store.exists(name):
        store.save(name, ContentFile((DATA / "areas.geojson").read_bytes()))
    job = submit_inline("process_vector", {"file_name": name, "table_name": table, **more})
    assert job.status == "completed", job.error
    return job


@pytest.fixture
def areas(db: Any) -> str:
    load_areas()
    return "areas"


@pytest.fixture(autouse=True)
def _quiet_azure_sdk() -> None:
    import logging

    logging.getLogger("azure").setLevel(logging.WARNING)
