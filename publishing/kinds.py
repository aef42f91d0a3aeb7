"""What a release of each data kind leaves behind, declared once per data type.

The unpublish dry run, the live unpublish and the copy to the external zone all ask
``kind_of(release).artifacts(release)``; each kind's ``artifacts`` is the dry-run listing of
the very function its unpublish job runs live (``features.services.dataset_unpublish``,
``rasters.services.raster_unpublish``, ``raster_collection_unpublish``), plus the copies in
the external zone that the ``externalize_release`` removal deletes. So what a dry run lists
is what the live run removes, and what a public approval copies out is named in one place.

This is the seed of issue #11 (one publishing adapter per data kind): a kind will also
declare its jobs, its services and how it is published and withdrawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from features import selectors as features_selectors
from features import services as features_services
from features.errors import CollectionNotFound
from geoplatform.storage import check_blob_name, zone_container, zone_storage
from rasters import services as rasters_services

from .models import DataType, Release


@dataclass(frozen=True)
class Artifacts:
    """Everything of one release that exists now, by where it lives."""

    tables: tuple[str, ...] = ()  # "geo.<table>"
    collections: tuple[str, ...] = ()  # OGC API Features collections (vector metadata rows)
    stac_collections: tuple[str, ...] = ()
    stac_items: tuple[str, ...] = ()  # "<collection>/<item>"
    searches: tuple[str, ...] = ()  # registered mosaic searches
    silver_blobs: tuple[str, ...] = ()  # everything of the release in the silver zone
    # The silver blobs a public approval copies to the external zone (a raster's served COGs,
    # not an earlier run's; a vector's GeoParquet exports).
    copy_blobs: tuple[str, ...] = ()
    external_blobs: tuple[str, ...] = ()  # copies in the external zone

    def as_dict(self) -> dict[str, Any]:
        silver, external = zone_container("silver"), zone_container("external")
        return {
            "tables": list(self.tables),
            "collections": list(self.collections),
            "stac_collections": list(self.stac_collections),
            "stac_items": list(self.stac_items),
            "searches": list(self.searches),
            "silver_container": silver,
            "silver_blobs": list(self.silver_blobs),
            "external_container": external,
            "external_blobs": list(self.external_blobs),
            # Both zones in one list, as "<container>/<blob>" (the field DDH read before).
            "blobs": [f"{silver}/{b}" for b in self.silver_blobs] + [f"{external}/{b}" for b in self.external_blobs],
        }


def _no_export(release: Release) -> list[str]:
    return []


@dataclass(frozen=True)
class DataKind:
    data_type: str
    # What the release has now (see the module docstring).
    artifacts: Callable[[Release], Artifacts]
    # Writes what the external copy needs beyond the job's own outputs (a vector's GeoParquet);
    # returns the blobs written. Runs in the externalize job, before ``artifacts``.
    export: Callable[[Release], list[str]] = field(default=_no_export)


# --- shared pieces -------------------------------------------------------------------------------


def external_copies(release: Release) -> tuple[str, ...]:
    """The release's recorded copies that are in the external zone now."""
    names = {str(c["blob"]) for c in (release.external or {}).get("copies", []) if c.get("blob")}
    if not names:
        return ()
    external = zone_storage("external")
    return tuple(sorted(n for n in names if external.exists(check_blob_name(n))))


def reported_blobs(release: Release) -> list[str]:
    """Silver blobs the release's job named in its result: ``silver_blobs``, ``blobs``,
    ``cog_blobs``, ``cog_blob``, and a raster STAC item's ``geoplatform:blob`` assets."""
    from catalog.selectors import item_get

    outputs = release.outputs
    names: list[str] = []
    for key in ("silver_blobs", "blobs", "cog_blobs"):
        value = outputs.get(key)
        if isinstance(value, list):
            names.extend(str(v) for v in value)
    if isinstance(outputs.get("cog_blob"), str):
        names.append(outputs["cog_blob"])
    item = outputs.get("stac_item")
    if not isinstance(item, dict) and release.stac_item_id:
        item = item_get(collection_id=release.stac_collection_id, item_id=release.stac_item_id)
    if isinstance(item, dict):
        silver = zone_container("silver")
        for asset in (item.get("assets") or {}).values():
            blob = asset.get("geoplatform:blob") if isinstance(asset, dict) else None
            if isinstance(blob, str) and asset.get("geoplatform:container", silver) == silver:
                names.append(blob)
    return sorted({check_blob_name(n) for n in names})


# --- vector ----------------------------------------------------------------------------------------


def _vector_artifacts(release: Release) -> Artifacts:
    """The table(s) of the release (a file mixing geometry types made ``_point`` / ``_line`` /
    ``_polygon`` ones), their metadata rows, STAC items and GeoParquet exports."""
    external = external_copies(release)
    if not release.table_name:
        return Artifacts(external_blobs=external)
    plan = features_services.dataset_unpublish(collection_id=release.table_name, dry_run=True)["would_remove"]
    silver = tuple(sorted({*plan["silver_blobs"], *_existing_silver(reported_blobs(release))}))
    return Artifacts(
        tables=tuple(plan["tables"]),
        collections=tuple(plan["collections"]),
        stac_items=tuple(plan["stac_items"]),
        silver_blobs=silver,
        copy_blobs=silver,
        external_blobs=external,
    )


def _existing_silver(names: list[str]) -> list[str]:
    silver = zone_storage("silver")
    return [n for n in names if silver.exists(n)]


def _vector_export(release: Release) -> list[str]:
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


# --- rasters -----------------------------------------------------------------------------------------


def _raster_artifacts(release: Release) -> Artifacts:
    external = external_copies(release)
    if not release.stac_item_id:
        return Artifacts(external_blobs=external)
    plan = rasters_services.raster_unpublish(
        collection_id=release.stac_collection_id, item_id=release.stac_item_id, dry_run=True
    )
    return Artifacts(
        stac_items=tuple(plan["stac_items"]),
        silver_blobs=tuple(sorted(plan["blobs"])),
        copy_blobs=tuple(_existing_silver(reported_blobs(release))),
        external_blobs=external,
    )


def _raster_collection_artifacts(release: Release) -> Artifacts:
    external = external_copies(release)
    if not release.stac_collection_id:
        return Artifacts(external_blobs=external)
    plan = rasters_services.raster_collection_unpublish(collection_id=release.stac_collection_id, dry_run=True)
    return Artifacts(
        stac_collections=(plan["stac_collection"],) if plan["stac_collection"] else (),
        stac_items=tuple(plan["stac_items"]),
        searches=tuple(plan["searches"]),
        silver_blobs=tuple(sorted(plan["blobs"])),
        copy_blobs=tuple(_existing_silver(reported_blobs(release))),
        external_blobs=external,
    )


def _zarr_artifacts(release: Release) -> Artifacts:
    return Artifacts(external_blobs=external_copies(release))


KINDS: dict[str, DataKind] = {
    kind.data_type: kind
    for kind in (
        DataKind(DataType.VECTOR, artifacts=_vector_artifacts, export=_vector_export),
        DataKind(DataType.RASTER, artifacts=_raster_artifacts),
        DataKind(DataType.RASTER_COLLECTION, artifacts=_raster_collection_artifacts),
        DataKind(DataType.ZARR, artifacts=_zarr_artifacts),
    )
}


def kind_of(release: Release) -> DataKind:
    return KINDS[release.data_type]


def release_artifacts(release: Release) -> Artifacts:
    return kind_of(release).artifacts(release)
