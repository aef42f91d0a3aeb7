"""The STAC item of a virtual dataset: datacube extension (``cube:dimensions`` with extents,
steps and reference systems; ``cube:variables`` with units), the CMIP6 extension's facets, an
asset for the references and links to the source files."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

DATACUBE = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"
CMIP6 = "https://stac-extensions.github.io/cmip6/v3.0.2/schema.json"
STAC_VERSION = "1.1.0"

_LAT = ("lat", "latitude", "y", "rlat", "nav_lat")
_LON = ("lon", "longitude", "x", "rlon", "nav_lon")


def _axis(name: str, da: xr.DataArray) -> str | None:
    axis = str(da.attrs.get("axis", "")).lower()
    if axis in ("x", "y", "z"):
        return axis
    if name.lower() in _LON or da.attrs.get("standard_name") == "longitude":
        return "x"
    if name.lower() in _LAT or da.attrs.get("standard_name") == "latitude":
        return "y"
    return None


def _iso(value: Any) -> str:
    """ISO 8601 of a cftime or numpy datetime (360_day dates such as 2000-02-30 stay as written)."""
    if hasattr(value, "isoformat") and not isinstance(value, np.datetime64):
        text = value.isoformat()
        return text if text.endswith("Z") else f"{text.split('+')[0]}Z"
    return f"{np.datetime_as_string(np.datetime64(value, 's'))}Z"


def _real_iso(value: Any) -> str:
    """RFC 3339 for ``start_datetime``/``end_datetime`` (pgSTAC indexes them): a 360_day
    date that does not exist (Feb 30) becomes the last real day of its month."""
    if hasattr(value, "isoformat") and not isinstance(value, np.datetime64) and hasattr(value, "year"):
        day = value.day
        while True:
            try:
                real = dt.datetime(value.year, value.month, day, value.hour, value.minute, value.second)
                break
            except ValueError:
                day -= 1
        return real.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _iso(value)


def _regular_step(values: np.ndarray) -> float | None:
    if values.size < 2:
        return None
    diffs = np.diff(values.astype("float64"))
    return float(diffs[0]) if np.allclose(diffs, diffs[0]) else None


def cube_dimensions(ds: xr.Dataset) -> dict[str, Any]:
    dims: dict[str, Any] = {}
    for name in ds.dims:
        name = str(name)
        if name not in ds.coords:
            dims[name] = {
                "type": "other",
                "description": "index dimension without coordinates",
                "extent": [0, int(ds.sizes[name]) - 1],
                "step": 1,
            }
            continue
        da = ds[name]
        axis = _axis(name, da)
        if da.dtype.kind in "fiu" and axis is not None:
            values = da.values
            dims[name] = {
                "type": "spatial",
                "axis": axis,
                "extent": [float(np.nanmin(values)), float(np.nanmax(values))],
                "reference_system": 4326,
            }
            step = _regular_step(values)
            if step is not None:
                dims[name]["step"] = step
        elif da.dtype.kind == "M" or da.dtype == object:
            values = da.values
            entry: dict[str, Any] = {"type": "temporal", "extent": [_iso(values[0]), _iso(values[-1])]}
            duration = _time_step(values)
            if duration:
                entry["step"] = duration
            calendar = da.encoding.get("calendar") or da.attrs.get("calendar")
            if calendar:
                entry["description"] = f"calendar: {calendar}"
            dims[name] = entry
        else:
            values = da.values
            entry = {"type": "other"}
            if da.dtype.kind in "fiu" and values.size:
                entry["extent"] = [float(np.nanmin(values)), float(np.nanmax(values))]
            if "units" in da.attrs:
                entry["unit"] = str(da.attrs["units"])
            dims[name] = entry
    return dims


def _time_step(values: np.ndarray) -> str | None:
    """An ISO 8601 duration when the steps are regular in days, months or years of the calendar."""
    if values.size < 2 or not all(hasattr(v, "year") for v in values[:3]):
        return None
    months = [(b.year - a.year) * 12 + (b.month - a.month) for a, b in itertools.pairwise(values)]
    same_day = all(a.day == b.day for a, b in itertools.pairwise(values))
    if same_day and len(set(months)) == 1 and months[0] > 0:
        return f"P{months[0] // 12}Y" if months[0] % 12 == 0 else f"P{months[0]}M"
    days = {(b - a).days for a, b in itertools.pairwise(values)}
    return f"P{days.pop()}D" if len(days) == 1 else None


def cube_variables(ds: xr.Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, da in ds.data_vars.items():
        entry: dict[str, Any] = {"dimensions": [str(d) for d in da.dims], "type": "data"}
        if da.attrs.get("units"):
            entry["unit"] = str(da.attrs["units"])
        description = da.attrs.get("long_name") or da.attrs.get("standard_name")
        if description:
            entry["description"] = str(description)
        if not da.dims or "bnds" in str(name) or "bounds" in str(name):
            entry["type"] = "auxiliary"
        out[str(name)] = entry
    return out


def _bbox(dims: dict[str, Any]) -> list[float]:
    x = next((d["extent"] for d in dims.values() if d.get("axis") == "x"), [-180.0, 180.0])
    y = next((d["extent"] for d in dims.values() if d.get("axis") == "y"), [-90.0, 90.0])
    west, east = float(x[0]), float(x[1])
    if east > 180.0:  # 0-360 longitudes: GeoJSON wants -180..180
        west, east = (west - 360.0, east - 360.0) if west >= 180.0 else (-180.0, 180.0)
    return [west, max(-90.0, float(y[0])), east, min(90.0, float(y[1]))]


def build_item(
    *,
    ds: xr.Dataset,
    item_id: str,
    collection_id: str,
    refs_href: str,
    refs_container: str,
    refs_blob: str,
    refs_etag: str,
    sources: list[dict[str, str]],
    facets: dict[str, Any],
    job_id: str,
    title: str = "",
    description: str = "",
    asset_format: str = "kerchunk",
) -> dict[str, Any]:
    dims = cube_dimensions(ds)
    bbox = _bbox(dims)
    west, south, east, north = bbox
    time_values = next((ds[n].values for n, d in dims.items() if d["type"] == "temporal"), None)
    temporal = [_real_iso(time_values[0]), _real_iso(time_values[-1])] if time_values is not None else None
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    props: dict[str, Any] = {
        "datetime": None if temporal else now,
        "created": now,
        "updated": now,
        "cube:dimensions": dims,
        "cube:variables": cube_variables(ds),
        "geoplatform:job_id": job_id,
        "geoplatform:kind": "climate",
        "geoplatform:source_count": len(sources),
        **facets,
    }
    if temporal:
        props["start_datetime"], props["end_datetime"] = temporal
    if title:
        props["title"] = title
    if description:
        props["description"] = description
    extensions = [DATACUBE]
    if any(k.startswith("cmip6:") for k in facets):
        extensions.append(CMIP6)
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": extensions,
        "id": item_id,
        "collection": collection_id,
        "bbox": bbox,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        },
        "properties": props,
        "assets": {
            "references": {
                "href": refs_href,
                "type": "application/json" if asset_format == "kerchunk" else "application/vnd.zarr; version=3",
                "title": (
                    "Kerchunk references (virtual Zarr) over the source files"
                    if asset_format == "kerchunk"
                    else "The source Zarr v3 store (read in place)"
                ),
                "roles": ["data", "references"],
                "geoplatform:container": refs_container,
                "geoplatform:blob": refs_blob,
                "geoplatform:etag": refs_etag,
                "geoplatform:format": asset_format,
            }
        },
        "links": [
            {"rel": "derived_from", "href": s["href"], "type": "application/netcdf", "title": s["title"]}
            for s in sources
        ],
    }


_SCHEMAS = Path(__file__).parent / "schemas"
_SCHEMA_FILES = {DATACUBE: "datacube-v2.2.0.json", CMIP6: "cmip6-v3.0.2.json"}


@functools.cache
def _validator(url: str) -> Any:
    from jsonschema import Draft7Validator

    return Draft7Validator(json.loads((_SCHEMAS / _SCHEMA_FILES[url]).read_text()))


def validate(item: dict[str, Any]) -> list[str]:
    """Problems of the item against the offline schemas of the extensions it declares."""
    problems: list[str] = []
    for url in item.get("stac_extensions", []):
        if url in _SCHEMA_FILES:
            for error in _validator(url).iter_errors(item):
                where = "/".join(str(p) for p in error.absolute_path) or "(item)"
                problems.append(f"{_SCHEMA_FILES[url]}: {where}: {error.message}")
    return problems
