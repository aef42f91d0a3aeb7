"""CMIP6 file names -> facets (the STAC CMIP6 extension's fields).

``<variable_id>_<table_id>_<source_id>_<experiment_id>_<member_id>_<grid_label>[_<time_range>].nc``;
no component contains ``_``; member ``[<sub_experiment>-]r<k>i<l>p<m>f<n>``; a time range is
two dates of 4 to 14 digits (yyyy, yyyyMM, yyyyMMdd, yyyyMMddhh, yyyyMMddhhmm, yyyyMMddhhmmss)
joined by ``-``, optionally followed by ``-clim``; fixed fields have none.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

PATTERN = (
    "<variable_id>_<table_id>_<source_id>_<experiment_id>_<member_id>_<grid_label>[_<time_range>].nc "
    "(member [<sub_experiment>-]r<k>i<l>p<m>f<n>, time range <start>-<end>[-clim] of 4 to 14 digits)"
)
_PART = r"[A-Za-z0-9-]+"
_MEMBER = r"(?:(?P<sub_experiment_id>[A-Za-z0-9]+)-)?(?P<variant_label>r(?P<r>\d+)i(?P<i>\d+)p(?P<p>\d+)f(?P<f>\d+))"
_RANGE = (
    r"(?P<start>\d{4}|\d{6}|\d{8}|\d{10}|\d{12}|\d{14})-(?P<end>\d{4}|\d{6}|\d{8}|\d{10}|\d{12}|\d{14})(?P<clim>-clim)?"
)
_NAME_RE = re.compile(
    rf"^(?P<variable_id>[A-Za-z0-9]+)_(?P<table_id>[A-Za-z0-9]+)_(?P<source_id>{_PART})_"
    rf"(?P<experiment_id>{_PART})_(?P<member_id>{_MEMBER})_(?P<grid_label>g[A-Za-z0-9]+)"
    rf"(?:_(?P<time_range>{_RANGE}))?\.nc$"
)


@dataclass(frozen=True)
class Cmip6Name:
    variable_id: str
    table_id: str
    source_id: str
    experiment_id: str
    member_id: str
    variant_label: str
    sub_experiment_id: str | None
    grid_label: str
    start: str | None
    end: str | None
    climatology: bool

    @property
    def indexes(self) -> tuple[int, int, int, int]:
        """(realization, initialization, physics, forcing) of ``r<k>i<l>p<m>f<n>``."""
        m = re.fullmatch(r"r(\d+)i(\d+)p(\d+)f(\d+)", self.variant_label)
        assert m is not None  # parse() matched the same pattern
        return int(m[1]), int(m[2]), int(m[3]), int(m[4])

    @property
    def series_id(self) -> str:
        """The name without its time range: the files of one series share it."""
        return "_".join(
            (self.variable_id, self.table_id, self.source_id, self.experiment_id, self.member_id, self.grid_label)
        )

    def facets(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cmip6:variable_id": self.variable_id,
            "cmip6:table_id": self.table_id,
            "cmip6:source_id": self.source_id,
            "cmip6:experiment_id": self.experiment_id,
            "cmip6:variant_label": self.variant_label,
            "cmip6:grid_label": self.grid_label,
            "cmip6:realization_index": self.indexes[0],
            "cmip6:initialization_index": self.indexes[1],
            "cmip6:physics_index": self.indexes[2],
            "cmip6:forcing_index": self.indexes[3],
            "cmip6:mip_era": "CMIP6",
        }
        if self.sub_experiment_id:
            out["cmip6:sub_experiment_id"] = self.sub_experiment_id
        return out


def parse(name: str) -> Cmip6Name | None:
    """The facets of a CMIP6 file name (a path's last part), or None if it is not one."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    m = _NAME_RE.match(base)
    if m is None:
        return None
    start, end = m.group("start"), m.group("end")
    if start is not None and (len(start) != len(end) or start > end):
        return None
    return Cmip6Name(
        variable_id=m.group("variable_id"),
        table_id=m.group("table_id"),
        source_id=m.group("source_id"),
        experiment_id=m.group("experiment_id"),
        member_id=m.group("member_id"),
        variant_label=m.group("variant_label"),
        sub_experiment_id=m.group("sub_experiment_id"),
        grid_label=m.group("grid_label"),
        start=start,
        end=end,
        climatology=bool(m.group("clim")),
    )


def near_miss(name: str) -> str | None:
    """A message for a name that looks CMIP6-like (5+ ``_``-parts, .nc) but does not parse."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    if not base.endswith(".nc") or parse(base) is not None:
        return None
    parts = base[:-3].split("_")
    if len(parts) < 5:
        return None
    why = []
    if len(parts) not in (6, 7):
        why.append(f"it has {len(parts)} '_'-separated parts, not 6 or 7")
    elif not re.fullmatch(_MEMBER, parts[4]):
        why.append(f"member {parts[4]!r} is not [<sub_experiment>-]r<k>i<l>p<m>f<n>")
    elif not parts[5].startswith("g"):
        why.append(f"grid label {parts[5]!r} does not start with 'g'")
    elif len(parts) == 7 and not re.fullmatch(_RANGE, parts[6]):
        why.append(f"time range {parts[6]!r} is not <start>-<end>[-clim] with two dates of the same 4-14 digits")
    reason = "; ".join(why) or "a part has characters other than letters, digits and '-'"
    return f"{base!r} looks like a CMIP6 name but does not match ({reason}); expected {PATTERN}."


def _date_key(text: str) -> str:
    return text.ljust(14, "0")


def time_issues(names: list[str]) -> list[str]:
    """Gaps and overlaps between the time ranges of one series' files (by name)."""
    parsed = sorted(
        ((p, n) for n in names if (p := parse(n)) is not None and p.start is not None),
        key=lambda pn: _date_key(pn[0].start or ""),
    )
    issues: list[str] = []
    for (a, na), (b, nb) in itertools.pairwise(parsed):
        if a.end is None or b.start is None:
            continue
        if _date_key(b.start) <= _date_key(a.end):
            issues.append(f"overlap: {nb!r} starts at {b.start}, before {na!r} ends at {a.end}.")
        elif _next(a.end) != b.start:
            issues.append(f"gap: {na!r} ends at {a.end} and {nb!r} starts at {b.start} (expected {_next(a.end)}).")
    return issues


def _next(end: str) -> str:
    """The period after ``end`` at its own precision (yyyy -> yyyy+1, yyyyMM -> next month...).
    Daily and finer: the next day is calendar-dependent; compared at day precision."""
    if len(end) == 4:
        return f"{int(end) + 1:04d}"
    if len(end) == 6:
        y, mth = int(end[:4]), int(end[4:])
        return f"{y + mth // 12:04d}{mth % 12 + 1:02d}"
    if len(end) == 8:
        y, mth, d = int(end[:4]), int(end[4:6]), int(end[6:])
        # 360_day / noleap / standard month ends all roll to the 1st of the next month.
        if d >= 28 and (d >= 30 or mth == 2):
            return f"{y + mth // 12:04d}{mth % 12 + 1:02d}01"
        return f"{y:04d}{mth:02d}{d + 1:02d}"
    return end


def item_facets(names: list[str]) -> dict[str, Any]:
    """Facets shared by every file of a series (none when a file is not CMIP6-named)."""
    parsed = [parse(n) for n in names]
    if not parsed or any(p is None for p in parsed):
        return {}
    facets = [p.facets() for p in parsed if p is not None]
    return {k: v for k, v in facets[0].items() if all(f.get(k) == v for f in facets)}
