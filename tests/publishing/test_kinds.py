"""The per-kind declarations of publishing.kinds: one for every data type, immutable."""

from __future__ import annotations

import dataclasses

import pytest

from publishing import kinds
from publishing.models import DataType


def test_every_data_type_declares_its_kind_once() -> None:
    assert set(kinds.KINDS) == set(DataType.values)
    assert all(kind.data_type == name for name, kind in kinds.KINDS.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        kinds.KINDS[DataType.VECTOR].artifacts = kinds.KINDS[DataType.RASTER].artifacts  # type: ignore[misc]


def test_artifacts_name_both_zones() -> None:
    listed = kinds.Artifacts(silver_blobs=("a.tif",), external_blobs=("a.tif",)).as_dict()
    assert listed["silver_blobs"] == listed["external_blobs"] == ["a.tif"]
    assert listed["blobs"] == [f"{listed['silver_container']}/a.tif", f"{listed['external_container']}/a.tif"]
