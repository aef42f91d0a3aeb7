"""Errors of the job engine, and how any exception raised by a task is classified."""

from __future__ import annotations

import socket
from typing import Any

from django.db import InterfaceError, OperationalError

from geoplatform.errors import ApplicationError, Conflict, NotFound


class RetryableError(ApplicationError):
    """A passing failure (network, lock, busy service): the task is tried again."""

    code = "transient_error"
    category = "transient"
    user_fixable = False
    error_source = "platform"
    retryable = True


class PermanentError(ApplicationError):
    """A failure that another try cannot fix (bad data, bad parameters)."""

    code = "permanent_error"
    category = "data"


class JobNotFound(NotFound):
    code = "job_not_found"


class JobNotRunnable(Conflict):
    code = "job_not_runnable"


_TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError, socket.timeout)


def classify(exc: BaseException) -> tuple[dict[str, Any], bool]:
    """(structured error, retryable) for any exception a task raised."""
    if isinstance(exc, ApplicationError):
        return exc.as_dict(), exc.retryable
    if isinstance(exc, _TRANSIENT):
        err = RetryableError(f"{type(exc).__name__}: {exc}", remediation="None needed; the task is retried.")
        return err.as_dict(), True
    internal = ApplicationError(
        f"Internal error ({type(exc).__name__}): {exc}",
        code="internal_error",
        category="internal",
        user_fixable=False,
        error_source="platform",
        remediation="Report this job id to the platform team.",
    )
    return internal.as_dict(), False
