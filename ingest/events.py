"""The job's event log: one row per thing that happened to a job or one of its tasks.

Written by the state machine, the hot path, the janitor and the callbacks alike, so it
sits below all of them.
"""

from __future__ import annotations

from typing import Any

from .models import JobEvent


def event_record(job_id: str, kind: str, message: str = "", *, task_id: str | None = None, **data: Any) -> None:
    JobEvent.objects.create(job_id=job_id, task_id=task_id, kind=kind, message=message, data=data)
