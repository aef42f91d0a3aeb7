"""Fault injection for tests: stop a process at a named point, so a test can kill it there.

Fault tests (tests/faults.py) start a worker with ``GEOPLATFORM_TEST_FAULT_POINT=<name>``
(read by the test settings only). When that worker reaches ``fault_point(<name>)`` it writes
``<GEOPLATFORM_TEST_FAULT_DIR>/<name>.<pid>`` and waits there until the test kills it with
SIGKILL: "in the middle of a chunk" becomes a known place instead of a race. Everywhere else
(any other setting, production) the call is a settings lookup and nothing more.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings


def fault_point(name: str) -> None:
    if getattr(settings, "GEOPLATFORM_TEST_FAULT_POINT", "") != name:
        return
    marker = Path(settings.GEOPLATFORM_TEST_FAULT_DIR) / f"{name}.{os.getpid()}"
    marker.write_text(str(os.getpid()))
    while True:  # until killed
        time.sleep(60)
