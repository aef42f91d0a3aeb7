"""``gpstore://<container>/<blob>``: an fsspec file system over :mod:`geoplatform.storage`.

Kerchunk references name their source files with this protocol, so the same references work
on local folders and on Azure (Azurite in tests): every chunk read is one ranged read through
:func:`geoplatform.storage.open_ranged`, never a download of the whole file. Registered with
fsspec in ``ClimateConfig.ready()`` (and on import), so every process (web, worker) can open
the references.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import fsspec
from fsspec.spec import AbstractFileSystem

from geoplatform.errors import InvalidInput, NotFound
from geoplatform.storage import check_blob_name, get_storage, open_ranged

PROTOCOL = "gpstore"


def url(container: str, blob: str) -> str:
    return f"{PROTOCOL}://{container}/{blob}"


def split(path: str) -> tuple[str, str]:
    """``gpstore://c/a/b.nc`` or ``c/a/b.nc`` -> (``c``, ``a/b.nc``)."""
    path = path.split("://", 1)[-1].lstrip("/")
    container, _, blob = path.partition("/")
    return container, blob


def _valid(blob: str) -> bool:
    try:
        check_blob_name(blob)
    except InvalidInput:
        return False
    return True


class _File(io.RawIOBase):
    """A seekable file that keeps :func:`open_ranged`'s context open until closed."""

    def __init__(self, container: str, blob: str) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self._fh = self._stack.enter_context(open_ranged(container, blob))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def read(self, size: int | None = -1) -> bytes:
        return self._fh.read(-1 if size is None else size)

    def readinto(self, buffer: Any) -> int:
        data = self._fh.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stack.close()
        super().close()


class GeoPlatformFileSystem(AbstractFileSystem):  # type: ignore[misc]
    protocol = PROTOCOL
    root_marker = ""
    cachable = True

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return str(path).split("://", 1)[-1].lstrip("/")

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" not in mode:
            raise NotImplementedError("gpstore:// is read-only: write through geoplatform.storage.")
        return _File(*split(path))

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        container, blob = split(path)
        if not _valid(blob):  # e.g. zarr probing ".zgroup": a key our storage cannot hold
            raise FileNotFoundError(path)
        length = None if end is None else end - (start or 0)
        # A buffer no larger than the chunk: one range request of exactly the chunk's bytes.
        buffer = max(8192, length or 0) if length is not None else 256 * 1024
        try:
            with open_ranged(container, blob, buffer_size=buffer) as fh:
                if start:
                    fh.seek(start if start >= 0 else max(0, fh.seek(0, io.SEEK_END) + start))
                return fh.read(-1 if length is None else length)
        except NotFound:
            raise FileNotFoundError(path) from None

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        container, blob = split(path)
        if not _valid(blob):
            raise FileNotFoundError(path)
        storage = get_storage(container)
        if storage.exists(blob):
            return {"name": f"{container}/{blob}", "size": int(storage.size(blob)), "type": "file"}
        try:
            storage.listdir(blob)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(path) from None
        return {"name": f"{container}/{blob}", "size": 0, "type": "directory"}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        container, prefix = split(path)
        storage = get_storage(container)
        prefix = prefix.rstrip("/")
        try:
            dirs, files = storage.listdir(prefix)
        except FileNotFoundError:
            raise FileNotFoundError(path) from None
        # Azure lists every blob below the prefix by its full name (no folders); the file system
        # one level of names relative to the folder. Both become one level of entries here.
        entries: dict[str, dict[str, Any]] = {}
        base = f"{prefix}/" if prefix else ""
        for name in files:
            relative = name[len(base) :] if name.startswith(base) else name
            head, _, rest = relative.partition("/")
            full = f"{base}{head}"
            if rest:
                entries[full] = {"name": f"{container}/{full}", "size": 0, "type": "directory"}
            else:
                entries[full] = {"name": f"{container}/{full}", "size": int(storage.size(full)), "type": "file"}
        for sub in dirs:
            full = f"{base}{sub}"
            entries[full] = {"name": f"{container}/{full}", "size": 0, "type": "directory"}
        out = [entries[k] for k in sorted(entries)]
        return out if detail else [o["name"] for o in out]


def register() -> None:
    fsspec.register_implementation(PROTOCOL, GeoPlatformFileSystem, clobber=True)


register()
