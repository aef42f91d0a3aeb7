"""A process_vector job's result has exactly the keys features.results declares (publishing
reads them back as a release's outputs)."""

from __future__ import annotations

from typing import Any, get_type_hints

import pytest

from features.results import VectorCollectionResult, VectorJobResult
from features.services import dataset_unpublish

pytestmark = pytest.mark.django_db

COLLECTION_KEYS = set(get_type_hints(VectorCollectionResult))
SINGLE_KEYS = COLLECTION_KEYS | {"collections"}
SPLIT_KEYS = {"collections", "split_by_geometry_type", "collection_ids", "feature_count", "geometry_types"}
POINT = (
    b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":1},'
    b'"geometry":{"type":"Point","coordinates":[1,2]}}]}'
)


def test_the_declared_keys_are_the_two_shapes() -> None:
    assert SINGLE_KEYS | SPLIT_KEYS == set(get_type_hints(VectorJobResult))


def test_vector_job_results_match_their_type(put_fixture: Any, put_file: Any, submit_inline: Any) -> None:
    single = submit_inline(file_name=put_file("features-tests/typed.geojson", POINT), table_name="typed_single")
    assert single.status == "completed", single.error
    assert set(single.result) == SINGLE_KEYS
    assert [set(c) for c in single.result["collections"]] == [COLLECTION_KEYS]

    split = submit_inline(file_name=put_fixture("mixed_geometries.geojson"), table_name="typed_split")
    assert split.status == "completed", split.error
    assert set(split.result) == SPLIT_KEYS
    assert all(set(c) == COLLECTION_KEYS for c in split.result["collections"])
    for name in ["typed_single", *split.result["collection_ids"]]:
        dataset_unpublish(collection_id=name, dry_run=False)
