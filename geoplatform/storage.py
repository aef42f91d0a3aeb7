"""Storage zones (bronze / silver / external) through django-storages.

``GEOPLATFORM_STORAGE_BACKEND=local`` keeps each container as a folder
``<GEOPLATFORM_STORAGE_ROOT>/<container>/``; ``azure`` uses Azure Blob containers
(Azurite in tests). Every module reads and writes files through this one, so the
Azure path is the same code as the local one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import mimetypes
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, Storage

from .errors import Conflict, InvalidInput, NotFound

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
    """A relative path of safe ASCII parts: no '..', no absolute path, no odd characters.

    Unicode is refused rather than normalised: one name would have two spellings (NFC from
    most systems, NFD from macOS) that look the same and name two different blobs, and names
    travel on into GDAL paths, URLs, table names and STAC ids. The error suggests an ASCII
    spelling (accents dropped) the client can use as is.
    """
    parts = name.split("/")
    if not name or len(name) > 1024 or any(not _NAME_PART_RE.match(p) or p in {".", ".."} for p in parts):
        suggestion = _suggest_blob_name(name)
        raise InvalidInput(
            f"Invalid file name {name!r}.",
            details={"suggested_name": suggestion} if suggestion else None,
            remediation="Use ASCII letters, digits, '.', '_' and '-' (folders separated by '/'); "
            "no '..', no leading '/' or '.'" + (f"; e.g. {suggestion!r}." if suggestion else "."),
        )
    return name


def _suggest_blob_name(name: str) -> str | None:
    if ".." in name.replace("\\", "/").split("/"):
        return None  # a path escape, not a typo: nothing to suggest
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    parts = []
    for part in ascii_name.replace("\\", "/").split("/"):
        cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", part).lstrip(".-_")[:255]
        if cleaned and "." in part and not cleaned.rpartition(".")[0]:
            return None  # nothing of the name's stem survives (e.g. all CJK): no useful suggestion
        if cleaned:
            parts.append(cleaned)
    suggestion = "/".join(parts)[:1024]
    valid = suggestion and all(_NAME_PART_RE.match(p) for p in parts)
    return suggestion if valid and suggestion != name else None


def _azure_storage(container: str) -> Storage:
    # Imported here: the Azure SDK is loaded only with the azure storage backend.
    from storages.backends.azure_storage import AzureStorage

    connection_string = settings.GEOPLATFORM_AZURE_CONNECTION_STRING
    if not connection_string:
        raise ImproperlyConfigured("GEOPLATFORM_AZURE_CONNECTION_STRING is required with the azure backend.")
    storage = AzureStorage(connection_string=connection_string, azure_container=container, overwrite_files=True)
    # Imported here: the Azure SDK is loaded only with the azure storage backend.
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


def blob_exists(container: str, name: str) -> bool:
    check_blob_name(name)
    return bool(get_storage(container).exists(name))


def blob_list(container: str, prefix: str) -> list[str]:
    """Every blob below ``prefix`` (full names, sorted); [] when there is none."""
    storage = get_storage(container)
    found: list[str] = []
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:
        return found
    # Azure's listdir returns every blob below the prefix by its full name (no folders);
    # the file system returns one level of names relative to the folder.
    found.extend(name if name.startswith(prefix + "/") else f"{prefix}/{name}" for name in files)
    for sub in dirs:
        found.extend(blob_list(container, f"{prefix}/{sub}"))
    return sorted(set(found))


def blob_delete(container: str, name: str) -> None:
    """Delete a blob; on the file system also the folders it leaves empty (Azure has none)."""
    storage = get_storage(container)
    storage.delete(name)
    if isinstance(storage, FileSystemStorage):
        root = Path(storage.location).resolve()
        folder = Path(storage.path(name)).parent
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone)
                break
            folder = folder.parent


def blob_href(container: str, name: str) -> str:
    """A URL for a STAC asset: the blob's URL on Azure, a file:// URL for local storage."""
    storage = get_storage(container)
    if settings.GEOPLATFORM_STORAGE_BACKEND == "azure":
        return str(storage.url(name))
    return Path(storage.path(name)).as_uri()


def _not_found(container: str, name: str) -> NotFound:
    return NotFound(f"No file {name!r} in container {container!r}.", code="file_not_found")


def is_remote(container: str) -> bool:
    """Whether the container lives in object storage (Azure) rather than a local folder."""
    return not isinstance(get_storage(container), FileSystemStorage)


def _exists_error(container: str, name: str) -> Conflict:
    return Conflict(
        f"{name!r} already exists in {container!r}.",
        code="blob_exists",
        remediation="Pass overwrite=true to replace it, or choose another name.",
    )


def blob_save(container: str, name: str, content: Any, *, size: int | None, overwrite: bool) -> str:
    """Write ``content`` (a binary file object) as ``name``; 409 if it exists and not ``overwrite``.

    The no-overwrite case is decided by the storage itself (Azure If-None-Match: *, O_EXCL
    locally), so two concurrent uploads of one name cannot both win. A failed write leaves
    no partial file behind.
    """
    storage = get_storage(container)
    check_blob_name(name)
    if isinstance(storage, FileSystemStorage):
        path = Path(storage.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        try:
            with open(staging, "wb") as dst:
                shutil.copyfileobj(content, dst, 4 * 1024 * 1024)
            if overwrite:
                os.replace(staging, path)
            else:
                try:
                    os.link(staging, path)  # fails if the name exists: atomic "create if absent"
                except FileExistsError:
                    raise _exists_error(container, name) from None
        finally:
            staging.unlink(missing_ok=True)
        return name

    # Imported here: the Azure SDK is loaded only with the azure storage backend.
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import ContentSettings

    client = storage.client.get_blob_client(name)  # type: ignore[attr-defined]
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        client.upload_blob(
            content, length=size, overwrite=overwrite, content_settings=ContentSettings(content_type=content_type)
        )
    except ResourceExistsError:
        raise _exists_error(container, name) from None
    return name


# --- counters (tests and diagnostics read them; no behaviour depends on them) ----------------

STATS: Counter[str] = Counter()  # "downloads", "download_bytes", "ranged_reads", "ranged_bytes"
_stats_lock = threading.Lock()


def _count(**amounts: int) -> None:
    with _stats_lock:
        STATS.update(amounts)


# --- reading without downloading: GDAL virtual file systems and ranged reads ------------------
#
# Pre-flight runs inside the web request: it must read the few kilobytes it needs (a
# GeoPackage's header pages, a zip's central directory, a Parquet footer, a CSV header), never
# the whole file. GDAL reads blobs through /vsiaz/ with HTTP range requests; Python code reads
# through :func:`open_ranged`. Each GDAL in the process (rasterio's, pyogrio's, GeoDjango's
# system one) has its own configuration: rasterio's is set per call with rasterio.Env
# (rasters/gdal.py), pyogrio's process-wide by :func:`pyogrio_configure`.


def gdal_path(container: str, name: str) -> str:
    """What GDAL opens for a stored file: a local path, or ``/vsiaz/`` (range requests)."""
    check_blob_name(name)
    storage = get_storage(container)
    if isinstance(storage, FileSystemStorage):
        return str(storage.path(name))
    return f"/vsiaz/{container}/{name}"


def gdal_zip_path(zip_path: str, member: str) -> str:
    """A member of a zip for GDAL, without extracting it; braces keep '//' out of the path."""
    return f"/vsizip/{{{zip_path}}}/{member}"


# Every blob name can be written again: a client overwrites its upload (bronze), a forced re-run
# of a job (its id, hence its run folder, comes from its parameters) writes the same silver
# names, a managed source is deleted and created again. Yet each GDAL in the process keeps, per
# /vsiaz/ path and for the life of the process, the file's size (or that it did not exist) and
# the ranges it downloaded (CPL_VSIL_CURL_CACHE_SIZE, 16 MB), beyond the dataset that read them:
# a long-lived worker or web process would read the old file. rasterio's GDAL reads with
# CPL_VSIL_CURL_NON_CACHED (rasters/gdal.py); pyogrio's reads blobs in place only in pre-flight,
# which opens the same file several times (layers, then fields and count: a zipped Shapefile's
# members would be downloaded again at each open), so its cache is kept within a pre-flight and
# dropped at the start of the next (pyogrio_configure).


def gdal_config() -> dict[str, str]:
    """GDAL options to read blobs: credentials, no directory listing on open, bounded waits."""
    options = {
        # Without this GDAL lists the whole container looking for sidecar files.
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MAX_RETRY": "2",
        "GDAL_HTTP_RETRY_DELAY": "0.2",
        # A stalled storage must not hold a web worker for minutes.
        "GDAL_HTTP_CONNECTTIMEOUT": "10",
        "GDAL_HTTP_TIMEOUT": "30",
    }
    if settings.GEOPLATFORM_STORAGE_BACKEND == "azure" and settings.GEOPLATFORM_AZURE_CONNECTION_STRING:
        options["AZURE_STORAGE_CONNECTION_STRING"] = str(settings.GEOPLATFORM_AZURE_CONNECTION_STRING)
    return options


_pyogrio_config: dict[str, str] | None = None


def pyogrio_configure() -> None:
    """Give pyogrio's own GDAL the storage options (process-wide; re-set when they change), and
    drop what it cached of blobs: call it before reading blobs in place, which then are read as
    they are now (see the notes above gdal_config)."""
    global _pyogrio_config
    # Imported here: GDAL's bindings are loaded only by the processes that read vector files in place.
    import pyogrio

    options = gdal_config()
    if options != _pyogrio_config:
        pyogrio.set_gdal_config_options(options)
        _pyogrio_config = options
    # All of it, not one path: pyogrio's GDAL reads blobs for pre-flights only, and a pre-flight
    # running meanwhile in another thread merely reads a few ranges again.
    pyogrio.vsi_curl_clear_cache("/vsiaz/")


class _RangedBlob(io.RawIOBase):
    """A seekable read-only file over a blob: every read is one HTTP range request."""

    def __init__(self, client: Any, size: int) -> None:
        self._client, self._size, self._pos = client, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        length = min(len(buffer), self._size - self._pos)
        if length <= 0:
            return 0
        data = self._client.download_blob(offset=self._pos, length=length).readall()
        buffer[: len(data)] = data
        self._pos += len(data)
        _count(ranged_reads=1, ranged_bytes=len(data))
        return len(data)


@contextlib.contextmanager
def open_ranged(container: str, name: str, *, buffer_size: int = 256 * 1024) -> Iterator[IO[bytes]]:
    """A seekable binary file over a stored file that reads only what is asked (range requests)."""
    storage = get_storage(container)
    check_blob_name(name)
    if isinstance(storage, FileSystemStorage):
        try:
            fh = open(storage.path(name), "rb")
        except FileNotFoundError:
            raise _not_found(container, name) from None
        with fh:
            yield fh
        return
    # Imported here: the Azure SDK is loaded only with the azure storage backend.
    from azure.core.exceptions import ResourceNotFoundError

    client = storage.client.get_blob_client(name)  # type: ignore[attr-defined]
    try:
        size = int(client.get_blob_properties().size)
    except ResourceNotFoundError:
        raise _not_found(container, name) from None
    with io.BufferedReader(_RangedBlob(client, size), buffer_size=buffer_size) as ranged:
        yield ranged


# --- local copies for jobs: at most one download per blob version per host --------------------
#
# GDAL reads some formats far faster from a local file, and a job reads its source once per
# task (every load chunk, every COG tier). The cache keeps one copy per (blob, ETag) on the
# host: a changed blob has a new ETag and is fetched again. It is shared by every worker
# process on the host, so:
# - an entry is a folder renamed into place when complete (readers never see half a file);
# - a per-entry lock file (flock) makes a second process wait for the first's download
#   instead of downloading too, and is held shared while a task reads the entry, so eviction
#   (which needs it exclusive, without waiting) never deletes a file in use;
# - eviction runs under one cache-wide lock: entries older than the maximum age first, then
#   least recently used ones until the cache is within its size.
# Lock files (empty) stay: deleting one that another process is about to lock would let two
# processes both believe they hold it.


def _cache_dir() -> Path:
    configured = settings.GEOPLATFORM_BLOB_CACHE_DIR
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / "geoplatform-blob-cache"
    (root / "locks").mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[bool]:
    """Hold ``flock(mode)`` on ``path``; yields False when a non-blocking lock is taken elsewhere."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


# A download in progress writes its file continuously; one untouched this long lost its process.
_STALE_STAGING_SECONDS = 3600


def _idle_for(folder: Path, now: float) -> float:
    try:
        return now - max([folder.stat().st_mtime, *(f.stat().st_mtime for f in folder.iterdir())])
    except FileNotFoundError:
        return 0.0


def _entry_size(entry: Path) -> int:
    return sum(f.stat().st_size for f in entry.iterdir() if f.is_file())


def blob_cache_evict(*, keep: str = "", max_bytes: int | None = None, max_age: float | None = None) -> int:
    """Drop cache entries not in use: expired ones, then the least recently used beyond the size.

    Returns the number of entries removed. ``keep`` names an entry never evicted (the one
    the caller just fetched).
    """
    root = _cache_dir()
    limit = settings.GEOPLATFORM_BLOB_CACHE_MAX_BYTES if max_bytes is None else max_bytes
    age = settings.GEOPLATFORM_BLOB_CACHE_MAX_AGE_SECONDS if max_age is None else max_age
    removed = 0
    with _flock(root / "locks" / "cache.lock", fcntl.LOCK_EX):
        entries = []
        now = time.time()
        for entry in root.iterdir():
            if entry.name.startswith("e-") and entry.is_dir():
                with contextlib.suppress(FileNotFoundError):
                    entries.append((entry.stat().st_mtime, entry, _entry_size(entry)))
            elif entry.name.startswith("tmp-") and _idle_for(entry, now) > _STALE_STAGING_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)  # a download whose process was killed
        entries.sort()  # oldest use first
        total = sum(size for _, _, size in entries)
        for used, entry, size in entries:
            if entry.name == keep or (total <= limit and now - used <= age):
                continue
            with _flock(root / "locks" / f"{entry.name}.lock", fcntl.LOCK_EX | fcntl.LOCK_NB) as free:
                if free:
                    shutil.rmtree(entry, ignore_errors=True)
                    total -= size
                    removed += 1
    return removed


def blob_cache_clear() -> int:
    """Remove every cache entry not in use (operators, tests)."""
    return blob_cache_evict(max_bytes=0, max_age=0)


def _download(client: Any, etag: str, target: Path) -> None:
    # Imported here: the Azure SDK is loaded only with the azure storage backend.
    from azure.core import MatchConditions

    # Only the version we keyed on: a blob replaced mid-download fails instead of mixing.
    stream = client.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
    with open(target, "wb") as dst:
        for chunk in stream.chunks():
            dst.write(chunk)
    _count(downloads=1, download_bytes=target.stat().st_size)


@contextlib.contextmanager
def _uncached_copy(client: Any, etag: str, file_name: str) -> Iterator[Path]:
    tmpdir = tempfile.mkdtemp(prefix="geoplatform-")
    try:
        target = Path(tmpdir) / file_name
        _download(client, etag, target)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def local_copy(container: str, name: str, suffix: str | None = None) -> Iterator[Path]:
    """A local path to read a stored file with GDAL: the file itself (local backend) or this
    host's cached copy of the blob's current version (Azure; downloaded once per ETag)."""
    storage = get_storage(container)
    check_blob_name(name)
    if isinstance(storage, FileSystemStorage):
        if not storage.exists(name):
            raise _not_found(container, name)
        yield Path(storage.path(name))
        return
    # Imported here: the Azure SDK is loaded only with the azure storage backend.
    from azure.core.exceptions import ResourceNotFoundError

    client = storage.client.get_blob_client(name)  # type: ignore[attr-defined]
    try:
        props = client.get_blob_properties()
    except ResourceNotFoundError:
        raise _not_found(container, name) from None
    etag, size = str(props.etag), int(props.size)
    file_name = os.path.basename(name) if suffix is None else "data" + suffix
    if size > settings.GEOPLATFORM_BLOB_CACHE_MAX_BYTES:  # would evict everything: a private copy
        with _uncached_copy(client, etag, file_name) as path:
            yield path
        return
    root = _cache_dir()
    key = "e-" + hashlib.sha256(f"{container}\0{name}\0{etag}\0{file_name}".encode()).hexdigest()[:40]
    entry = root / key
    fd = os.open(root / "locks" / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        for _ in range(3):
            # Exclusive while fetching: a second process waits here for the first's download.
            fcntl.flock(fd, fcntl.LOCK_EX)
            fetched = not entry.exists()
            if fetched:
                staging = root / f"tmp-{uuid.uuid4().hex}"
                staging.mkdir()
                try:
                    _download(client, etag, staging / file_name)
                    os.rename(staging, entry)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            os.utime(entry)  # recently used
            # Shared while reading: other readers join; eviction (exclusive, non-blocking) skips it.
            fcntl.flock(fd, fcntl.LOCK_SH)
            if entry.exists():  # the conversion is not atomic: an evictor may have slipped in
                break
        else:
            raise OSError(
                f"The local copy of {name!r} keeps being evicted; GEOPLATFORM_BLOB_CACHE_MAX_BYTES too small?"
            )
        if fetched:
            blob_cache_evict(keep=key)
        yield entry / file_name
    finally:
        os.close(fd)  # releases the lock


# --- blobs in use: uploads must not replace what a release or a running job reads -------------
#
# Apps above ingest/geoplatform (publishing, the job engine) register a function that names
# who still reads a blob; the upload service asks them all before overwriting. The storage
# layer knows no app: it only keeps the list.

BlobUser = Callable[[str, str], "str | None"]
_blob_users: dict[str, BlobUser] = {}


def blob_user_register(name: str, fn: BlobUser) -> None:
    """``fn(container, name)`` returns who reads that blob (a sentence), or None."""
    _blob_users[name] = fn


def blob_users(container: str, name: str) -> list[str]:
    """Every registered reader of a blob, e.g. ``["release 3f2c... of asset x (approved)"]``."""
    return [who for fn in _blob_users.values() if (who := fn(container, name))]


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
        raise ImproperlyConfigured(f"GEOPLATFORM_STORAGE_BACKEND must be local or azure, not {backend!r}.")
    # Imported here: the Azure SDK is loaded only with the azure storage backend.
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
