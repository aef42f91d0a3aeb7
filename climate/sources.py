"""Which files a job reads: one file, a list, a prefix with a pattern, or a manifest; and
what each file is (NetCDF4/HDF5, NetCDF3 classic, or a Zarr store), from its first bytes."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from django.conf import settings

from geoplatform.storage import check_blob_name, get_storage, open_ranged, zone_container

from .errors import InvalidClimateSource

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NETCDF3_MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05")


def _listing(container: str, prefix: str) -> list[str]:
    storage = get_storage(container)
    prefix = prefix.rstrip("/")
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:
        return []
    found = [name if name.startswith(prefix + "/") or not prefix else f"{prefix}/{name}" for name in files]
    for sub in dirs:
        found.extend(_listing(container, f"{prefix}/{sub}" if prefix else sub))
    return found


def zarr_version(container: str, name: str) -> int | None:
    """3 or 2 for a Zarr store (a folder ending in .zarr), None otherwise."""
    if not name.rstrip("/").endswith(".zarr"):
        return None
    storage = get_storage(container)
    base = name.rstrip("/")
    if storage.exists(f"{base}/zarr.json"):
        return 3
    if any(storage.exists(f"{base}/{marker}") for marker in (".zgroup", ".zmetadata", ".zarray")):
        return 2
    return None


def is_zarr_store(container: str, name: str) -> bool:
    return zarr_version(container, name) is not None


def source_containers() -> set[str]:
    return {*settings.GEOPLATFORM_UPLOAD_CONTAINERS, zone_container("bronze")}


def resolve(params: dict[str, Any]) -> list[str]:
    """The files of a job, sorted by name (a series' time order for CMIP6 names)."""
    container = params["container_name"]
    if container not in source_containers():
        raise InvalidClimateSource(
            f"container_name {container!r} is not a bronze container ({', '.join(sorted(source_containers()))})."
        )
    names: list[str] = []
    if params.get("file_name"):
        value = params["file_name"]
        names = [value] if isinstance(value, str) else list(value)
    elif params.get("files"):
        names = [str(f) for f in params["files"]]
    elif params.get("manifest"):
        with get_storage(container).open(check_blob_name(params["manifest"]), "rb") as fh:
            doc = json.load(fh)
        entries = doc.get("files") if isinstance(doc, dict) else doc
        if not isinstance(entries, list) or not entries:
            raise InvalidClimateSource(
                f"Manifest {params['manifest']!r} lists no files.",
                remediation='Write {"files": ["a.nc", "b.nc"]} or a JSON list of blob names.',
            )
        names = [str(e["file_name"] if isinstance(e, dict) else e) for e in entries]
    elif (params.get("prefix") is not None and params.get("prefix") != "") or params.get("file_pattern"):
        prefix = str(params.get("prefix") or "")
        pattern = str(params.get("file_pattern") or "*.nc")
        names = [n for n in _listing(container, prefix) if fnmatch.fnmatch(n.rsplit("/", 1)[-1], pattern)]
        if not names:
            raise InvalidClimateSource(
                f"No file matches {pattern!r} under {prefix or '(the container root)'!r} in {container!r}."
            )
    else:
        raise InvalidClimateSource("Name the files: 'file_name', 'files', 'manifest', or 'prefix' with 'file_pattern'.")
    for name in names:
        check_blob_name(name.rstrip("/"))
    return sorted(dict.fromkeys(n.rstrip("/") for n in names))


def file_format(container: str, name: str) -> str:
    """``hdf5``, ``netcdf3`` or ``zarr``; anything else is refused naming the file."""
    version = zarr_version(container, name)
    if version == 2:
        raise InvalidClimateSource(
            f"{name!r} is a Zarr v2 store: its keys (.zarray, .zgroup) are not valid blob names on this platform.",
            remediation="Convert it to Zarr v3 (zarr.json), or submit the NetCDF files it came from.",
        )
    if version == 3:
        return "zarr"
    storage = get_storage(container)
    if not storage.exists(name):
        raise InvalidClimateSource(f"No file {name!r} in container {container!r}.", code="file_not_found")
    with open_ranged(container, name, buffer_size=8192) as fh:
        head = fh.read(8)
    if head == HDF5_MAGIC:
        return "hdf5"
    if head[:4] in NETCDF3_MAGICS:
        return "netcdf3"
    raise InvalidClimateSource(
        f"{name!r} is neither NetCDF4/HDF5 nor NetCDF3 classic (first bytes {head[:8]!r}).",
        remediation="Submit .nc files (NetCDF4/HDF5 or NetCDF3) or a .zarr store.",
    )
