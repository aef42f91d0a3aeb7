"""How a release becomes jobs of the domain apps: data type detection, options, parameters.

Publishing starts the domain apps' jobs by job type name through
:func:`ingest.services.job_submit`, from the two tables below (tests swap them for test-only
job types with ``monkeypatch.setitem``). It does import the domain apps elsewhere: it sits
above them in the layers (.importlinter), and :mod:`publishing.kinds`, ``services`` and
``selectors`` call their selectors and services to read, publish and withdraw a release's
outputs.
"""

from __future__ import annotations

import re
from typing import Any

from geoplatform.errors import InvalidInput

from .errors import ZarrNotAvailable
from .models import DataType, asset_id_for

PROCESS_JOB_TYPES: dict[str, str] = {
    DataType.VECTOR: "process_vector",
    DataType.RASTER: "process_raster",
    DataType.RASTER_COLLECTION: "process_raster_collection",
    DataType.ZARR: "virtualize_climate",
}
UNPUBLISH_JOB_TYPES: dict[str, str] = {
    DataType.VECTOR: "unpublish_vector",
    DataType.RASTER: "unpublish_raster",
    # unpublish_raster takes one item; a collection (items, COGs, mosaic searches) has its own.
    DataType.RASTER_COLLECTION: "unpublish_raster_collection",
    DataType.ZARR: "unpublish_zarr",
}

VECTOR_EXTENSIONS = {"geojson", "json", "gpkg", "shp", "zip", "csv", "kml", "kmz"}
RASTER_EXTENSIONS = {"tif", "tiff"}
ZARR_EXTENSIONS = {"nc", "zarr"}

# name -> (type, allowed values or None). Unknown keys are a 400 naming them.
_OPTIONS: dict[str, dict[str, tuple[type, tuple[str, ...] | None]]] = {
    DataType.VECTOR: {
        "table_name": (str, None),
        "layer_name": (str, None),
        "lat_column": (str, None),
        "lon_column": (str, None),
        "wkt_column": (str, None),
        "crs": (str, None),
        "temporal_property": (str, None),
        "create_stac": (bool, None),
        "overwrite": (bool, None),
    },
    DataType.RASTER: {
        "crs": (str, None),
        "raster_type": (str, None),
        "output_tier": (str, ("visualization", "analysis", "archive", "all")),
        "processing": (str, ("auto", "whole", "windows")),
        "overwrite": (bool, None),
    },
    DataType.ZARR: {
        "concat_dim": (str, None),
        "file_pattern": (str, None),
        "max_files": (int, None),
        "chunks": (dict, None),
        "overwrite": (bool, None),
    },
}
_OPTIONS[DataType.RASTER_COLLECTION] = _OPTIONS[DataType.RASTER]

_IDENT_RE = re.compile(r"[^a-z0-9_]+")
_STAC_ID_RE = re.compile(r"[^A-Za-z0-9._-]+")


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def data_type_detect(*, file_name: str | list[str] | None, source_url: str | None) -> str:
    """Data type from the file extension(s); ``source_url`` means Zarr/NetCDF."""
    if source_url:
        return DataType.ZARR
    names = [file_name] if isinstance(file_name, str) else list(file_name or [])
    if not names:
        raise InvalidInput("Give 'file_name' (a string or a list) or 'source_url'.", code="missing_source")
    kinds = set()
    for name in names:
        ext = _extension(name)
        if ext in VECTOR_EXTENSIONS:
            kinds.add(DataType.VECTOR)
        elif ext in RASTER_EXTENSIONS:
            kinds.add(DataType.RASTER)
        elif ext in ZARR_EXTENSIONS:
            kinds.add(DataType.ZARR)
        else:
            raise InvalidInput(
                f"Unsupported file extension {ext or '(none)'!r} in {name!r}.",
                code="unsupported_format",
                remediation="Vector: geojson json gpkg shp zip csv kml kmz; raster: tif tiff; zarr: nc zarr.",
            )
    if len(kinds) > 1:
        raise InvalidInput("All files of one submission must be of the same data type.", code="mixed_data_types")
    kind = kinds.pop()
    if kind == DataType.RASTER and len(names) > 1:
        return DataType.RASTER_COLLECTION
    if kind == DataType.VECTOR and len(names) > 1:
        raise InvalidInput("A vector release takes exactly one file (zip a shapefile with its sidecars).")
    return kind


def options_clean(data_type: str, raw: Any) -> dict[str, Any]:
    """Typed per data type; unknown keys are a 400 naming them."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput("'processing_options' must be a JSON object.")
    spec = _OPTIONS[data_type]
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise InvalidInput(
            f"Unknown processing option(s) for {data_type}: {', '.join(unknown)}.",
            code="unknown_option",
            details={"unknown": unknown, "allowed": sorted(spec)},
            remediation=f"Allowed options for {data_type}: {', '.join(sorted(spec))}.",
        )
    cleaned: dict[str, Any] = {}
    for name, value in raw.items():
        expected, choices = spec[name]
        if value is None:
            continue
        if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
            raise InvalidInput(f"Processing option {name!r} must be of type {expected.__name__}.")
        if choices is not None and value not in choices:
            raise InvalidInput(f"Processing option {name!r} must be one of {', '.join(choices)}.")
        cleaned[name] = value
    if data_type == DataType.VECTOR:
        if bool(cleaned.get("lat_column")) != bool(cleaned.get("lon_column")):
            raise InvalidInput("Give both 'lat_column' and 'lon_column', or neither.")
        if cleaned.get("wkt_column") and cleaned.get("lat_column"):
            raise InvalidInput("Give either 'lat_column'+'lon_column' or 'wkt_column', not both.")
    return cleaned


def gpkg_layer_check(*, container: str, file_name: str, layer_name: str | None) -> None:
    """A multi-layer GeoPackage needs ``layer_name`` (else which layer is ambiguous): 400 listing them.

    Reads only the GeoPackage's catalogue pages (GDAL range requests on Azure), never the
    whole file: this runs inside the submit request. A missing file is left to the job
    type's own pre-flight check (it names the container); a file GDAL cannot open as a
    GeoPackage is a 400 here.
    """
    if _extension(file_name) != "gpkg":
        return
    import pyogrio

    from geoplatform import storage

    try:
        storage.check_blob_name(file_name)
        path = storage.gdal_path(container, file_name)
        if not storage.blob_exists(container, file_name):
            return
        storage.pyogrio_configure()
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as exc:
        raise InvalidInput(
            f"{file_name!r} cannot be read as a GeoPackage ({_gdal_reason(exc)}).",
            code="invalid_geopackage",
            remediation="Upload a complete, valid GeoPackage (open it in QGIS or check it with ogrinfo), "
            "or give the file the extension of its real format.",
        ) from exc
    if layer_name and layer_name not in layers:
        raise InvalidInput(f"Layer {layer_name!r} is not in {file_name!r}; its layers: {', '.join(layers)}.")
    if not layer_name and len(layers) > 1:
        raise InvalidInput(
            f"{file_name!r} has {len(layers)} layers: give processing_options.layer_name.",
            code="layer_name_required",
            details={"layers": layers},
            remediation=f"Set processing_options.layer_name to one of: {', '.join(layers)}.",
        )


def _gdal_reason(exc: Exception) -> str:
    """GDAL's message without the server-side path it may contain."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(": ", 1)[-1][:200] if text.startswith("/vsi") else text[:200]


def zarr_unavailable() -> ZarrNotAvailable:
    return ZarrNotAvailable(
        "zarr processing is not available yet.",
        remediation="Submit NetCDF/Zarr once the climate app is deployed; vector and raster files work now.",
    )


def table_name_default(dataset_id: str, resource_id: str, ordinal: int) -> str:
    base = _IDENT_RE.sub("_", f"{dataset_id}_{resource_id}".lower()).strip("_") or "dataset"
    if not base[0].isalpha():
        base = f"t_{base}"
    suffix = f"_v{ordinal}"
    return base[: 63 - len(suffix)] + suffix


# Raster releases land in the catalog's system collection (process_raster refuses a
# collection that does not exist); the item id carries the asset and the version.
RASTER_COLLECTION = "system-rasters"


def stac_ids_default(dataset_id: str, resource_id: str, ordinal: int) -> tuple[str, str]:
    item = _STAC_ID_RE.sub("-", f"{dataset_id}-{resource_id}-v{ordinal}")
    if len(item) > 200:  # keep ids short but still unique per asset
        item = f"{item[:150]}-{asset_id_for(dataset_id, resource_id)[:16]}-v{ordinal}"
    return RASTER_COLLECTION, item


def job_parameters(
    *,
    data_type: str,
    data: dict[str, Any],
    options: dict[str, Any],
    ordinal: int,
    release_meta: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """(job parameters, where the outputs will be served: table_name / stac ids)."""
    common = {
        "container_name": data.get("container_name"),
        "title": data.get("title") or None,
        "description": data.get("description") or None,
        "overwrite": options.get("overwrite"),
    }
    if data_type == DataType.VECTOR:
        table = options.get("table_name") or table_name_default(data["dataset_id"], data["resource_id"], ordinal)
        params = {
            **common,
            "file_name": data["file_name"] if isinstance(data["file_name"], str) else data["file_name"][0],
            "table_name": table,
            # hidden until a reviewer approves the release (publishing then shows it)
            "publish": False,
            **{k: v for k, v in options.items() if k not in {"table_name", "overwrite"}},
        }
        where = {"table_name": table}
    elif data_type in (DataType.RASTER, DataType.RASTER_COLLECTION):
        collection, item = stac_ids_default(data["dataset_id"], data["resource_id"], ordinal)
        if data_type == DataType.RASTER_COLLECTION:  # the job creates its own STAC collection
            collection, item = item, ""
        params = {
            **common,
            "collection_id": collection,
            "crs": options.get("crs"),
            "raster_type": options.get("raster_type"),
            "output_tier": options.get("output_tier", "analysis"),
            "processing": options.get("processing"),
            # copied into the STAC item's properties by process_raster: namespaced keys
            "metadata": {f"ddh:{k}": v for k, v in release_meta.items()},
        }
        if data_type == DataType.RASTER:
            params["file_name"] = data["file_name"] if isinstance(data["file_name"], str) else data["file_name"][0]
            params["item_id"] = item
            params["publish"] = False  # the STAC item goes public on approval
        else:
            params["files"] = list(data["file_name"])
            params["publish"] = False  # the collection and its items go public on approval
        where = {"stac_collection_id": collection, "stac_item_id": item}
    else:
        raise zarr_unavailable()
    return {k: v for k, v in params.items() if v is not None}, where


def unpublish_parameters(*, data_type: str, table_name: str, collection_id: str, item_id: str) -> dict[str, Any]:
    # Parameter names as documented in docs/apps/features.md and docs/apps/rasters.md.
    if data_type == DataType.VECTOR:
        return {"collection_id": table_name, "dry_run": False}
    if data_type == DataType.RASTER:
        return {"collection_id": collection_id, "item_id": item_id, "dry_run": False}
    if data_type == DataType.RASTER_COLLECTION:
        return {"collection_id": collection_id, "dry_run": False}
    raise zarr_unavailable()
