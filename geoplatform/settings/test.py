"""Test settings: the same real services, with short retry timings.

The secret key is random per process when none is given: nothing signed in tests
outlives the run.
"""

import os
import secrets

os.environ.setdefault("GEOPLATFORM_SECRET_KEY", secrets.token_urlsafe(50))
# Metrics of this run's processes (pytest and the live workers it starts, which inherit it)
# in a folder of their own, set before prometheus_client is first imported.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import atexit
    import shutil
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="geoplatform-prometheus-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], True)

from . import env
from .base import *  # noqa: F403

GEOPLATFORM_RETRY_BASE_SECONDS = env.get_float("RETRY_BASE_SECONDS", 0.05)
GEOPLATFORM_RETRY_CAP_SECONDS = env.get_float("RETRY_CAP_SECONDS", 0.5)
GEOPLATFORM_HEARTBEAT_SECONDS = env.get_float("HEARTBEAT_SECONDS", 0.5)
GEOPLATFORM_TASK_STALE_SECONDS = env.get_float("TASK_STALE_SECONDS", 5.0)
GEOPLATFORM_TASK_LOST_SECONDS = env.get_float("TASK_LOST_SECONDS", 8.0)
GEOPLATFORM_CALLBACK_ALLOWED_HOSTS = env.get_list("CALLBACK_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
# Fault tests only (geoplatform/faults.py): the point where a worker stops to be killed.
GEOPLATFORM_TEST_FAULT_POINT = env.get_str("TEST_FAULT_POINT", "")
GEOPLATFORM_TEST_FAULT_DIR = env.get_str("TEST_FAULT_DIR", "")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
GEOPLATFORM_EXTRA_JOB_TYPES = env.get_list("EXTRA_JOB_TYPES", ["ingest.jobtypes"])
# Tests flip dependencies on and off between requests: no cached readiness answer.
GEOPLATFORM_HEALTH_CACHE_SECONDS = env.get_float("HEALTH_CACHE_SECONDS", 0.0)
# pytest-django creates and migrates the test database as GEOPLATFORM_DATABASE_URL's role (a
# superuser here); an owner URL from a developer's .env names another database.
GEOPLATFORM_DATABASE_OWNER_URL = None
# Reader mode (the reader pass of scripts/test.sh): fixtures write as the test role (pgSTAC
# registered searches included); tests/conftest.py switches each `reader` test to a read-only
# role with pgstac.readonly=true once its fixtures are set up.
if GEOPLATFORM_MODE == "reader":  # noqa: F405
    DATABASES = {
        "default": env.database_from_url(env.get_str("DATABASE_URL", "postgresql://root@127.0.0.1:5432/geoplatform"))
    }
# Managed updates look at their ingest job often in tests (the live-worker end-to-end test).
GEOPLATFORM_MANAGED_WATCH_SECONDS = env.get_float("MANAGED_WATCH_SECONDS", 0.2)
GEOPLATFORM_MANAGED_CREDENTIALS = ["MANAGED_TEST_TOKEN", "FATHOM_TEST_TOKEN"]
