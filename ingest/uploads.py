"""Raw uploads into a bronze container, for clients without direct storage access."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest

from geoplatform import storage as blobs
from geoplatform.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from geoplatform.storage import check_blob_name

from .selectors import jobs_reading_blob


class _HashingReader:
    """Wraps the upload so the checksum is computed while storage reads it once."""

    def __init__(self, upload: UploadedFile) -> None:
        self.upload = upload
        self.digest = hashlib.sha256()
        self.name = upload.name
        self.size = upload.size

    def read(self, size: int = -1) -> bytes:
        chunk = self.upload.read(size)
        self.digest.update(chunk)
        return bytes(chunk)

    def chunks(self, chunk_size: int = 4 * 1024 * 1024) -> Any:
        self.upload.seek(0)
        for chunk in self.upload.chunks(chunk_size):
            self.digest.update(chunk)
            yield chunk

    def seek(self, *args: int) -> int:
        return int(self.upload.seek(*args))

    def tell(self) -> int:
        return int(self.upload.tell())


# Multipart framing around the file (boundaries, part headers, the "name" field).
_MULTIPART_SLACK = 64 * 1024


def _too_large(what: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what}; the limit is {limit} bytes.",
        remediation="Split the file, or ask an operator to raise GEOPLATFORM_UPLOAD_MAX_BYTES.",
    )


def check_upload_length(request: HttpRequest) -> None:
    """Refuse an upload before its body is read: over the limit by its Content-Length (the
    client has sent its headers, not the file), or without a Content-Length (chunked), which
    Django reads as an empty body. Django never reads past the Content-Length, so what reaches
    the temporary file is bounded by the limit plus the multipart framing."""
    limit = int(settings.GEOPLATFORM_UPLOAD_MAX_BYTES)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length == 0 and request.META.get("HTTP_TRANSFER_ENCODING"):
        raise InvalidInput(
            "The upload has no Content-Length (chunked transfer encoding).",
            code="length_required",
            status_code=411,
            remediation="Send the file with a Content-Length header (curl -F does).",
        )
    if length > limit + _MULTIPART_SLACK:
        raise _too_large(f"The request is {length} bytes", limit)


def overwrite_asked(*values: str | None) -> bool:
    """``overwrite`` from the query string or the form: true/false (1/0, yes/no); else 400."""
    asked = False
    for value in values:
        if value in (None, ""):
            continue
        text = str(value).strip().lower()
        if text not in {"true", "1", "yes", "false", "0", "no"}:
            raise InvalidInput(f"overwrite must be true or false, not {value!r}.", code="invalid_overwrite")
        asked = asked or text in {"true", "1", "yes"}
    return asked


def _readers(container: str, name: str) -> list[str]:
    """Who reads the blob: running jobs (this app), releases and others (the storage registry)."""
    jobs = [
        f"job {job.id} ({job.job_type}, {job.status})" for job in jobs_reading_blob(container=container, name=name)[:5]
    ]
    return jobs + blobs.blob_users(container, name)


def upload_store(
    *, container: str, upload: UploadedFile | None, name: str | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Store an upload under ``name``. An existing blob is replaced only when ``overwrite`` is
    asked, and never while a job or a release reads it (409 naming them)."""
    allowed = settings.GEOPLATFORM_UPLOAD_CONTAINERS
    if container not in allowed:
        raise NotFound(
            f"Container {container!r} does not accept uploads.",
            code="unknown_container",
            details={"upload_containers": allowed},
        )
    if upload is None:
        raise InvalidInput("No file: send it as the multipart field 'file'.", code="missing_file")
    limit = int(settings.GEOPLATFORM_UPLOAD_MAX_BYTES)
    if upload.size is not None and upload.size > limit:
        raise _too_large(f"The file is {upload.size} bytes", limit)
    if not upload.size:
        raise InvalidInput(
            "The file is empty (0 bytes).", code="empty_file", remediation="Check the file and send it again."
        )
    target = name if name is not None else os.path.basename(upload.name or "")
    target = check_blob_name(target)
    if overwrite:
        readers = _readers(container, target)
        if readers:
            raise Conflict(
                f"{target!r} is in use and cannot be replaced: {'; '.join(readers)}.",
                code="blob_in_use",
                details={"used_by": readers},
                remediation="Upload the new data under another name and submit it as a new version "
                "(or wait for the job to finish).",
            )
    reader = _HashingReader(upload)
    saved = blobs.blob_save(container, target, reader, size=upload.size, overwrite=overwrite)
    return {"container": container, "name": saved, "size": upload.size, "sha256": reader.digest.hexdigest()}
