"""Copies of approved public releases in the external zone (silver -> external).

On Azure the copy is server-side (``start_copy_from_url`` with a short read SAS on the
source), so bytes never pass through the worker; with the local backend it is a stream
copy. Every copy is verified (size and SHA-256 of both sides) and idempotent: a copy that
is already there and identical is not made again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from django.core.files.storage import Storage

from geoplatform.storage import check_blob_name, zone_storage
from ingest.errors import PermanentError, RetryableError

_CHUNK = 4 * 1024 * 1024


def _sha256(storage: Storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_azure(storage: Storage) -> bool:
    return hasattr(storage, "client") and hasattr(storage, "service_client")


def _server_side_copy(src: Storage, dst: Storage, name: str) -> None:
    credential = src.service_client.credential  # type: ignore[attr-defined]
    sas = generate_blob_sas(
        account_name=credential.account_name,
        container_name=src.azure_container,  # type: ignore[attr-defined]
        blob_name=name,
        account_key=credential.account_key,
        permission=BlobSasPermissions(read=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    source_url = src.client.get_blob_client(name).url + "?" + sas  # type: ignore[attr-defined]
    target = dst.client.get_blob_client(name)  # type: ignore[attr-defined]
    target.start_copy_from_url(source_url)
    deadline = time.monotonic() + 3600
    while True:
        props = target.get_blob_properties()
        status = props.copy.status
        if status == "success":
            return
        if status in {"failed", "aborted"}:
            raise RetryableError(f"Server-side copy of {name!r} ended {status}: {props.copy.status_description}")
        if time.monotonic() > deadline:
            raise RetryableError(f"Server-side copy of {name!r} did not finish within an hour.")
        time.sleep(0.2)


def blob_copy(*, name: str) -> dict[str, Any]:
    """Copy one silver blob to the external zone, verified; a no-op if an identical copy exists."""
    src, dst = zone_storage("silver"), zone_storage("external")
    check_blob_name(name)
    if not src.exists(name):
        raise PermanentError(f"The release artifact {name!r} is missing from the silver zone.", code="artifact_missing")
    size = int(src.size(name))
    checksum = _sha256(src, name)
    copied = False
    if not (dst.exists(name) and int(dst.size(name)) == size and _sha256(dst, name) == checksum):
        if _is_azure(src) and _is_azure(dst):
            _server_side_copy(src, dst, name)
        else:
            with src.open(name, "rb") as fh:
                dst.save(name, fh)
        copied = True
        if int(dst.size(name)) != size or _sha256(dst, name) != checksum:
            dst.delete(name)
            raise RetryableError(f"The external copy of {name!r} does not match the source; it was removed.")
    return {"blob": name, "size": size, "sha256": checksum, "url": dst.url(name), "copied": copied}


def blob_remove(*, name: str) -> dict[str, Any]:
    dst = zone_storage("external")
    check_blob_name(name)
    existed = bool(dst.exists(name))
    dst.delete(name)
    return {"blob": name, "removed": existed}
