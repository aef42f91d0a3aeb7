"""The generic HTTP file handler: any URL, change detected by ETag / Last-Modified, then hash.

``location`` is the file's URL. Check: one conditional GET (``If-None-Match`` with the live
version's ETag, ``If-Modified-Since`` with its Last-Modified): 304 -> unchanged. A server
that ignores conditionals but sends the same strong ETag (or the same Last-Modified and
size) also counts as unchanged. Anything else is a candidate; the download's sha256 is the
final word (an identical hash ends the update as unchanged).
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from geoplatform.errors import InvalidInput
from managed.fetch import SourceHttp, file_name_of
from managed.models import ManagedSource, SourceVersion

from . import register
from .base import Candidate, CheckResult, Handler, RemoteFile


@register
class HttpFileHandler(Handler):
    name = "http_file"
    title = "Any file over HTTP(S) (ETag / Last-Modified / sha256)"
    target_kind = "vector"
    other_target_kinds = ("raster", "raster_collection")
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            # The blob's file name when the URL does not end in one with the right extension.
            "file_name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.[A-Za-z0-9]{1,8}$"},
            # Passed to process_vector (crs also to process_raster: a GeoTIFF without one).
            "layer_name": {"type": "string", "minLength": 1},
            "crs": {"type": "string", "pattern": r"^[A-Za-z]+:[0-9A-Za-z.]+$"},
        },
        "additionalProperties": False,
    }

    def location_clean(self, location: str) -> str:
        parts = urlsplit(location)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(
                f"location: {location!r} is not an http(s) URL.",
                code="invalid_managed_source",
                details={"field": "location"},
            )
        return location

    def check(self, source: ManagedSource, last: SourceVersion | None, http: SourceHttp) -> CheckResult:
        url = source.location
        if last is None:
            return CheckResult.new(Candidate(url=url), "first version")
        changed, response = http.conditional_get(url, etag=last.etag, last_modified=last.last_modified)
        etag = response.headers.get("ETag", "")
        modified = response.headers.get("Last-Modified", "")
        if not changed:
            return CheckResult.unchanged("304 Not Modified")
        if etag and etag == last.etag and not etag.startswith("W/"):
            return CheckResult.unchanged("same ETag")
        if (
            not etag
            and modified
            and modified == last.last_modified
            and response.headers.get("Content-Length") == str(last.bytes)
        ):
            return CheckResult.unchanged("same Last-Modified and size")
        return CheckResult.new(Candidate(label="", url=url, etag=etag, last_modified=modified), "changed")

    def files(self, source: ManagedSource, candidate: Candidate) -> list[RemoteFile]:
        name = (source.settings or {}).get("file_name") or file_name_of(candidate.url)
        return [RemoteFile(url=candidate.url, blob_name=name)]
