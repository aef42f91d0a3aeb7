"""Debug mode (``GEOPLATFORM_DEBUG_MODE``): internals in error bodies, for operators only.

An error body gets ``debug``: the exception and its stack, the SQL the request ran (with
timings), the log context (request, job and task ids) and, on a job's routes, its tasks'
ids, states and errors. Only for an authenticated account holding ``geoplatform.view_debug``:
never for anonymous callers, and production settings refuse the mode unless
``GEOPLATFORM_ALLOW_DEBUG_MODE=true`` (settings/prod.py).
"""

from __future__ import annotations

import traceback
from typing import Any

from django.apps import apps
from django.conf import settings

from .logging import current_context
from .metrics import request_sql

VIEW_DEBUG = "geoplatform.view_debug"


def allowed(request: Any) -> bool:
    if not getattr(settings, "GEOPLATFORM_DEBUG_MODE", False) or request is None:
        return False
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.has_perm(VIEW_DEBUG))


def details(request: Any, exc: BaseException) -> dict[str, Any] | None:
    """The ``debug`` member of an error body, or None when the caller may not see it."""
    if not allowed(request):
        return None
    out: dict[str, Any] = {
        "exception": f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}",
        "stack": traceback.format_exception(exc)[-30:],
        "sql": list(request_sql.get() or []),
        "context": current_context(),
    }
    match = getattr(request, "resolver_match", None)
    job_id = (getattr(match, "kwargs", None) or {}).get("job_id")
    if job_id:
        out["tasks"] = _tasks_of(str(job_id))
    return out


def _tasks_of(job_id: str) -> list[dict[str, Any]]:
    # By app registry: the core does not import ingest (layers), yet shows a job's tasks.
    if not apps.is_installed("ingest"):
        return []
    task = apps.get_model("ingest", "Task")
    rows = task.objects.filter(job_id=job_id).order_by("stage__index", "unit")[:100]
    fields = ("id", "stage__name", "unit", "queue", "status", "attempts", "worker", "error")
    return [dict(row) for row in rows.values(*fields)]
