"""Raw uploads into a bronze container, for clients without direct storage access."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from geoplatform.errors import InvalidInput, NotFound, PayloadTooLarge
from geoplatform.storage import check_blob_name, get_storage


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


def upload_store(*, container: str, upload: UploadedFile | None, name: str | None = None) -> dict[str, Any]:
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
        raise PayloadTooLarge(
            f"The file is {upload.size} bytes; the limit is {limit} bytes.",
            remediation="Split the file, or ask an operator to raise GEOPLATFORM_UPLOAD_MAX_BYTES.",
        )
    target = name if name is not None else os.path.basename(upload.name or "")
    check_blob_name(target)
    storage = get_storage(container)
    reader = _HashingReader(upload)
    saved = storage.save(target, reader)  # type: ignore[arg-type]
    return {"container": container, "name": saved, "size": upload.size, "sha256": reader.digest.hexdigest()}
