"""Shared test helpers (plain functions, imported by the test modules)."""

from __future__ import annotations

from typing import Any

from publishing import services

from .conftest import run_job, submit_body


def submitted(user: Any, *, run: bool = True, **overrides: Any) -> Any:
    """Submit a release through the service and (by default) run its job to the end."""
    result = services.release_submit(data=submit_body(**overrides), user=user)
    if run:
        run_job(result.job.id)
    result.release.refresh_from_db()
    return result.release
