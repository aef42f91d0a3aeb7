"""Vector releases: one file -> ``process_vector`` -> a table (or ``_point`` / ``_line`` /
``_polygon`` tables of a file mixing geometry types), each an OGC API Features collection."""

from __future__ import annotations

import re
from typing import Any, cast

from django.urls import reverse

from features import selectors as features_selectors
from features import services as features_services
from features.errors import CollectionNotFound
from features.results import VectorCollectionResult, VectorJobResult
from geoplatform import storage
from geoplatform.errors import InvalidInput

from ..models import DataType, Release
from .base import (
    Artifacts,
    DataKind,
    JobPlan,
    Submission,
    common_parameters,
    container_required,
    existing_silver,
    external_copies,
    reported_blobs,
    without_none,
)

_IDENT_RE = re.compile(r"[^a-z0-9_]+")
RESULT_KEYS: tuple[str, ...] = ()  # the GeoParquet exports come from the unpublish plan


def table_name_default(dataset_id: str, resource_id: str, ordinal: int) -> str:
    base = _IDENT_RE.sub("_", f"{dataset_id}_{resource_id}".lower()).strip("_") or "dataset"
    if not base[0].isalpha():
        base = f"t_{base}"
    suffix = f"_v{ordinal}"
    return base[: 63 - len(suffix)] + suffix


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def gpkg_layer_check(*, container: str, file_name: str, layer_name: str | None) -> None:
    """A multi-layer GeoPackage needs ``layer_name`` (else which layer is ambiguous): 400 listing them.

    Reads only the GeoPackage's catalogue pages (GDAL range requests on Azure), never the
    whole file: this runs inside the submit request. A missing file is left to the job
    type's own pre-flight check (it names the container); a file GDAL cannot open as a
    GeoPackage is a 400 here.
    """
    import pyogrio  # imported here: ~30 MiB (its own GDAL) a web process never needs

    if _extension(file_name) != "gpkg":
        return
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


def _check(sub: Submission) -> None:
    options = sub.options
    if bool(options.get("lat_column")) != bool(options.get("lon_column")):
        raise InvalidInput("Give both 'lat_column' and 'lon_column', or neither.")
    if options.get("wkt_column") and options.get("lat_column"):
        raise InvalidInput("Give either 'lat_column'+'lon_column' or 'wkt_column', not both.")
    container_required(sub)
    if isinstance(sub.data.get("file_name"), str):
        gpkg_layer_check(
            container=sub.data["container_name"], file_name=sub.data["file_name"], layer_name=options.get("layer_name")
        )


def _job_parameters(sub: Submission) -> JobPlan:
    data = sub.data
    table = sub.options.get("table_name") or table_name_default(data["dataset_id"], data["resource_id"], sub.ordinal)
    params = {
        **common_parameters(sub),
        "file_name": sub.file_name,
        "table_name": table,
        # hidden until a reviewer approves the release (publishing then shows it)
        "publish": False,
        **{k: v for k, v in sub.options.items() if k not in {"table_name", "overwrite"}},
    }
    return without_none(params), {"table_name": table}


def _unpublish_parameters(release: Release) -> dict[str, Any]:
    # Parameter names as documented in docs/apps/features.md.
    return {"collection_id": release.table_name, "dry_run": False}


def collections_of(release: Release) -> list[str]:
    """The collections of a vector release: its table, or the ``_point`` / ``_line`` /
    ``_polygon`` tables its file was split into (each shown or hidden with the release)."""
    found = [d.collection_id for d in features_selectors.dataset_group(table=release.table_name)]
    return found or [release.table_name]


def _publish(release: Release) -> None:
    if release.table_name:
        for collection_id in collections_of(release):
            features_services.dataset_publish_set(collection_id=collection_id, published=True)


def _withdraw(release: Release) -> None:
    if release.table_name:
        for collection_id in collections_of(release):
            try:
                features_services.dataset_publish_set(collection_id=collection_id, published=False)
            except CollectionNotFound:
                pass  # a table already dropped is withdrawn


def _artifacts(release: Release) -> Artifacts:
    """The table(s) of the release, their metadata rows, STAC items and GeoParquet exports."""
    external = external_copies(release)
    if not release.table_name:
        return Artifacts(external_blobs=external)
    plan = features_services.dataset_unpublish(collection_id=release.table_name, dry_run=True)["would_remove"]
    silver = tuple(sorted({*plan["silver_blobs"], *existing_silver(reported_blobs(release, RESULT_KEYS))}))
    return Artifacts(
        tables=tuple(plan["tables"]),
        collections=tuple(plan["collections"]),
        stac_items=tuple(plan["stac_items"]),
        silver_blobs=silver,
        copy_blobs=silver,
        external_blobs=external,
    )


def _export(release: Release) -> list[str]:
    """A GeoParquet export of each collection: the vector's public form in the external zone.

    Every collection is tried; a missing table is reported after the others were written.
    """
    if not release.table_name:
        return []
    written: list[str] = []
    missing: CollectionNotFound | None = None
    for dataset in features_selectors.dataset_group(table=release.table_name):
        try:
            written.append(features_services.dataset_export_geoparquet(collection_id=dataset.collection_id))
        except CollectionNotFound as exc:
            missing = exc
    if missing is not None:
        raise missing
    return written


def _made_collections(release: Release) -> list[VectorCollectionResult]:
    """The collections the release's job made (its result's ``collections``), else its table."""
    # A JSONField comes in: typed here ({} until the job completes).
    # Annotated: mypy types .get() of a key the TypedDict lacks as object, so a typo fails here.
    made: list[VectorCollectionResult] | None = cast(VectorJobResult, release.outputs).get("collections")
    if isinstance(made, list) and made and all(isinstance(c, dict) and c.get("collection_id") for c in made):
        return made
    # Only the table is known: _service reads the other keys with .get.
    return [cast(VectorCollectionResult, {"collection_id": release.table_name})]


def _service(collection: VectorCollectionResult) -> dict[str, Any]:
    items = reverse("features:items", kwargs={"collection_id": collection["collection_id"]})
    stac: str | None = collection.get("stac_item")  # annotated: a key typo is an error
    geometry_type: str | None = collection.get("geometry_type")
    return {
        "collection_id": collection["collection_id"],
        "geometry_type": geometry_type,
        "service_url": items,
        "preview": f"{items}?f=html",
        "viewer": f"{items}?f=html",
        "stac_item": f"/api/stac/collections/{stac.replace('/', '/items/', 1)}" if isinstance(stac, str) else None,
    }


def _services(release: Release) -> dict[str, Any] | None:
    if not release.table_name:
        return None
    # One service per collection: a file mixing geometry types made one per type. The
    # first is also spelled out at the top level (the predecessor's single-service shape).
    collections = [_service(c) for c in _made_collections(release)]
    first = collections[0]
    return {
        "service_url": first["service_url"],
        "preview": first["preview"],
        "viewer": first["viewer"],
        "tiles": None,
        "stac_collection": "/api/stac/collections/system-vectors" if first["stac_item"] else None,
        "stac_item": first["stac_item"],
        "collections": collections,
    }


VECTOR = DataKind(
    data_type=DataType.VECTOR,
    process_job_type="process_vector",
    unpublish_job_type="unpublish_vector",
    options=(
        "table_name",
        "layer_name",
        "lat_column",
        "lon_column",
        "wkt_column",
        "crs",
        "temporal_property",
        "create_stac",
        "overwrite",
    ),
    check=_check,
    job_parameters=_job_parameters,
    unpublish_parameters=_unpublish_parameters,
    publish=_publish,
    withdraw=_withdraw,
    artifacts=_artifacts,
    export=_export,
    services=_services,
    result_keys=RESULT_KEYS,
    extensions=("geojson", "json", "gpkg", "shp", "zip", "csv", "kml", "kmz"),
    files="one",
    files_hint=" (zip a shapefile with its sidecars)",
)
