"""Reading vector sources from storage: format detection, safe unzip, pre-flight inspection,
and chunked reads as Arrow tables (pyogrio's Arrow path; pyarrow for GeoParquet).

Nothing here writes to the database: :mod:`features.sql` loads what this module reads.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
from django.conf import settings
from pyproj import CRS
from pyproj.exceptions import CRSError

from geoplatform import storage
from ingest import preflight

from . import conf
from .errors import InvalidSource, UnsupportedFormat

FORMATS = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shapefile",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".kml": "kml",
    ".kmz": "kmz",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
}
_SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg"}
# A PostgreSQL table holds at most 1600 columns; ours add id, geom and etl_batch_id.
MAX_COLUMNS = 1600 - 3
_SEPARATORS = {",": "COMMA", ";": "SEMICOLON", "\t": "TAB", "|": "PIPE"}


@dataclass
class SourceParams:
    container: str
    file_name: str
    layer_name: str = ""
    lat_column: str = ""
    lon_column: str = ""
    wkt_column: str = ""
    crs: str = ""

    @classmethod
    def from_job(cls, params: dict[str, Any]) -> SourceParams:
        return cls(
            container=params["container_name"],
            file_name=params["file_name"],
            layer_name=params.get("layer_name") or "",
            lat_column=params.get("lat_column") or "",
            lon_column=params.get("lon_column") or "",
            wkt_column=params.get("wkt_column") or "",
            crs=params.get("crs") or "",
        )


@dataclass
class Opened:
    """A source ready for GDAL/pyarrow: a local path plus how to read it."""

    format: str
    path: Path
    layer: str | None = None
    options: dict[str, str] = field(default_factory=dict)  # GDAL open options (CSV)
    encoding: str | None = None
    # (container, name) when ``path`` is a GDAL virtual path read in place (pre-flight).
    remote: tuple[str, str] | None = None


@dataclass
class SourceInfo:
    format: str
    layer: str | None
    crs: str  # as given to pyproj: "EPSG:xxxx" or WKT
    crs_from_request: bool
    feature_count: int
    geometry_type: str | None
    fields: list[tuple[str, str]]  # (source name, arrow type string)


def detect_format(file_name: str) -> str:
    suffix = PurePosixPath(file_name.lower()).suffix
    try:
        return FORMATS[suffix]
    except KeyError:
        raise UnsupportedFormat(
            f"Unsupported file extension {suffix or '(none)'!r} for {file_name!r}.",
            remediation="Send GeoJSON (.geojson), GeoPackage (.gpkg), a zipped Shapefile (.zip), CSV (.csv), "
            "KML/KMZ or GeoParquet (.parquet).",
        ) from None


def _check_column_count(count: int) -> None:
    if count > MAX_COLUMNS:
        raise InvalidSource(
            f"The file has {count} columns; a table holds at most {MAX_COLUMNS}.",
            code="too_many_columns",
            remediation="Keep the columns you need (or reshape wide data into rows), then submit again.",
        )


def _check_crs(text: str) -> str:
    try:
        CRS.from_user_input(text)
    except CRSError:
        raise InvalidSource(f"Unknown CRS {text!r}.", remediation="Name the CRS like 'EPSG:4326'.") from None
    return text


# --- zips ------------------------------------------------------------------------------------


def _safe_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The zip's file members, refusing bombs and any name that could escape the folder."""
    total = 0
    members: list[zipfile.ZipInfo] = []
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise InvalidSource(
                f"The zip holds an unsafe path {name!r}.", remediation="Zip the files without '..' or absolute paths."
            )
        total += info.file_size
        if (
            info.compress_size
            and info.file_size / info.compress_size > conf.max_zip_ratio()
            and info.file_size > 1024**2
        ):
            raise InvalidSource(
                f"The zip member {name!r} expands {info.file_size / info.compress_size:.0f} times; refused as a zip bomb.",
            )
        if total > conf.max_unzipped_bytes():
            raise InvalidSource(
                f"The zip expands to more than {conf.max_unzipped_bytes()} bytes; refused.",
                remediation="Send a smaller file, or split it.",
            )
        members.append(info)
    return members


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, name: str) -> Path:
    """Extract one member under a name we choose (never the member's own path)."""
    target = (folder / name).resolve()
    if folder.resolve() not in target.parents:
        raise InvalidSource(f"Unsafe name in zip: {info.filename!r}.")
    limit = info.file_size
    written = 0
    with zf.open(info) as src, open(target, "wb") as dst:
        while chunk := src.read(1024 * 1024):
            written += len(chunk)
            if written > limit:  # the header lied about the size
                raise InvalidSource(f"The zip member {info.filename!r} is larger than its header says.")
            dst.write(chunk)
    return target


def _open_zip(path: Path, folder: Path, kind: str) -> Path:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidSource(
            f"The file is not a readable zip ({exc}).", remediation="Check the upload is complete."
        ) from exc
    with zf:
        members = _safe_members(zf)
        if kind == "kmz":
            kmls = [m for m in members if m.filename.lower().endswith(".kml")]
            if not kmls:
                raise InvalidSource("The KMZ holds no .kml document.")
            doc = next((m for m in kmls if PurePosixPath(m.filename).name.lower() == "doc.kml"), kmls[0])
            try:
                return _extract(zf, doc, folder, "doc.kml")
            except zipfile.BadZipFile as exc:
                raise InvalidSource(f"The KMZ is corrupt ({exc}).") from exc
        shps = [m for m in members if m.filename.lower().endswith(".shp")]
        if len(shps) != 1:
            found = ", ".join(m.filename for m in shps) or "none"
            raise InvalidSource(
                f"A zipped Shapefile must hold exactly one .shp (found {found}).",
                remediation="Zip one Shapefile (its .shp, .shx, .dbf, .prj, .cpg) per file.",
            )
        stem = shps[0].filename[:-4]
        extracted: Path | None = None
        for member in members:
            base, ext = os.path.splitext(member.filename)
            if base == stem and ext.lower() in _SHAPEFILE_PARTS:
                try:
                    out = _extract(zf, member, folder, "data" + ext.lower())
                except zipfile.BadZipFile as exc:
                    raise InvalidSource(f"The zip is corrupt ({exc}).") from exc
                if ext.lower() == ".shp":
                    extracted = out
        assert extracted is not None
        missing = [ext for ext in (".shx", ".dbf") if not (folder / f"data{ext}").exists()]
        if missing:
            raise InvalidSource(f"The zipped Shapefile lacks its {', '.join(missing)} file(s).")
        return extracted


# --- CSV -------------------------------------------------------------------------------------


def _csv_encoding_and_separator(path: Path) -> tuple[str, str]:
    with open(path, "rb") as fh:
        sample = fh.read(1024 * 1024)
    if not sample.strip():
        raise InvalidSource("The CSV file is empty.")
    encoding = "utf-8"
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # a multi-byte character cut by the sample's end
            text = sample[: exc.start].decode("utf-8")
        else:
            encoding = "cp1252"
            text = sample.decode("cp1252", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    header = text.splitlines()[0] if text.splitlines() else ""
    try:
        dialect = csv.Sniffer().sniff("\n".join(text.splitlines()[:50]), delimiters=",;\t|")
        sep = dialect.delimiter
    except csv.Error:
        sep = max(_SEPARATORS, key=header.count)
    return encoding, _SEPARATORS.get(sep, "COMMA")


def _csv_header(path: Path, encoding: str, separator: str) -> list[str]:
    delimiter = {v: k for k, v in _SEPARATORS.items()}[separator]
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        row = next(csv.reader(fh, delimiter=delimiter), [])
    return [c.lstrip("\ufeff") for c in row]


# --- opening and inspecting ----------------------------------------------------------------------


@contextlib.contextmanager
def opened(params: SourceParams) -> Iterator[Opened]:
    """A local, readable form of the stored file (temporary files removed afterwards)."""
    fmt = detect_format(params.file_name)
    with storage.local_copy(params.container, params.file_name) as path:
        if path.stat().st_size == 0:
            raise InvalidSource(f"{params.file_name!r} is empty.", remediation="Upload the file again.")
        folder = Path(tempfile.mkdtemp(prefix="geoplatform-vector-"))
        try:
            if fmt in {"shapefile", "kmz"}:
                yield Opened(format=fmt, path=_open_zip(path, folder, fmt), layer=params.layer_name or None)
            elif fmt == "csv":
                yield _open_csv(params, path, folder)
            else:
                yield Opened(format=fmt, path=path, layer=params.layer_name or None)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _transcode(path: Path, encoding: str, folder: Path) -> Path:
    """A UTF-8 copy of a text file (GDAL's Arrow reader takes UTF-8 only)."""
    target = folder / "data.csv"
    with (
        open(path, encoding=encoding, errors="replace", newline="") as src,
        open(target, "w", encoding="utf-8", newline="") as dst,
    ):
        shutil.copyfileobj(src, dst, 4 * 1024 * 1024)
    return target


def _open_csv(params: SourceParams, path: Path, folder: Path) -> Opened:
    if params.wkt_column and (params.lat_column or params.lon_column):
        raise InvalidSource("Give either wkt_column or lat_column + lon_column, not both.")
    if not params.wkt_column and not (params.lat_column and params.lon_column):
        raise InvalidSource(
            "A CSV needs its geometry columns.",
            remediation="Pass lat_column and lon_column, or wkt_column.",
        )
    encoding, separator = _csv_encoding_and_separator(path)
    header = _csv_header(path, encoding, separator)
    _check_column_count(len(header))  # from the header: GDAL's CSV reader stops at 2000 fields
    wanted = [c for c in (params.lat_column, params.lon_column, params.wkt_column) if c]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise InvalidSource(
            f"Column(s) {', '.join(map(repr, missing))} not in the CSV header.", details={"columns": header}
        )
    options = {
        "SEPARATOR": separator,
        "AUTODETECT_TYPE": "YES",
        "AUTODETECT_SIZE_LIMIT": "0",
        "EMPTY_STRING_AS_NULL": "YES",
    }
    if params.wkt_column:
        options |= {"GEOM_POSSIBLE_NAMES": params.wkt_column, "KEEP_GEOM_COLUMNS": "NO"}
    else:
        options |= {
            "X_POSSIBLE_NAMES": params.lon_column,
            "Y_POSSIBLE_NAMES": params.lat_column,
            "KEEP_GEOM_COLUMNS": "YES",
        }
    if encoding != "utf-8":
        path = _transcode(path, encoding, folder)
    return Opened(format="csv", path=path, options=options)


def _gdal_kwargs(src: Opened) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(src.options)
    if src.layer:
        kwargs["layer"] = src.layer
    if src.encoding:
        kwargs["encoding"] = src.encoding
    return kwargs


def _choose_layer(src: Opened) -> None:
    import pyogrio  # imported here: ~30 MiB (its own GDAL) a web process never needs

    if src.format in {"parquet", "csv"}:
        return
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(src.path)]
    except Exception as exc:  # GDAL's errors are many; each means "cannot read this file"
        raise InvalidSource(
            f"Cannot read the file as {src.format}: {exc}",
            remediation="Check the file is complete and of the format its extension says.",
        ) from exc
    preflight.saw(layers=layers)
    if not layers:
        raise InvalidSource("The file holds no layer.")
    if src.layer:
        if src.layer not in layers:
            raise InvalidSource(f"No layer {src.layer!r} in the file.", details={"layers": layers})
    elif len(layers) > 1:
        raise InvalidSource(
            "The file holds several layers; choose one with layer_name.",
            code="layer_required",
            details={"layers": layers},
            remediation=f"Pass layer_name, one of: {', '.join(layers)}.",
        )
    else:
        src.layer = layers[0]


def _check_utf8(path: Path) -> None:
    """GeoJSON is UTF-8 by definition (RFC 7946); GDAL would silently mangle other bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    position = 0
    with open(path, "rb") as fh:
        while block := fh.read(4 * 1024 * 1024):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise InvalidSource(
                    f"The GeoJSON is not UTF-8 (invalid byte at offset {position + exc.start}).",
                    code="not_utf8",
                    remediation="Save the file as UTF-8 (RFC 7946 requires it).",
                ) from None
            position += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InvalidSource(
            "The GeoJSON ends in the middle of a UTF-8 character (truncated?).", code="not_utf8"
        ) from None


def inspect(params: SourceParams, src: Opened) -> SourceInfo:
    """Pre-flight: the layer, CRS, feature count and fields, without reading the features."""
    import pyogrio  # imported here: ~30 MiB (its own GDAL) a web process never needs

    if src.format == "geojson":
        _check_utf8(src.path)
    _choose_layer(src)
    if src.format == "parquet":
        return _inspect_parquet(params, src)
    try:
        info = pyogrio.read_info(src.path, **_gdal_kwargs(src))
    except Exception as exc:
        raise InvalidSource(
            f"Cannot read the file as {src.format}: {exc}",
            remediation="Check the file is complete and of the format its extension says.",
        ) from exc
    crs, from_request = _resolve_crs(params, info.get("crs"), src)
    count = int(info.get("features") or 0)
    if count < 0:  # drivers without a fast count
        count = int(pyogrio.read_info(src.path, force_feature_count=True, **_gdal_kwargs(src))["features"])
    if count == 0:
        raise InvalidSource("The layer holds no features.", code="empty_source")
    if info.get("geometry_type") in (None, "None") and src.format != "csv":
        raise InvalidSource("The layer has no geometry column.", code="no_geometry")
    fields = [(str(n), str(t)) for n, t in zip(info["fields"], info["dtypes"], strict=False)]
    _check_column_count(len(fields))
    return SourceInfo(
        format=src.format,
        layer=src.layer,
        crs=crs,
        crs_from_request=from_request,
        feature_count=count,
        geometry_type=info.get("geometry_type"),
        fields=fields,
    )


def _resolve_crs(params: SourceParams, found: str | None, src: Opened) -> tuple[str, bool]:
    if params.crs:
        return _check_crs(params.crs), True
    if found:
        return found, False
    if src.format == "csv" and params.lat_column:
        return "EPSG:4326", False  # latitude/longitude columns are WGS 84 by definition
    raise InvalidSource(
        "The source has no coordinate reference system.",
        code="crs_missing",
        remediation="Pass crs (e.g. 'EPSG:4326'), or add a .prj to the Shapefile.",
    )


def _parquet_file(src: Opened) -> Any:
    """A ParquetFile with its footer read; in place (range requests) for a remote source."""
    # Imported here: heavy, loaded only by the code paths that read or write Arrow/Parquet.
    import pyarrow.parquet as pq

    try:
        if src.remote is None:
            return pq.ParquetFile(src.path)
        with storage.open_ranged(*src.remote) as fh:
            return pq.ParquetFile(fh)  # the footer (schema, row groups) is read here, then cached
    except Exception as exc:
        raise InvalidSource(f"Cannot read the file as GeoParquet: {exc}") from exc


def _parquet_geo(path: Path, pf: Any = None) -> tuple[Any, dict[str, Any]]:
    # Imported here: heavy, loaded only by the code paths that read or write Arrow/Parquet.
    import pyarrow.parquet as pq

    try:
        pf = pf if pf is not None else pq.ParquetFile(path)
    except Exception as exc:
        raise InvalidSource(f"Cannot read the file as GeoParquet: {exc}") from exc
    meta = pf.schema_arrow.metadata or {}
    if b"geo" not in meta:
        raise InvalidSource(
            "The Parquet file has no GeoParquet 'geo' metadata.",
            remediation="Write it with geopandas.to_parquet or GDAL.",
        )
    geo = json.loads(meta[b"geo"])
    column = geo.get("primary_column", "geometry")
    col_meta = geo.get("columns", {}).get(column, {})
    if col_meta.get("encoding", "WKB").upper() != "WKB":
        raise UnsupportedFormat("Only WKB-encoded GeoParquet is supported.")
    return pf, {"column": column, **col_meta}


def _inspect_parquet(params: SourceParams, src: Opened) -> SourceInfo:
    pf, geo = _parquet_geo(src.path, _parquet_file(src))
    crs_meta = geo.get("crs", "missing")
    if crs_meta == "missing":  # GeoParquet: an absent crs means OGC:CRS84
        crs_found: str | None = "OGC:CRS84"
    elif crs_meta is None:
        crs_found = None
    else:
        crs_found = CRS.from_json_dict(crs_meta).to_wkt()
    crs, from_request = _resolve_crs(params, crs_found, src)
    count = int(pf.metadata.num_rows)
    if count == 0:
        raise InvalidSource("The file holds no features.", code="empty_source")
    fields = [(f.name, str(f.type)) for f in pf.schema_arrow if f.name != geo["column"]]
    _check_column_count(len(fields))
    types = geo.get("geometry_types") or []
    return SourceInfo(
        format="parquet",
        layer=None,
        crs=crs,
        crs_from_request=from_request,
        feature_count=count,
        geometry_type=types[0] if len(types) == 1 else None,
        fields=fields,
    )


# --- pre-flight: read in place, only what is needed ---------------------------------------------
#
# Pre-flight runs inside the submit request, so it never downloads the file:
# - GeoPackage: GDAL /vsiaz/ (SQLite needs random access; range requests read its catalogue pages);
# - zipped Shapefile / KMZ: the zip's central directory through ranged reads (safety checks), then
#   GDAL /vsizip/ over /vsiaz/ (the .shp/.shx/.dbf headers give fields and count);
# - GeoParquet: its footer through ranged reads;
# - GeoJSON, CSV, KML (one stream, no index: GDAL reads them whole to know fields and count):
#   read whole only up to GEOPLATFORM_PREFLIGHT_SCAN_BYTES; a larger file is checked by its
#   head (encoding, JSON/XML start, CSV header) and fully by the job's validate stage.
# The job itself reads a local copy (storage.local_copy: one download per blob version per host).

_HEAD_BYTES = 1024 * 1024
_STREAM_FORMATS = {"geojson", "csv", "kml"}


def _zip_member(params: SourceParams, fmt: str) -> str:
    """The zip's member to read (.shp or .kml), checked from its central directory alone."""
    try:
        with storage.open_ranged(params.container, params.file_name) as fh, zipfile.ZipFile(fh) as zf:
            members = _safe_members(zf)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidSource(
            f"The file is not a readable zip ({exc}).", remediation="Check the upload is complete."
        ) from exc
    if fmt == "kmz":
        kmls = [m.filename for m in members if m.filename.lower().endswith(".kml")]
        if not kmls:
            raise InvalidSource("The KMZ holds no .kml document.")
        return next((m for m in kmls if PurePosixPath(m).name.lower() == "doc.kml"), kmls[0])
    shps = [m.filename for m in members if m.filename.lower().endswith(".shp")]
    if len(shps) != 1:
        raise InvalidSource(
            f"A zipped Shapefile must hold exactly one .shp (found {', '.join(shps) or 'none'}).",
            remediation="Zip one Shapefile (its .shp, .shx, .dbf, .prj, .cpg) per file.",
        )
    stem = shps[0][:-4]
    names = {m.filename.lower() for m in members}
    missing = [ext for ext in (".shx", ".dbf") if f"{stem}{ext}".lower() not in names]
    if missing:
        raise InvalidSource(f"The zipped Shapefile lacks its {', '.join(missing)} file(s).")
    return shps[0]


def _check_head(params: SourceParams, fmt: str) -> None:
    """A large stream file's first megabyte: the right kind of text, the CSV's columns."""
    with storage.open_ranged(params.container, params.file_name) as fh:
        head = fh.read(_HEAD_BYTES)
    folder = Path(tempfile.mkdtemp(prefix="geoplatform-head-"))
    try:
        path = folder / ("head" + PurePosixPath(params.file_name).suffix.lower())
        path.write_bytes(head)
        if fmt == "csv":
            _open_csv(params, path, folder)  # encoding, separator, column count, the geometry columns
            return
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if fmt == "geojson":
            try:
                head.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.start < len(head) - 4:  # not merely a character cut by the head's end
                    raise InvalidSource(
                        f"The GeoJSON is not UTF-8 (invalid byte at offset {exc.start}).",
                        code="not_utf8",
                        remediation="Save the file as UTF-8 (RFC 7946 requires it).",
                    ) from None
            if not text.startswith(b"{"):
                raise InvalidSource(
                    "The file does not start like GeoJSON (a JSON object).",
                    remediation="Send a GeoJSON FeatureCollection, or give the file the extension of its format.",
                )
        elif fmt == "kml" and not text.startswith(b"<"):
            raise InvalidSource("The file does not start like KML (XML).")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def preflight_inspect(params: SourceParams) -> SourceInfo | None:
    """What pre-flight can learn reading in place; None when only the head was checked."""
    fmt = detect_format(params.file_name)
    size = storage.blob_size(params.container, params.file_name)
    if size == 0:
        raise InvalidSource(f"{params.file_name!r} is empty (0 bytes).", remediation="Upload the file again.")
    remote = storage.is_remote(params.container)
    if fmt in _STREAM_FORMATS | {"kmz"} and size > int(settings.GEOPLATFORM_PREFLIGHT_SCAN_BYTES):
        if fmt == "kmz":
            _zip_member(params, fmt)
        else:
            _check_head(params, fmt)
        return None
    if not remote or fmt in _STREAM_FORMATS | {"kmz"}:
        with opened(params) as src:  # a local file, or a stream file small enough to read whole
            return inspect(params, src)
    storage.pyogrio_configure()
    path = storage.gdal_path(params.container, params.file_name)
    if fmt == "shapefile":
        path = storage.gdal_zip_path(path, _zip_member(params, fmt))
    src = Opened(
        format=fmt, path=Path(path), layer=params.layer_name or None, remote=(params.container, params.file_name)
    )
    return inspect(params, src)


def read_chunk(src: Opened, *, skip: int, count: int) -> tuple[pa.Table, pa.Array]:
    """Rows [skip, skip+count) as (attributes, WKB geometries), both Arrow."""
    import pyogrio  # imported here: ~30 MiB (its own GDAL) a web process never needs

    if src.format == "parquet":
        pf, geo = _parquet_geo(src.path)
        # Only the row groups that overlap [skip, skip + count).
        groups, start, first_start = [], 0, None
        for i in range(pf.metadata.num_row_groups):
            rows = pf.metadata.row_group(i).num_rows
            if start + rows > skip and start < skip + count:
                groups.append(i)
                first_start = start if first_start is None else first_start
            start += rows
        if not groups:
            return pa.table({}), pa.array([], pa.binary())
        table = pf.read_row_groups(groups).slice(skip - (first_start or 0), count)
        geom = table.column(geo["column"]).combine_chunks()
        return table.drop_columns([geo["column"]]), geom
    try:
        meta, table = pyogrio.read_arrow(src.path, skip_features=skip, max_features=count, **_gdal_kwargs(src))
    except Exception as exc:
        raise InvalidSource(f"Cannot read features {skip}..{skip + count} of the file: {exc}") from exc
    geom_name = meta.get("geometry_name") or "wkb_geometry"
    if geom_name not in table.column_names:
        raise InvalidSource("The layer has no geometry column.", code="no_geometry")
    geom = table.column(geom_name).combine_chunks()
    return table.drop_columns([geom_name]), geom
