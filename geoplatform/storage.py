"""Storage zones (bronze / silver / external) through django-storages.

``GEOPLATFORM_STORAGE_BACKEND=local`` keeps each container as a folder
``<GEOPLATFORM_STORAGE_ROOT>/<container>/``; ``azure`` uses Azure Blob containers
(Azurite in tests). Every module reads and writes files through this one, so the
Azure path is the same code as the local one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage

from .errors import InvalidInput, NotFound

ZONES = ("bronze", "silver", "external")
_CONTAINER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
_NAME_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")

_lock = threading.Lock()
_storages: dict[tuple[str, str], Storage] = {}


def zone_container(zone: str) -> str:
    try:
        return str(settings.GEOPLATFORM_ZONES[zone])
    except KeyError as exc:
        raise InvalidInput(f"Unknown storage zone {zone!r}; zones are {', '.join(ZONES)}.") from exc


def check_container_name(container: str) -> str:
    """Azure's container rules (3-63 chars, lowercase letters, digits, single hyphens)."""
    if not _CONTAINER_RE.match(container):
        raise InvalidInput(
            f"Invalid container name {container!r}.",
            remediation="Use 3-63 lowercase letters, digits and single hyphens.",
        )
    return container


def check_blob_name(name: str) -> str:
    """A relative path of safe parts: no '..', no absolute path, no odd characters."""
    parts = name.split("/")
    if not name or len(name) > 1024 or any(not _NAME_PART_RE.match(p) or p in {".", ".."} for p in parts):
        raise InvalidInput(
            f"Invalid file name {name!r}.",
            remediation="Use letters, digits, '.', '_' and '-' (folders separated by '/'); no '..'.",
        )
    return name


def _azure_storage(container: str) -> Storage:
    from storages.backends.azure_storage import AzureStorage

    connection_string = settings.GEOPLATFORM_AZURE_CONNECTION_STRING
    if not connection_string:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("GEOPLATFORM_AZURE_CONNECTION_STRING is required with the azure backend.")
    storage = AzureStorage(connection_string=connection_string, azure_container=container, overwrite_files=True)
    from azure.core.exceptions import ResourceExistsError

    try:
        storage.client.create_container()  # type: ignore[attr-defined]
    except ResourceExistsError:
        pass
    return storage


def get_storage(container: str) -> Storage:
    """The storage of one container, created on first use."""
    check_container_name(container)
    backend = settings.GEOPLATFORM_STORAGE_BACKEND
    key = (backend, container)
    with _lock:
        if key not in _storages:
            if backend == "local":
                location = Path(settings.GEOPLATFORM_STORAGE_ROOT) / container
                location.mkdir(parents=True, exist_ok=True)
                _storages[key] = FileSystemStorage(location=str(location), allow_overwrite=True)
            elif backend == "azure":
                _storages[key] = _azure_storage(container)
            else:
                from django.core.exceptions import ImproperlyConfigured

                raise ImproperlyConfigured(f"GEOPLATFORM_STORAGE_BACKEND must be local or azure, not {backend!r}.")
        return _storages[key]


def zone_storage(zone: str) -> Storage:
    return get_storage(zone_container(zone))


def reset_cache() -> None:
    """Forget storages (tests that switch backend)."""
    with _lock:
        _storages.clear()


def blob_size(container: str, name: str) -> int:
    storage = get_storage(container)
    check_blob_name(name)
    if not storage.exists(name):
        raise NotFound(f"No file {name!r} in container {container!r}.", code="file_not_found")
    return int(storage.size(name))


@contextlib.contextmanager
def local_copy(container: str, name: str, suffix: str | None = None) -> Iterator[Path]:
    """A local path to read a stored file with GDAL; a temporary download for Azure."""
    storage = get_storage(container)
    check_blob_name(name)
    if not storage.exists(name):
        raise NotFound(f"No file {name!r} in container {container!r}.", code="file_not_found")
    if isinstance(storage, FileSystemStorage):
        yield Path(storage.path(name))
        return
    tmpdir = tempfile.mkdtemp(prefix="geoplatform-")
    try:
        target = Path(tmpdir) / (os.path.basename(name) if suffix is None else "data" + suffix)
        with storage.open(name, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, length=4 * 1024 * 1024)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def container_probe(container: str) -> dict[str, bool]:
    """Whether a container can be reached, by a read only (health checks).

    Never creates nor writes anything, unlike :func:`get_storage` (which creates a missing
    container on first use): a container that does not exist yet is reachable, it will be
    created by the first write. Raises when the backend cannot be reached or refuses us.
    """
    check_container_name(container)
    backend = settings.GEOPLATFORM_STORAGE_BACKEND
    if backend == "local":
        location = Path(settings.GEOPLATFORM_STORAGE_ROOT) / container
        if location.is_dir():
            if not os.access(location, os.R_OK | os.W_OK | os.X_OK):
                raise PermissionError(f"storage folder {location} is not readable and writable")
            return {"exists": True}
        parent = next(p for p in location.parents if p.exists())  # where mkdir would start
        if not os.access(parent, os.W_OK | os.X_OK):
            raise PermissionError(f"storage folder {location} cannot be created")
        return {"exists": False}
    if backend != "azure":
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"GEOPLATFORM_STORAGE_BACKEND must be local or azure, not {backend!r}.")
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import ContainerClient

    connection_string = settings.GEOPLATFORM_AZURE_CONNECTION_STRING or ""
    client = _probe_clients.get((connection_string, container))
    if client is None:
        # No retries and short timeouts: a health check must answer, not wait out a backoff.
        client = ContainerClient.from_connection_string(
            connection_string,
            container,
            retry_total=0,
            connection_timeout=3,
            read_timeout=3,
        )
        _probe_clients[(connection_string, container)] = client
    try:
        client.get_container_properties()
    except ResourceNotFoundError:
        return {"exists": False}
    return {"exists": True}


_probe_clients: dict[tuple[str, str], Any] = {}
