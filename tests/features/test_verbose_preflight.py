"""Verbose pre-flight of process_vector on real files: what each check saw (issue 12)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def _submit(client: Any, bronze: str, name: str, **extra: Any) -> Any:
    params = {"container_name": bronze, "file_name": name, "table_name": "verbose_nc", "publish": False, **extra}
    return client.post("/api/jobs/submit/process_vector", {"parameters": params, "verbose": True}, format="json")


def test_verbose_vector_preflight_reports_what_it_saw(
    auth_client: Any, bronze: str, put_fixture: Callable[[str], str]
) -> None:
    resp = _submit(auth_client, bronze, put_fixture("nc.gpkg"))
    assert resp.status_code == 202, resp.content
    checks = {c["name"]: c for c in resp.json()["preflight"]}
    assert checks["parameters"]["ok"]
    saw = checks["vector_preflight"]["saw"]
    assert checks["vector_preflight"]["ok"] and checks["vector_preflight"]["took_ms"] > 0
    assert saw["format"] == "gpkg" and saw["size"] > 0 and saw["layers"] and saw["crs"]
    assert saw["feature_count"] > 0 and saw["geometry_type"] and saw["fields"]


def test_a_refusal_carries_the_report(auth_client: Any, bronze: str, put_fixture: Callable[[str], str]) -> None:
    name = put_fixture("nc.gpkg")
    resp = _submit(auth_client, bronze, name, temporal_property="no_such_column")
    assert resp.status_code == 400, resp.content
    [check] = [c for c in resp.json()["details"]["preflight"] if c["name"] == "vector_preflight"]
    assert not check["ok"] and "no_such_column" in check["problems"][0] and check["saw"]["fields"]
