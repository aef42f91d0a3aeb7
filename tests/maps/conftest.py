"""The maps tests reuse the features and rasters fixtures (in-process vector ingest, rasters
published once per session)."""

from tests.features.conftest import _quiet_azure_sdk, bronze, put_file, put_fixture, submit_inline  # noqa: F401
from tests.rasters.conftest import published  # noqa: F401
