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


def _registered_job_types(settings_module: str) -> list[str]:
    """The job types a process with ``settings_module`` registers (as `make run` starts it)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "import django, json; django.setup(); from ingest import registry; print(json.dumps(sorted(registry.all_types())))"
    env = {k: v for k, v in os.environ.items() if k != "GEOPLATFORM_EXTRA_JOB_TYPES"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": settings_module,
            "GEOPLATFORM_ENV_FILE": "/nonexistent",
            "GEOPLATFORM_SECRET_KEY": "only-for-this-check",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
        }
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


def test_hello_is_registered_only_under_test_settings() -> None:
    """`hello` queues up to 100,000 tasks sleeping up to 60 s each: never in production."""
    for settings_module in ("geoplatform.settings.prod", "geoplatform.settings.dev"):
        types = _registered_job_types(settings_module)
        assert "process_vector" in types and "externalize_release" in types, types
        assert "hello" not in types, settings_module
    assert "hello" in registry.all_types()  # this process runs under the test settings


def test_a_job_type_outside_the_api_must_say_what_starts_it() -> None:
    with pytest.raises(ValueError, match="started_by"):
        registry.register(registry.JobType("x_hidden", [registry.Stage("s", lambda ctx: {})], api_submit=False))
    assert "x_hidden" not in registry.all_types()
