"""What a set of files is, from metadata only: formats, CMIP6 facets, series, and whether each
series can be combined (and why not). Shared by ``inventory_climate`` (which writes nothing)
and the pre-flight of ``virtualize_climate``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from geoplatform.errors import ApplicationError
from geoplatform.storage import blob_size

from . import cmip6, meta, refs, sources


def describe_file(container: str, name: str) -> dict[str, Any]:
    """One file's facts (never raises for bad data: ``error`` says what is wrong)."""
    entry: dict[str, Any] = {"file": name}
    parsed = cmip6.parse(name)
    if parsed is not None:
        entry["cmip6"] = {
            **{k.removeprefix("cmip6:"): v for k, v in parsed.facets().items()},
            "member_id": parsed.member_id,
            "time_range": [parsed.start, parsed.end] if parsed.start else None,
            "climatology": parsed.climatology,
            "series_id": parsed.series_id,
        }
    elif (miss := cmip6.near_miss(name)) is not None:
        entry["name_problem"] = miss
    try:
        entry["format"] = fmt = sources.file_format(container, name)
        if fmt == "zarr":
            return entry
        entry["size"] = blob_size(container, name)
        entry["metadata"] = meta.file_metadata(refs.file_references(container, name, fmt=fmt))
    except ApplicationError as exc:
        entry["error"] = exc.message
    except Exception as exc:  # a truncated or corrupt HDF5/NetCDF3 file
        entry["error"] = f"{name!r} cannot be read as {entry.get('format', 'NetCDF')}: {type(exc).__name__}: {exc}"
    return entry


def summarize_variables(metadata: dict[str, Any]) -> dict[str, Any]:
    """The report's view of a file's variables (what users ask about, not the raw references)."""
    out = {}
    for name, v in metadata.get("variables", {}).items():
        out[name] = {
            k: v.get(k)
            for k in (
                "dims",
                "shape",
                "chunks",
                "dtype",
                "codecs",
                "fill_value",
                "units",
                "calendar",
                "scale_factor",
                "add_offset",
            )
            if v.get(k) is not None
        }
        if "_FillValue" in v:
            out[name]["_FillValue"] = v["_FillValue"]
    return out


def _series_key(entry: dict[str, Any]) -> str:
    if "cmip6" in entry:
        return str(entry["cmip6"]["series_id"])
    data_vars = entry.get("metadata", {}).get("data_vars") or []
    return "+".join(data_vars) if data_vars else str(entry["file"])


def group(entries: list[dict[str, Any]], *, concat_dim: str = "time") -> list[dict[str, Any]]:
    """Series: CMIP6 files by their name without time range, other files by their variables."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        if "error" in entry:
            continue
        by_key.setdefault(_series_key(entry), []).append(entry)
    series = []
    for key in sorted(by_key):
        members = sorted(by_key[key], key=lambda e: e["file"])
        files = [m["file"] for m in members]
        problems = meta.compare([(m["file"], m["metadata"]) for m in members if "metadata" in m], concat_dim=concat_dim)
        if any(m.get("format") == "zarr" for m in members) and len(members) > 1:
            problems.append("A Zarr store is a dataset on its own: it is not combined with other files.")
        warnings: list[str] = []
        for m in members[:1]:
            if "metadata" in m:
                warnings.extend(meta.warnings(m["file"], m["metadata"], concat_dim=concat_dim))
        series.append(
            {
                "id": key,
                "files": files,
                "combinable": not problems,
                "problems": problems,
                "time_issues": cmip6.time_issues(files),
                "warnings": warnings,
            }
        )
    return series


def report(entries: list[dict[str, Any]], *, concat_dim: str = "time") -> dict[str, Any]:
    files = []
    for e in entries:
        shown = {k: v for k, v in e.items() if k != "metadata"}
        if "metadata" in e:
            shown["variables"] = summarize_variables(e["metadata"])
            shown["dims"] = e["metadata"]["dims"]
            shown["coords"] = e["metadata"]["coords"]
        files.append(shown)
    return {
        "files": files,
        "series": group(entries, concat_dim=concat_dim),
        "errors": [{"file": e["file"], "error": e["error"]} for e in entries if "error" in e],
    }


def problems_for_series(
    container: str,
    files: list[str],
    *,
    concat_dim: str,
    describe: Callable[[str, str], dict[str, Any]] = describe_file,
) -> tuple[list[str], list[str]]:
    """(refusals, warnings) of one submitted series: unreadable files, files that differ, a
    series mixing CMIP6 names with others."""
    entries = [describe(container, f) for f in files]
    refusals = [e["error"] for e in entries if "error" in e]
    warnings = [e["name_problem"] for e in entries if "name_problem" in e]
    named = [e for e in entries if "cmip6" in e]
    if named and len(named) != len(entries):
        refusals.extend(
            f"{e['file']!r} is not CMIP6-named like the rest of the series. {e.get('name_problem') or cmip6.PATTERN}"
            for e in entries
            if "cmip6" not in e
        )
    series_ids = sorted({e["cmip6"]["series_id"] for e in named})
    if len(series_ids) > 1:
        refusals.append(f"The files belong to {len(series_ids)} CMIP6 series ({', '.join(series_ids)}): submit one.")
    readable = [(e["file"], e["metadata"]) for e in entries if "metadata" in e]
    refusals.extend(meta.compare(readable, concat_dim=concat_dim))
    if readable:
        warnings.extend(meta.warnings(readable[0][0], readable[0][1], concat_dim=concat_dim))
    warnings.extend(cmip6.time_issues(files))
    return refusals, warnings
