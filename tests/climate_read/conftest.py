"""Climate read fixtures: small real NetCDF files registered as read-API sources.

``a1b_small.nc``: a 12x16 cell window of A1B_north_america.nc (240 annual steps, 360_day calendar,
0-360 longitudes); ``climate/bcsd_obs_1999.nc``: monthly observations, standard calendar, -180..180.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import xarray as xr

from climate.read import sources
from tests.conftest import FIXTURES

DATA = FIXTURES / "climate_read"
SCHEMAS = FIXTURES / "coveragejson-schema"
A1B = "tests~a1b"
OBS = "tests~obs"


def open_fixture(name: str) -> xr.Dataset:
    # bcsd_obs_1999.nc is the climate app's fixture (tests/fixtures/climate), shared.
    path = DATA / name if (DATA / name).exists() else FIXTURES / "climate" / name
    return xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))


_cache: dict[str, xr.Dataset] = {}


def _opener(name: str) -> Any:
    def opener() -> xr.Dataset:
        if name not in _cache:
            _cache[name] = open_fixture(name).load()
        return _cache[name]

    return opener


@pytest.fixture
def registered(db: Any) -> Iterator[None]:
    sources.register("tests", "a1b", _opener("a1b_small.nc"), title="A1B air temperature")
    sources.register("tests", "obs", _opener("bcsd_obs_1999.nc"), title="BCSD observations 1999")
    yield
    sources.unregister("tests", "a1b")
    sources.unregister("tests", "obs")


@pytest.fixture(scope="session")
def covjson_validator() -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    resources = []
    for path in Path(SCHEMAS).glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema, default_specification=_draft())))
    registry: Registry = Registry().with_resources(resources)
    root = json.loads((Path(SCHEMAS) / "coveragejson.json").read_text())
    return Draft202012Validator(root, registry=registry)


def _draft() -> Any:
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012
