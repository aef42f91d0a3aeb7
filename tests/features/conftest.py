"""Fixtures of the features tests: files in the bronze container, jobs run in-process.

``submit_inline`` drives the real job engine (``tests.ingest.inline.run_inline``) in the test's own transaction,
without the broker: the same stage code as a worker runs, at unit-test speed. A couple of
end-to-end tests use ``live_worker`` for the real path through the broker.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from geoplatform import storage
from tests.conftest import FIXTURES, as_owner
from tests.ingest.inline import run_inline as run_job_inline  # noqa: F401  (the name main's schemathesis test imports)
from tests.ingest.inline import submit_inline as submit_inline_job

DATA = FIXTURES / "features"


@pytest.fixture
def bronze() -> str:
    return storage.zone_container("bronze")


@pytest.fixture
def put_file(bronze: str) -> Callable[[str, bytes], str]:
    """Store bytes in the bronze container under ``name`` (replacing an earlier file)."""

    def put(name: str, data: bytes) -> str:
        store = storage.get_storage(bronze)
        if store.exists(name):
            store.delete(name)
        store.save(name, ContentFile(data))
        return name

    return put


@pytest.fixture
def put_fixture(put_file: Callable[[str, bytes], str]) -> Callable[[str], str]:
    def put(fixture: str, name: str | None = None) -> str:
        return put_file(name or f"features-tests/{fixture}", (DATA / fixture).read_bytes())

    return put


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def submit_inline(db: Any) -> Callable[..., Any]:
    """Submit process_vector/unpublish_vector through the real service and run it in-process."""

    def submit(job_type: str = "process_vector", **parameters: Any) -> Any:
        with as_owner():  # the reader pass reads what the suite's role wrote
            return submit_inline_job(job_type, parameters)

    return submit


@pytest.fixture(autouse=True)
def _quiet_azure_sdk() -> None:
    """The Azure SDK logs every HTTP request at INFO; keep failures readable."""
    import logging

    logging.getLogger("azure").setLevel(logging.WARNING)
