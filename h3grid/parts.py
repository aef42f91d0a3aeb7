"""Reads of the Parquet tier: resolutions above ``postgres_max_res`` live as Parquet parts in the
silver zone (``StatDataset.storage[res] == "parquet:<container>/<prefix>/"``, written by
:func:`h3grid.stats.stat_part_write`: rows sorted by cell, row groups of PART_ROW_GROUP rows).

A query is a sorted list of disjoint cell ranges (``(c, c)`` for exact cells), an optional
``after`` cell and a limit. Only the row groups whose ``cell`` min/max statistics meet a range are
read, through ranged reads of the blob (:func:`geoplatform.storage.open_ranged`), in ascending
order of their first cell, and reading stops as soon as the page is complete and the next row group
starts after the page's last cell. The parts' footers (row group statistics) are cached per process
and computation, so a page costs its row groups only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from geoplatform.errors import InvalidInput
from geoplatform.storage import blob_list, open_ranged

from .models import StatDataset


@dataclass(frozen=True)
class Group:
    """One row group of one part: its cells lie in [lo, hi]."""

    lo: int
    hi: int
    part: str
    index: int


@dataclass
class PartsIndex:
    container: str
    groups: list[Group]  # sorted by lo
    metadata: dict[str, Any]  # part name -> pyarrow FileMetaData


def location(storage: str) -> tuple[str, str]:
    """``parquet:<container>/<prefix>/`` -> (container, prefix)."""
    if not storage.startswith("parquet:"):
        raise InvalidInput(f"Not a Parquet-tier storage: {storage!r}.")
    container, _, prefix = storage[len("parquet:") :].partition("/")
    return container, prefix.rstrip("/")


def build_index(storage: str) -> PartsIndex:
    """Every part's footer: row group cell ranges (one small ranged read per part)."""
    import pyarrow.parquet as pq

    container, prefix = location(storage)
    groups: list[Group] = []
    metadata: dict[str, Any] = {}
    for name in blob_list(container, prefix):
        if not name.endswith(".parquet"):
            continue
        with open_ranged(container, name) as fh:
            md = pq.ParquetFile(fh).metadata
        metadata[name] = md
        col = md.schema.names.index("cell")
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            st = rg.column(col).statistics
            if rg.num_rows == 0:
                continue
            if st is None or not st.has_min_max:  # no statistics: the group may hold any cell
                groups.append(Group(0, 2**63 - 1, name, i))
            else:
                groups.append(Group(int(st.min), int(st.max), name, i))
    groups.sort(key=lambda g: (g.lo, g.part, g.index))
    return PartsIndex(container=container, groups=groups, metadata=metadata)


def ranges_normalise(ranges: Sequence[tuple[int, int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted, merged (disjoint) ranges as two arrays."""
    if not ranges:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ordered = sorted((int(a), int(b)) for a, b in ranges)
    lo, hi = [ordered[0][0]], [ordered[0][1]]
    for a, b in ordered[1:]:
        if a <= hi[-1] + 1:
            hi[-1] = max(hi[-1], b)
        else:
            lo.append(a)
            hi.append(b)
    return np.array(lo, np.int64), np.array(hi, np.int64)


def ranges_intersect(
    ranges: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]], lo: int, hi: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    a, b = ranges
    keep = (b >= lo) & (a <= hi)
    return np.maximum(a[keep], lo), np.minimum(b[keep], hi)


def _in_ranges(
    values: npt.NDArray[np.int64], lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    i = np.searchsorted(lo, values, side="right") - 1
    ok = i >= 0
    ok[ok] = values[ok] <= hi[i[ok]]
    return ok


def read_page(
    index: PartsIndex,
    *,
    ranges: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    columns: Sequence[str],
    limit: int,
    after: int | None = None,
) -> pa.Table:
    """At most ``limit`` rows (cell, then ``columns``) with a cell in ``ranges`` and above
    ``after``, ascending by cell."""
    import pyarrow.parquet as pq

    lo_arr, hi_arr = ranges
    if after is not None:
        lo_arr, hi_arr = ranges_intersect((lo_arr, hi_arr), after + 1, 2**63 - 1)
    wanted = ["cell", *columns]
    empty = pa.table({"cell": pa.array([], pa.int64()), **{c: pa.array([], pa.float64()) for c in columns}})
    if len(lo_arr) == 0 or limit <= 0:
        return empty
    pieces: list[pa.Table] = []
    page: pa.Table | None = None
    with contextlib.ExitStack() as stack:
        files: dict[str, Any] = {}
        for g in index.groups:
            if g.hi < lo_arr[0] or g.lo > hi_arr[-1]:
                continue
            i = int(np.searchsorted(lo_arr, g.hi, side="right")) - 1
            if i < 0 or hi_arr[i] < g.lo:  # no range meets [g.lo, g.hi]
                continue
            if page is not None and page.num_rows >= limit and g.lo > page["cell"][-1].as_py():
                break
            fh = files.get(g.part)
            if fh is None:
                raw = stack.enter_context(open_ranged(index.container, g.part))
                fh = files[g.part] = pq.ParquetFile(raw, metadata=index.metadata[g.part])
            table = fh.read_row_group(g.index, columns=wanted)
            cells = table["cell"].to_numpy()
            mask = _in_ranges(cells, lo_arr, hi_arr)
            if not mask.any():
                continue
            pieces.append(table.filter(pa.array(mask)))
            page = pa.concat_tables(pieces).sort_by("cell").slice(0, limit)
            pieces = [page]
    return page if page is not None else empty


def dataset_index(ds: StatDataset, res: int, cached: Any) -> PartsIndex:
    storage = str((ds.storage or {}).get(str(res), ""))
    key = f"parts:{ds.pk}:{ds.computed_at}:{storage}"
    return cached(key, lambda: build_index(storage))  # type: ignore[no-any-return]
