from __future__ import annotations

import pytest

from geoplatform.errors import InvalidInput
from ingest import registry
from ingest.services import job_id_for


def test_defaults_applied_and_unknown_parameters_rejected_together() -> None:
    hello = registry.get("hello")
    assert hello.clean_params({}) == {
        "name": "world",
        "count": 3,
        "sleep_ms": 0,
        "fail_mode": "none",
        "fail_times": 1,
        "queue_tag": "",
    }
    with pytest.raises(InvalidInput) as err:
        hello.clean_params({"count": 100_001, "colour": "red", "fail_mode": "sometimes", "name": 3})
    problems = err.value.details["problems"]
    assert "Unknown parameter 'colour'." in problems
    assert any("'count' must be at most" in p for p in problems)
    assert any("'fail_mode' must be one of" in p for p in problems)
    assert any("'name' must be of type str" in p for p in problems)
    assert "count" in err.value.details["parameters"]


def test_booleans_are_not_integers() -> None:
    with pytest.raises(InvalidInput):
        registry.get("hello").clean_params({"count": True})


def test_unknown_job_type_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput) as err:
        registry.get("no_such_type")
    assert "hello" in err.value.details["valid_job_types"]


def test_job_id_is_sha256_of_type_and_canonical_parameters() -> None:
    a = job_id_for("hello", {"count": 3, "name": "x"})
    b = job_id_for("hello", {"name": "x", "count": 3})
    assert a == b and len(a) == 64
    assert job_id_for("hello", {"count": 4, "name": "x"}) != a
    assert job_id_for("other", {"count": 3, "name": "x"}) != a
