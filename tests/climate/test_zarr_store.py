"""A Zarr v3 store in bronze is served in place (nothing written to silver); v2 is refused."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from climate import datasets, services, stac, stages
from geoplatform import storage
from geoplatform.storage import zone_container
from tests.climate import corpus
from tests.climate.conftest import Uploader

pytestmark = pytest.mark.django_db


def _store(upload: Uploader, zarr_format: int) -> str:
    prefix = f"tests/{uuid.uuid4().hex[:10]}/cube.zarr"
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "cube.zarr"
        corpus.dataset(steps=6).to_zarr(local, zarr_format=zarr_format, consolidated=False, mode="w")
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            upload.raw(path.read_bytes(), path.relative_to(local).as_posix(), prefix=prefix)
    return prefix


def test_zarr_v3_store_is_read_in_place(virtualize: Any, upload: Uploader) -> None:
    store = _store(upload, 3)
    made = virtualize([store])
    assert made["files"] == 1 and made["references_blob"] == "" and made["variables"] == ["tas"]
    assert (
        storage.blob_list(zone_container("silver"), services.item_prefix(made["collection_id"], made["item_id"])) == []
    )
    item = datasets.item_get(made["collection_id"], made["item_id"])
    assert item["assets"]["references"]["geoplatform:format"] == "zarr" and stac.validate(item) == []
    ds = datasets.dataset_open(made["collection_id"], made["item_id"])
    assert ds.sizes["time"] == 6 and float(ds.tas.isel(time=5, lat=0, lon=0)) == pytest.approx(280 + 100 / 10)


def test_zarr_v2_store_is_refused(upload: Uploader) -> None:
    from django.core.files.base import ContentFile

    from geoplatform.storage import get_storage

    prefix = f"tests/{uuid.uuid4().hex[:10]}/old.zarr"
    # A v2 store's marker key: written straight to storage (the upload API would refuse the name).
    get_storage(upload.bronze).save(f"{prefix}/.zgroup", ContentFile(b'{"zarr_format": 2}'))
    upload.names.append(f"{prefix}/.zgroup")
    problems = stages.preflight(
        {"container_name": upload.bronze, "file_name": prefix, "collection_id": "system-zarr", "item_id": "v2"}
    )
    assert any("Zarr v2" in p for p in problems), problems
