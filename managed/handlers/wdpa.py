"""WDPA (World Database on Protected Areas): a monthly release, one schema for old and new.

Protected Planet publishes a release a month, named by its month (``WDPA_Nov2025_Public_shp.zip``
under ``location``). ``settings``:

- ``file``: the file name, ``{label}`` filled with the month label (default
  ``WDPA_{label}_Public_shp.zip``); ``layer_name``: the layer to load when the file holds
  several (the polygons);
- ``months_back``: how many months before the current one to look at when this month's
  release is not out yet (default 1; at most 2 so an unchanged check stays within 3 requests);
- ``part``: ``polygons`` (default) or ``points``: which Shapefiles of the official archive
  (a zip of zips, ``prepare`` merges the parts into one GeoParquet) to load.

Check, cheapest first: the version label is the month; the live version's month is unchanged
with NO request when it is the current month, else one HEAD per newer month (newest first):
the first that exists is the candidate, none newer than live is unchanged. At most 1 + 2
requests.

Two schemas, one table. The November 2025 release merged the WD-OECM into the WDPA and
renamed fields; every release is loaded into the NEW names (``column_map`` of
process_vector, applied while loading, no second loader):

=============  ===========  ===============================================================
old            new          note
=============  ===========  ===============================================================
WDPAID         SITE_ID
WDPA_PID       SITE_PID
NAME           NAME_ENG     the old NAME was the English / Latin-script name
ORIG_NAME      NAME         the new NAME is the name in its original language
PARENT_ISO3    PRNT_ISO3    (``PARENT_ISO`` in Shapefiles: DBF names stop at 10 characters)
=============  ===========  ===============================================================

``PA_DEF`` (1 = protected area, 0 = OECM) and ``MARINE`` (0/1/2) have new counterparts
(``SITE_TYPE``, ``REALM``) coded differently: they keep their own names rather than mix two
codings in one column. Which schema a file has is read from its field list (``WDPAID`` or
``SITE_ID``), not guessed from the month. ``settings.column_map`` adds to or overrides the map.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.utils import timezone

from geoplatform import storage
from managed.fetch import SourceHttp
from managed.models import ManagedSource, SourceVersion

from . import register
from .base import Candidate, CheckResult, Handler, HandlerError, IngestPlan, RemoteFile, Target

COLLECTION_ID = "wdpa_protected_areas"
DEFAULT_FILE = "WDPA_{label}_Public_shp.zip"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Releases before November 2025 -> the merged WDPA/WD-OECM names (see the module doc).
OLD_TO_NEW = {
    "WDPAID": "SITE_ID",
    "WDPA_PID": "SITE_PID",
    "NAME": "NAME_ENG",
    "ORIG_NAME": "NAME",
    "PARENT_ISO3": "PRNT_ISO3",
    "PARENT_ISO": "PRNT_ISO3",  # the Shapefile's 10-character cut of PARENT_ISO3
}
OLD_MARKER = "WDPAID"
NEW_MARKER = "SITE_ID"

# IUCN management categories (the values of IUCN_CAT) and their colours: the protected-areas
# style handed to the styles app when a version goes live.
IUCN_COLOURS = {
    "Ia": [0, 68, 27],
    "Ib": [0, 109, 44],
    "II": [35, 139, 69],
    "III": [65, 171, 93],
    "IV": [116, 196, 118],
    "V": [161, 217, 155],
    "VI": [199, 233, 192],
}


def month_label(day: dt.date) -> str:
    """The release label of a month as Protected Planet writes it: ``Nov2025``."""
    return f"{MONTHS[day.month - 1]}{day.year}"


def label_month(label: str) -> tuple[int, int] | None:
    """(year, month) of a label, None when it is not one."""
    if len(label) == 7 and label[:3] in MONTHS and label[3:].isdigit():
        return int(label[3:]), MONTHS.index(label[:3]) + 1
    return None


def months_before(day: dt.date, count: int) -> list[str]:
    """The labels of ``day``'s month and the ``count`` months before it, newest first."""
    out = []
    year, month = day.year, day.month
    for _ in range(count + 1):
        out.append(month_label(dt.date(year, month, 1)))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def column_map_for(fields: list[str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """The column_map that loads a file with these fields into the new schema."""
    present = set(fields)
    mapping: dict[str, str] = {}
    if OLD_MARKER in present and NEW_MARKER not in present:
        mapping = {old: new for old, new in OLD_TO_NEW.items() if old in present}
    elif NEW_MARKER not in present:
        raise HandlerError(
            f"The file has neither {OLD_MARKER} nor {NEW_MARKER}: not a WDPA release "
            f"(fields: {', '.join(fields[:20])}).",
            remediation="Check the source's location and settings.file / settings.layer_name.",
        )
    mapping.update(extra or {})
    return mapping


def file_fields(container: str, blob: str, layer: str | None = None) -> list[str]:
    """The attribute names of a downloaded file, read in place as process_vector's pre-flight
    reads it (headers only, range requests on Azure: no download)."""
    from features import sources

    params = sources.SourceParams(container=container, file_name=blob, layer_name=layer or "")
    info = sources.preflight_inspect(params)
    if info is None:  # a large stream format (GeoJSON, CSV): only its head was checked
        with sources.opened(params) as src:
            info = sources.inspect(params, src)
    return [str(name) for name, _ in info.fields]


MERGE_CHUNK = 50_000  # features per read while merging the archive's parts


def polygon_parts_merge(blob: str, *, part: str = "polygons") -> str | None:
    """When ``blob`` is the official nested archive, write its ``part`` Shapefiles (one per
    inner zip) as one GeoParquet ``<folder>/wdpa_<part>.parquet`` and return its name; None
    for any other file. Idempotent: the output is rewritten whole."""
    import json
    import tempfile
    import zipfile
    from pathlib import Path

    if not blob.lower().endswith(".zip"):
        return None
    bronze = storage.zone_container("bronze")
    with storage.local_copy(bronze, blob) as outer:
        with zipfile.ZipFile(outer) as zf:
            inner = sorted(n for n in zf.namelist() if n.lower().endswith(".zip"))
            if not inner:
                return None
            layers = []
            for name in inner:
                with zf.open(name) as fh, zipfile.ZipFile(fh) as izf:  # type: ignore[arg-type]
                    shps = [m for m in izf.namelist() if m.lower().endswith(".shp") and part in m.lower()]
                layers += [f"/vsizip/{{/vsizip/{{{outer}}}/{name}}}/{shp}" for shp in shps]
        if not layers:
            raise HandlerError(f"{blob}: the archive's inner zips hold no '{part}' Shapefile.")
        import pyarrow as pa
        import pyarrow.parquet as pq
        import pyogrio

        folder = blob.rsplit("/", 1)[0]
        target = f"{folder}/wdpa_{part}.parquet"
        with tempfile.TemporaryDirectory(prefix="wdpa-") as tmp:
            out = Path(tmp) / "merged.parquet"
            writer: pq.ParquetWriter | None = None
            try:
                for layer in layers:
                    skip = 0
                    while True:
                        meta, table = pyogrio.read_arrow(layer, skip_features=skip, max_features=MERGE_CHUNK)
                        if table.num_rows == 0:
                            break
                        geom = meta.get("geometry_name") or "wkb_geometry"
                        table = table.rename_columns(["geometry" if c == geom else c for c in table.column_names])
                        if writer is None:
                            geo = {"version": "1.0.0", "primary_column": "geometry",
                                   "columns": {"geometry": {"encoding": "WKB", "geometry_types": []}}}  # fmt: skip
                            schema = table.schema.with_metadata({b"geo": json.dumps(geo).encode()})
                            writer = pq.ParquetWriter(out, schema)
                        writer.write_table(table.cast(writer.schema))
                        skip += table.num_rows
                        if table.num_rows < MERGE_CHUNK:
                            break
            except (pa.ArrowInvalid, ValueError) as exc:
                raise HandlerError(f"{blob}: the archive's '{part}' parts do not share one schema ({exc}).") from exc
            finally:
                if writer is not None:
                    writer.close()
            with out.open("rb") as fh:
                storage.blob_save(bronze, target, fh, size=out.stat().st_size, overwrite=True)
    return target


@register
class WdpaHandler(Handler):
    name = "wdpa"
    title = "WDPA protected areas (monthly release; old and new schemas loaded as one)"
    target_kind = "vector"
    default_collection_id = COLLECTION_ID
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "file": {"type": "string", "pattern": r"\{label\}", "minLength": 8},
            "layer_name": {"type": "string", "minLength": 1},
            "months_back": {"type": "integer", "minimum": 0, "maximum": 2},
            "column_map": {"type": "object", "additionalProperties": {"type": "string"}},
            # Which Shapefile of each inner zip of the official archive to load.
            "part": {"enum": ["polygons", "points"]},
        },
        "additionalProperties": False,
    }

    def _url(self, source: ManagedSource, label: str) -> str:
        name = str((source.settings or {}).get("file") or DEFAULT_FILE).format(label=label)
        return f"{source.location.rstrip('/')}/{name}"

    def check(self, source: ManagedSource, last: SourceVersion | None, http: SourceHttp) -> CheckResult:
        back = int((source.settings or {}).get("months_back", 1))
        labels = months_before(timezone.now().date(), back)
        live = label_month(last.label) if last is not None else None
        for label in labels:
            month = label_month(label)
            if live is not None and month is not None and month <= live:
                return CheckResult.unchanged(f"release {last.label if last else ''} is live")
            url = self._url(source, label)
            try:
                response = http.head(url)
            except HandlerError as exc:
                if "(404)" in exc.message:  # not published (yet): try the month before
                    continue
                raise
            return CheckResult.new(
                Candidate(
                    label=label,
                    url=url,
                    etag=response.headers.get("ETag", ""),
                    last_modified=response.headers.get("Last-Modified", ""),
                ),
                f"release {label}",
            )
        if last is not None:
            return CheckResult.unchanged(f"no release newer than {last.label} in {', '.join(labels)}")
        raise HandlerError(
            f"No WDPA release found for {', '.join(labels)} under {source.location}.",
            remediation="Check the location and settings.file (the name with {label}, e.g. WDPA_{label}_Public_shp.zip).",
        )

    def files(self, source: ManagedSource, candidate: Candidate) -> list[RemoteFile]:
        return [RemoteFile(url=candidate.url, blob_name=candidate.url.rsplit("/", 1)[-1], auth=False)]

    def prepare(self, source: ManagedSource, candidate: Candidate, blobs: list[str]) -> list[str]:
        """The official archive is a zip of zips (``…_shp_0.zip`` … ``_2.zip``), each holding a
        polygon and a point Shapefile: their polygon parts become ONE GeoParquet next to the
        download (read and written by chunks: bounded memory). Any other file is loaded as is."""
        part = str((source.settings or {}).get("part") or "polygons")
        merged = polygon_parts_merge(blobs[0], part=part)
        return [merged] if merged else blobs

    def ingest(self, source: ManagedSource, candidate: Candidate, blobs: list[str], target: Target) -> IngestPlan:
        plan = super().ingest(source, candidate, blobs, target)
        settings = source.settings or {}
        container = plan.parameters.get("container_name") or storage.zone_container("bronze")
        fields = file_fields(container, plan.parameters["file_name"], settings.get("layer_name"))
        mapping = column_map_for(fields, settings.get("column_map"))
        parameters = dict(plan.parameters)
        if mapping:
            parameters["column_map"] = mapping
        if settings.get("layer_name"):
            parameters["layer_name"] = settings["layer_name"]
        return IngestPlan(plan.job_type, parameters)

    def style(self, source: ManagedSource) -> dict[str, Any] | None:
        if source.style:
            return dict(source.style)
        rules: list[dict[str, Any]] = [
            {
                "name": "other",
                "symbolizer": {
                    "fill": {"color": [189, 189, 189], "opacity": 0.5},
                    "stroke": {"color": [99, 99, 99], "width": {"px": 0.5}},
                },
            }
        ]
        for category, colour in IUCN_COLOURS.items():
            rules.append(
                {
                    "name": f"IUCN {category}",
                    "selector": {"op": "=", "args": [{"property": "iucn_cat"}, category]},
                    "symbolizer": {
                        "fill": {"color": colour, "opacity": 0.7},
                        "stroke": {"color": [0, 68, 27], "width": {"px": 0.5}},
                    },
                }
            )
        return {
            "metadata": {
                "title": "Protected areas by IUCN category",
                "description": "WDPA: one colour per IUCN management category (Ia..VI); others grey.",
                "authors": ["GeoPlatform"],
            },
            "stylingRules": rules,
        }
