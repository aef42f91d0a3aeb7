"""COPY numpy columns into PostgreSQL in the binary format, built by numpy (no Python loop
per row): each row is one record of a big-endian structured array.

Supported column kinds: ``int2``, ``int4``, ``int8``, ``float4``, ``float8`` (numpy arrays;
a value of ``None`` for the whole column writes NULL), and ``char3`` (a fixed 3-byte ASCII
code, e.g. ISO3, as ``S3``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import connection
from psycopg import sql

_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
_KINDS = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8", "char3": "S3"}
# Rows per COPY write: ~40 bytes a row, a few MB a write.
_CHUNK = 200_000


def copy_binary(table: tuple[str, str], columns: Sequence[tuple[str, str, Any]], *, cursor: Any | None = None) -> int:
    """COPY the rows of ``columns`` — (name, kind, array or None for NULL) — into
    ``schema.table``; returns the number of rows. Runs on Django's connection (inside the
    caller's transaction) unless a psycopg ``cursor`` is given."""
    arrays = [a for _, _, a in columns if a is not None]
    if not arrays:
        raise ValueError("at least one column needs values")
    rows = len(arrays[0])
    if any(len(a) != rows for a in arrays):
        raise ValueError("columns differ in length")
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, (_, kind, values) in enumerate(columns):
        fields.append((f"l{i}", ">i4"))
        if values is not None:
            fields.append((f"v{i}", _KINDS[kind]))
    record = np.dtype(fields)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary)").format(
        sql.Identifier(*table), sql.SQL(", ").join(sql.Identifier(name) for name, _, _ in columns)
    )
    raw = cursor if cursor is not None else connection.cursor().cursor
    with raw.copy(statement) as copy:
        copy.write(_HEADER)
        for start in range(0, rows, _CHUNK):
            stop = min(rows, start + _CHUNK)
            buf = np.empty(stop - start, dtype=record)
            buf["n"] = len(columns)
            for i, (_, kind, values) in enumerate(columns):
                if values is None:
                    buf[f"l{i}"] = -1
                else:
                    buf[f"l{i}"] = np.dtype(_KINDS[kind]).itemsize
                    buf[f"v{i}"] = values[start:stop]
            copy.write(buf.tobytes())
        copy.write(_TRAILER)
    return rows
