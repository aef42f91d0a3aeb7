"""A file's metadata read from its kerchunk references (no data byte read), and the
pre-flight comparison of the files of one series.

The references already hold everything pre-flight needs, for NetCDF4/HDF5 and NetCDF3 alike:
``.zarray`` (shape, chunks, dtype, compressor, filters, fill value) and ``.zattrs`` (dimensions,
units, calendar, scale_factor, add_offset, _FillValue).
"""

from __future__ import annotations

import json
from typing import Any

# Attributes compared across the files of a series (per variable).
COMPARED_ATTRS = ("units", "calendar", "scale_factor", "add_offset", "_FillValue", "missing_value")
CHUNK_LOW, CHUNK_HIGH = 256 * 1024, 64 * 1024 * 1024  # bytes: "far from a few MB"
_ITEMSIZE = {"f8": 8, "f4": 4, "f2": 2, "i8": 8, "i4": 4, "i2": 2, "i1": 1, "u8": 8, "u4": 4, "u2": 2, "u1": 1}


def _load(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return value if isinstance(value, dict) else {}


def _itemsize(dtype: Any) -> int:
    text = str(dtype).lstrip("<>|=")
    return _ITEMSIZE.get(text, 8)


def _codec_name(codec: Any) -> str | None:
    return codec.get("id") if isinstance(codec, dict) else None


def file_metadata(refs: dict[str, Any]) -> dict[str, Any]:
    """``{"variables": {name: {...}}, "dims": {dim: size}, "coords": [...], "attrs": {...}}``."""
    raw = refs.get("refs", refs)
    variables: dict[str, Any] = {}
    dims: dict[str, int] = {}
    for key, value in raw.items():
        if not key.endswith("/.zarray"):
            continue
        name = key[: -len("/.zarray")]
        zarray = _load(value)
        zattrs = _load(raw.get(f"{name}/.zattrs", {}))
        var_dims = list(zattrs.get("_ARRAY_DIMENSIONS", []))
        shape = list(zarray.get("shape", []))
        chunks = list(zarray.get("chunks", []))
        for dim, size in zip(var_dims, shape, strict=False):
            dims[dim] = max(dims.get(dim, 0), int(size))
        filters = [_codec_name(f) for f in (zarray.get("filters") or [])]
        compressor = _codec_name(zarray.get("compressor"))
        chunk_bytes = _itemsize(zarray.get("dtype")) * _product(chunks)
        variables[name] = {
            "dims": var_dims,
            "shape": shape,
            "chunks": chunks,
            "chunk_bytes": chunk_bytes,
            "dtype": str(zarray.get("dtype")),
            "codecs": [c for c in [*filters, compressor] if c],
            "fill_value": zarray.get("fill_value"),
            **{attr: zattrs[attr] for attr in COMPARED_ATTRS if attr in zattrs},
            "long_name": zattrs.get("long_name"),
            "standard_name": zattrs.get("standard_name"),
        }
    coords = sorted(n for n, v in variables.items() if v["dims"] == [n])
    return {
        "variables": variables,
        "dims": dims,
        "coords": coords,
        "data_vars": sorted(n for n, v in variables.items() if n not in coords and len(v["dims"]) >= 2),
        "attrs": {k: v for k, v in _load(raw.get(".zattrs", {})).items() if isinstance(v, str | int | float)},
    }


def _product(values: list[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:  # NaN == NaN here
        return True
    return bool(a == b)


def compare(files: list[tuple[str, dict[str, Any]]], *, concat_dim: str) -> list[str]:
    """Why these files cannot be one series (empty: they can). ``files``: (name, metadata)."""
    if len(files) < 2:
        return []
    problems: list[str] = []
    first_name, first = files[0]
    missing = [name for name, meta in files if concat_dim not in meta["variables"]]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        problems.append(
            f"{shown} {'has' if len(missing) == 1 else 'have'} no coordinate variable {concat_dim!r} to join the "
            "series along (set concat_dim, or add the coordinate)."
        )
    for name, meta in files[1:]:
        a, b = set(first["variables"]), set(meta["variables"])
        if a != b:
            problems.append(
                f"{name!r} differs from {first_name!r} in variables: "
                f"missing {sorted(a - b) or 'none'}, extra {sorted(b - a) or 'none'}."
            )
            continue
        for var in sorted(a):
            fa, fb = first["variables"][var], meta["variables"][var]
            if fa["dims"] != fb["dims"]:
                problems.append(f"{name!r} differs from {first_name!r} in the dimensions of {var!r}.")
                continue
            # The grid: every dimension but the one files are joined along.
            for i, dim in enumerate(fa["dims"]):
                if dim != concat_dim and fa["shape"][i] != fb["shape"][i]:
                    problems.append(
                        f"{name!r} differs from {first_name!r} in grid: {var!r} has {dim}={fb['shape'][i]}, "
                        f"not {fa['shape'][i]}."
                    )
                    break
            checks = [
                ("chunk shapes", "chunks"),
                ("codecs", "codecs"),
                ("dtype", "dtype"),
                ("fill value", "fill_value"),
            ]
            for label, key in checks:
                va, vb = fa.get(key), fb.get(key)
                if not _same(va, vb):
                    problems.append(f"{name!r} differs from {first_name!r} in {label} of {var!r}: {vb!r} vs {va!r}.")
            for attr in COMPARED_ATTRS:
                va, vb = fa.get(attr), fb.get(attr)
                if not _same(va, vb):
                    problems.append(f"{name!r} differs from {first_name!r} in {attr} of {var!r}: {vb!r} vs {va!r}.")
        # Coordinates other than the joined one must be identical, values included (the grid).
    return problems


def warnings(name: str, meta: dict[str, Any], *, concat_dim: str) -> list[str]:
    """Chunked coordinates (one read per chunk to build an index) and chunk sizes far from a few MB."""
    out: list[str] = []
    for coord in meta["coords"]:
        v = meta["variables"][coord]
        if v["chunks"] and v["shape"] and v["chunks"][0] < v["shape"][0] and coord != concat_dim:
            out.append(f"{name!r}: coordinate {coord!r} is chunked ({v['chunks'][0]} of {v['shape'][0]}).")
    for var in meta["data_vars"]:
        size = meta["variables"][var]["chunk_bytes"]
        if size < CHUNK_LOW or size > CHUNK_HIGH:
            out.append(
                f"{name!r}: chunks of {var!r} are {size / 1024:.0f} KiB; reads are most efficient with chunks of a "
                "few MB (rechunk_climate makes a copy chunked for time series)."
            )
    return out
