"""The handler interface: what a kind of source must say so the update job can keep it current.

A new handler is one class (see docs/apps/managed.md)::

    class NaturalEarthAdmin0(Handler):
        name = "natural_earth_admin0"
        target_kind = "vector"
        settings_schema = {"type": "object", "properties": {"scale": {"enum": ["10m", "50m", "110m"]}},
                           "additionalProperties": False}

        def check(self, source, last, http):      # cheapest first; <= 3 requests when unchanged
            ...
        def files(self, source, candidate):       # what to download (defaults to candidate.url)
            ...

    handlers.register(NaturalEarthAdmin0)

The update job (managed/update.py) calls, in order:

1. ``check(source, last, http)`` -> :class:`CheckResult`: unchanged (the update ends; no
   version row, no job) or a :class:`Candidate` (label, url, etag, last_modified, extra).
   Runs synchronously in the trigger/scheduler, so keep it to a few requests (``http``
   counts them, with the timeouts of ``GEOPLATFORM_MANAGED_HTTP_TIMEOUT``).
2. ``files(source, candidate)`` -> [:class:`RemoteFile`]: each streamed to the bronze zone
   (``managed/<source>/v<number>/<blob_name>``) with its sha256 computed on the way; Range
   resumes a cut download. When every file hashes as the live version did, the version is
   ``unchanged`` and its blobs are removed.
3. ``prepare(source, candidate, blobs)`` -> blob names to ingest (optional transform, e.g.
   WDPA mapping two schemas to one; write new blobs with ``geoplatform.storage`` into the
   same bronze prefix ``blobs[0]``'s folder and return their names).
4. ``ingest(source, candidate, blobs, target)`` -> :class:`IngestPlan`: which EXISTING job
   type (process_vector, process_raster, process_raster_collection) with which parameters,
   loading into ``target`` (a version-specific table / collection readers do not see:
   always ``publish=False``). The default builds it from ``target_kind``.
5. after the gate and the swap, ``style(source)`` -> CartoSym-JSON or None, handed to the
   styles app for the stable collection id.

Errors: raise ``HandlerError`` (permanent: bad data / bad settings, message says what to fix)
or ``SourceUnavailable`` (transient: 5xx, timeouts); anything else fails the stage too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from geoplatform.errors import InvalidInput

if TYPE_CHECKING:
    from managed.fetch import SourceHttp
    from managed.models import ManagedSource, SourceVersion


class HandlerError(InvalidInput):
    """The source or its settings are wrong (never retried): the message says what to fix."""

    code = "managed_handler_error"


class SourceUnavailable(HandlerError):
    """The source did not answer well (5xx, timeout, short body): try again later."""

    code = "managed_source_unavailable"
    retryable = True
    category = "transient"
    user_fixable = False
    error_source = "source"


@dataclass
class Candidate:
    """What ``check`` found: a version that may differ from the live one.

    ``label`` is the source's own version name (e.g. "5.1.1", "2025-11"); empty when the
    source has none (the HTTP handler then uses the ETag or the hash). ``extra`` carries
    handler data to the later steps (tile list, STAC item ids...): JSON-safe only, it is
    stored on the version (``SourceVersion.candidate``) so a resumed job sees it.
    """

    label: str = ""
    url: str = ""
    etag: str = ""
    last_modified: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        known = {k: data[k] for k in ("label", "url", "etag", "last_modified", "extra") if k in data}
        return cls(**known)


@dataclass
class CheckResult:
    """``changed=False``: the live version is current (``reason`` says how we know).
    ``changed=True``: ``candidate`` is what to download."""

    changed: bool
    candidate: Candidate | None = None
    reason: str = ""

    @classmethod
    def unchanged(cls, reason: str) -> CheckResult:
        return cls(False, None, reason)

    @classmethod
    def new(cls, candidate: Candidate, reason: str = "") -> CheckResult:
        return cls(True, candidate, reason)


@dataclass
class RemoteFile:
    """One file to download. ``blob_name`` is relative to the version's bronze folder
    (a plain file name such as ``ne_10m_admin_0_countries.zip``; its extension tells
    process_vector the format). ``headers`` are extra request headers; the source's
    credentials (``credentials_setting``) are added by the downloader as a bearer token
    unless ``auth=False``."""

    url: str
    blob_name: str
    headers: dict[str, str] = field(default_factory=dict)
    auth: bool = True
    size: int | None = None


@dataclass
class Target:
    """Where a version's data goes: names nobody reads until the swap.

    vector: ``table`` (= its hidden collection id) ``<collection_id>__v<number>``;
    raster: the hidden item id (in ``system-rasters``); raster_collection: the hidden STAC
    collection id."""

    kind: str
    name: str
    source_collection_id: str
    number: int

    @property
    def table(self) -> str:
        return self.name


@dataclass
class IngestPlan:
    """An existing job type and its parameters (validated by the ingest registry at submit)."""

    job_type: str
    parameters: dict[str, Any]


class Handler:
    """Base class of every source handler; subclasses set ``name`` and ``target_kind`` and
    implement ``check`` (and ``files`` when the candidate is not one file at ``candidate.url``)."""

    name: ClassVar[str] = ""
    target_kind: ClassVar[str] = "vector"
    # Other target kinds a source of this handler may choose (the generic HTTP handler
    # loads vectors or rasters); ``target_kind`` is always allowed.
    other_target_kinds: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str] = ""
    # JSON Schema of ``ManagedSource.settings`` (an object); a failure is a 400 naming the field.
    settings_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}
    # Whether the source needs a token (``credentials_setting`` must then be set).
    needs_credentials: ClassVar[bool] = False

    # --- 1. check ---------------------------------------------------------------------------
    def check(self, source: ManagedSource, last: SourceVersion | None, http: SourceHttp) -> CheckResult:
        """Is there a new version? Cheapest test first (version label from an index page
        or API, then ``http.conditional_get`` with ``last.etag``/``last.last_modified``,
        then ``http.head``). ``last`` is the live version (None on the first run).
        Unchanged must cost at most 3 requests."""
        raise NotImplementedError

    # --- 2. download ------------------------------------------------------------------------
    def files(self, source: ManagedSource, candidate: Candidate) -> list[RemoteFile]:
        """The files of ``candidate`` to download; default: one file at ``candidate.url``
        named after the URL's last path segment."""
        from managed.fetch import file_name_of

        return [RemoteFile(url=candidate.url, blob_name=file_name_of(candidate.url))]

    # --- 3. prepare (optional) ----------------------------------------------------------------
    def prepare(self, source: ManagedSource, candidate: Candidate, blobs: list[str]) -> list[str]:
        """Transform downloaded blobs before ingest; returns the blob names to ingest.
        Must be idempotent (overwrite its own outputs). Default: no transform."""
        return blobs

    # --- 4. ingest ----------------------------------------------------------------------------
    def ingest(self, source: ManagedSource, candidate: Candidate, blobs: list[str], target: Target) -> IngestPlan:
        """The job that loads ``blobs`` (bronze container) into ``target``, hidden
        (``publish=False``). Default per ``target_kind``: process_vector of the first blob."""
        from managed.update import default_ingest_plan

        return default_ingest_plan(source, candidate, blobs, target)

    # --- 5. style -----------------------------------------------------------------------------
    def style(self, source: ManagedSource) -> dict[str, Any] | None:
        """A CartoSym-JSON style for the stable collection (default: ``source.style``)."""
        return source.style or None

    # --- settings -----------------------------------------------------------------------------
    def location_clean(self, location: str) -> str:
        """Validate ``ManagedSource.location`` (raise ``InvalidInput`` saying what to fix);
        default: any non-empty string."""
        return location

    def settings_clean(self, settings: Any) -> dict[str, Any]:
        """Validate ``settings`` against ``settings_schema``; 400 naming the field."""
        import jsonschema

        if settings is None:
            settings = {}
        validator = jsonschema.Draft202012Validator(self.settings_schema)
        errors = sorted(validator.iter_errors(settings), key=lambda e: list(e.absolute_path))
        if errors:
            problems = []
            for err in errors:
                where = ".".join(str(p) for p in err.absolute_path) or "(settings)"
                problems.append(
                    f"settings.{where}: {err.message}" if where != "(settings)" else f"settings: {err.message}"
                )
            raise InvalidInput(
                f"Invalid settings for handler {self.name!r}: {problems[0]}",
                code="invalid_settings",
                details={"problems": problems, "settings_schema": self.settings_schema},
            )
        return dict(settings)
