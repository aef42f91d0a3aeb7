"""The publishing adapters: one :class:`DataKind` per data type, in a registry keyed by it.

Why publishing holds the registry and declares the kinds (``vector.py``, ``raster.py``,
``raster_collection.py``, ``zarr.py``, ``h3_stats.py``) instead of each domain app declaring its own: the
import layers put publishing above features and rasters (they may not import publishing),
and a registry below them (in ingest) would teach the engine what a release is. So the
adapter of a kind lives here and calls into its app's services, selectors and URL helpers.
A new kind is one module here plus one line in :data:`KINDS`; tests register kinds of
their own with ``monkeypatch.setitem(kinds.KINDS, name, kind)`` (see
tests/publishing/test_kinds.py).

What the state machine asks of a kind, besides its declaration: :func:`detect` (which kind
a submit is), :func:`job_type_get` and :func:`options_clean` (processing options checked
against the job type's own Params).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geoplatform.errors import ApplicationError, InvalidInput
from ingest import registry

from ..errors import ProcessingUnavailable
from ..models import Release
from .base import Artifacts, DataKind, JobPlan, Submission, external_copies, reported_blobs
from .h3_stats import H3_STATS
from .raster import RASTER
from .raster_collection import RASTER_COLLECTION
from .vector import VECTOR
from .zarr import ZARR

__all__ = [
    "KINDS",
    "Artifacts",
    "DataKind",
    "JobPlan",
    "Submission",
    "detect",
    "external_copies",
    "job_type_get",
    "kind_get",
    "kind_of",
    "options_clean",
    "release_artifacts",
    "reported_blobs",
]

# In detection order: of two kinds taking the same extensions, the first whose ``files`` fits wins.
# A kind with a ``source_field`` is chosen by that field alone (never by a file name).
KINDS: dict[str, DataKind] = {kind.data_type: kind for kind in (VECTOR, RASTER, RASTER_COLLECTION, ZARR, H3_STATS)}


def kind_get(data_type: str) -> DataKind:
    return KINDS[data_type]


def kind_of(release: Release) -> DataKind:
    return KINDS[release.data_type]


def release_artifacts(release: Release) -> Artifacts:
    return kind_of(release).artifacts(release)


def stac_collection_owners() -> list[str]:
    """Data types whose release owns its whole STAC collection (the review gate guards all its items)."""
    return [kind.data_type for kind in KINDS.values() if kind.owns_stac_collection]


# --- which kind a submit is -----------------------------------------------------------------------


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _extensions_help() -> str:
    """'Vector: geojson json ...; raster: tif tiff; zarr: nc zarr.' (kinds sharing extensions once)."""
    seen: list[tuple[str, ...]] = []
    parts = []
    for kind in KINDS.values():
        if kind.extensions and kind.extensions not in seen:
            seen.append(kind.extensions)
            parts.append(f"{kind.data_type}: {' '.join(kind.extensions)}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def detect(
    *, file_name: str | list[str] | None, source_url: str | None, fields: Mapping[str, Any] | None = None
) -> DataKind:
    """The kind of a submit: from a kind's ``source_field`` present in the request (``fields``),
    else ``source_url`` (a kind reading a URL), else the file extension(s) and how many files
    there are. A source field goes with no file and no URL: one source per submit."""
    named = [kind for kind in KINDS.values() if kind.source_field and (fields or {}).get(kind.source_field)]
    if named:
        given = [f"'{k.source_field}'" for k in named] + [
            f"'{name}'" for name, value in (("file_name", file_name), ("source_url", source_url)) if value
        ]
        if len(given) > 1:
            raise InvalidInput(
                f"Give one source per submit, not {' and '.join(given)}.",
                code="mixed_sources",
                remediation="Submit each source as its own resource.",
            )
        return named[0]
    if source_url:
        for kind in KINDS.values():
            if kind.from_source_url:
                return kind
        raise InvalidInput("No data kind on this platform reads a 'source_url'.", code="unsupported_format")
    names = [file_name] if isinstance(file_name, str) else list(file_name or [])
    if not names:
        fields_help = "".join(f" or '{k.source_field}'" for k in KINDS.values() if k.source_field)
        raise InvalidInput(f"Give 'file_name' (a string or a list), 'source_url'{fields_help}.", code="missing_source")
    families: set[tuple[str, ...]] = set()
    candidates: list[DataKind] = []
    for name in names:
        ext = _extension(name)
        candidates = [kind for kind in KINDS.values() if ext and ext in kind.extensions]
        if not candidates:
            raise InvalidInput(
                f"Unsupported file extension {ext or '(none)'!r} in {name!r}.",
                code="unsupported_format",
                remediation=_extensions_help(),
            )
        families.add(tuple(kind.data_type for kind in candidates))
    if len(families) > 1:
        raise InvalidInput("All files of one submission must be of the same data type.", code="mixed_data_types")
    many = len(names) > 1
    for kind in candidates:
        if kind.files == "any" or (kind.files == "many") == many:
            return kind
    raise InvalidInput(f"A {candidates[0].data_type} release takes exactly one file{candidates[0].files_hint}.")


# --- its jobs --------------------------------------------------------------------------------------


def job_type_get(kind: DataKind, name: str) -> registry.JobType:
    """One of the kind's job types, or the kind's "not deployed here" error."""
    try:
        return registry.get(name)
    except InvalidInput:
        error: ApplicationError = (
            kind.unavailable(name)
            if kind.unavailable is not None
            else ProcessingUnavailable(
                f"{kind.data_type} processing (job type {name!r}) is not available on this platform yet.",
                remediation="Ask the platform team to deploy the app that provides it; nothing was created.",
            )
        )
        raise error from None


def options_clean(kind: DataKind, job_type: registry.JobType, raw: Any) -> dict[str, Any]:
    """``processing_options``: the kind's option names, each checked by the job type's own
    Param (type, choices, bounds). Unknown keys are a 400 naming them."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput("'processing_options' must be a JSON object.")
    spec = {p.name: p for p in job_type.params if p.name in kind.options}
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise InvalidInput(
            f"Unknown processing option(s) for {kind.data_type}: {', '.join(unknown)}.",
            code="unknown_option",
            details={"unknown": unknown, "allowed": sorted(spec)},
            remediation=f"Allowed options for {kind.data_type}: {', '.join(sorted(spec))}.",
        )
    cleaned: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        try:
            cleaned[name] = spec[name].clean(value)
        except InvalidInput as exc:  # say where the value came from
            raise InvalidInput(exc.message.replace("Parameter", "Processing option", 1)) from None
    return cleaned
