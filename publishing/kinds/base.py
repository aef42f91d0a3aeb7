"""The shape of a publishing adapter: what the release state machine needs of one data kind.

A :class:`DataKind` is declared once per data type (``publishing/kinds/<kind>.py``) in the
frozen-dataclass style of :class:`ingest.registry.JobType`. The state machine
(:mod:`publishing.services`, :mod:`publishing.selectors`, :mod:`publishing.jobtypes`) only
ever calls ``kind_of(release).<function>``: it never branches on the data type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from catalog.selectors import item_get
from geoplatform.errors import ApplicationError, InvalidInput
from geoplatform.storage import check_blob_name, zone_container, zone_storage

from ..models import Release


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


@dataclass(frozen=True)
class Submission:
    """One checked submit, as a kind turns it into its processing job's parameters."""

    data: dict[str, Any]  # the DDH request body
    options: dict[str, Any]  # processing_options, checked against the job type's Params
    ordinal: int  # the release's version ordinal
    release_meta: dict[str, Any]  # ids and tags of the release (a raster copies them into its STAC item)

    @property
    def file_name(self) -> str:
        """The one file of a single-file kind."""
        name = self.data["file_name"]
        return name if isinstance(name, str) else name[0]


# (job parameters, where the outputs will be served: table_name / stac_collection_id / stac_item_id)
JobPlan = tuple[dict[str, Any], dict[str, str]]


def _nothing(*args: Any) -> None:
    return None


def _no_export(release: Release) -> list[str]:
    return []


def _no_services(release: Release) -> dict[str, Any] | None:
    return None


@dataclass(frozen=True)
class DataKind:
    """One data kind's publishing adapter. Functions, not subclasses: a kind is a declaration."""

    data_type: str
    # Job types by name (publishing submits them through ingest; tests may swap the names).
    process_job_type: str
    unpublish_job_type: str
    # Submit -> (job parameters, where the outputs will be served).
    job_parameters: Callable[[Submission], JobPlan]
    # The release -> its unpublish job's parameters.
    unpublish_parameters: Callable[[Release], dict[str, Any]]
    # What the release has now: the dry-run listing of what its unpublish job removes, plus
    # the external copies (see :func:`external_copies`).
    artifacts: Callable[[Release], Artifacts]
    # Names of the processing job type's Params a submitter may set as ``processing_options``:
    # their types, choices and bounds are the job type's (never re-declared here).
    options: tuple[str, ...] = ()
    # Checks of a submit beyond the Params (needs a container, options that go together,
    # a multi-layer file needs a layer): raise InvalidInput. Runs before anything is written.
    check: Callable[[Submission], None] = _nothing
    # Approval shows the outputs (inside the approval transaction: raising rolls it back);
    # revoke hides them again (idempotent).
    publish: Callable[[Release], None] = _nothing
    withdraw: Callable[[Release], None] = _nothing
    # Where an approved release is served (the ``services`` of its status body), built from
    # the owning app's own URL helpers.
    services: Callable[[Release], dict[str, Any] | None] = _no_services
    # Writes what the external copy needs beyond the job's own outputs (a vector's GeoParquet);
    # returns the blobs written. Runs in the externalize job, before ``artifacts``.
    export: Callable[[Release], list[str]] = _no_export
    # The keys of the processing job's result that name silver blobs of the release (a list
    # or one name each); see :func:`reported_blobs`.
    result_keys: tuple[str, ...] = ()
    # Detection from the submit: the file extensions the kind takes, how many files
    # ("one" | "many" | "any"), and whether a ``source_url`` (no file) means this kind.
    extensions: tuple[str, ...] = ()
    files: Literal["one", "many", "any"] = "one"
    files_hint: str = ""  # appended to "A <kind> release takes exactly one file"
    from_source_url: bool = False
    # A request field naming the kind's source when it is no file (``h3_dataset``: a
    # statistics dataset already on the platform). Given, it alone selects the kind.
    source_field: str = ""
    # True when the release owns its whole STAC collection (the review gate then guards
    # every item of it, not only the release's own item).
    owns_stac_collection: bool = False
    # The error when its job type is not deployed (default: ProcessingUnavailable naming it).
    unavailable: Callable[[str], ApplicationError] | None = field(default=None)


# --- shared pieces -------------------------------------------------------------------------------


def container_required(sub: Submission) -> None:
    if not sub.data.get("container_name"):
        raise InvalidInput("'container_name' is required with 'file_name'.", code="missing_container")


def external_copies(release: Release) -> tuple[str, ...]:
    """The release's recorded copies that are in the external zone now."""
    names = {str(c["blob"]) for c in (release.external or {}).get("copies", []) if c.get("blob")}
    if not names:
        return ()
    external = zone_storage("external")
    return tuple(sorted(n for n in names if external.exists(check_blob_name(n))))


def reported_blobs(release: Release, keys: tuple[str, ...]) -> list[str]:
    """Silver blobs the release's job named in its result under ``keys`` (the kind's
    ``result_keys``), and a STAC item's ``geoplatform:blob`` assets."""
    outputs = release.outputs
    names: list[str] = []
    for key in keys:
        value = outputs.get(key)
        if isinstance(value, list):
            names.extend(str(v) for v in value)
        elif isinstance(value, str):
            names.append(value)
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


def existing_silver(names: list[str]) -> list[str]:
    silver = zone_storage("silver")
    return [n for n in names if silver.exists(n)]


def common_parameters(sub: Submission) -> dict[str, Any]:
    """The processing parameters every file-based kind takes from a submit."""
    return {
        "container_name": sub.data.get("container_name"),
        "title": sub.data.get("title") or None,
        "description": sub.data.get("description") or None,
        "overwrite": sub.options.get("overwrite"),
    }


def without_none(params: dict[str, Any]) -> dict[str, Any]:
    """Unset options are left to the job type's defaults."""
    return {k: v for k, v in params.items() if v is not None}
