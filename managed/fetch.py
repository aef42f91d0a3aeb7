"""HTTP to external sources: one client (requests), timeouts from settings, counted requests,
and downloads streamed into the bronze zone with their sha256 computed on the way.

Handlers get a :class:`SourceHttp` in ``check``: its ``conditional_get`` and ``head`` are the
cheap tests of change detection, ``get`` is for index pages / APIs (version labels).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from django.conf import settings

from geoplatform import storage

from .handlers.base import HandlerError, SourceUnavailable

CHUNK = 1024 * 1024
# Tries of one download: the first GET, then Range requests resuming where the body stopped.
RESUME_TRIES = 4


def timeout() -> float:
    return float(settings.GEOPLATFORM_MANAGED_HTTP_TIMEOUT)


def max_bytes() -> int:
    return int(settings.GEOPLATFORM_MANAGED_MAX_BYTES)


def file_name_of(url: str) -> str:
    """The last path segment of ``url`` (decoded), a safe blob file name."""
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or "download"
    safe = "".join(c if (c.isalnum() or c in "._-") else "_" for c in name).lstrip(".")
    return safe or "download"


def credentials_token(setting_name: str) -> str | None:
    """The secret named by ``ManagedSource.credentials_setting``: a Django setting of that
    name, else the environment variable (the secret is never stored in the database)."""
    if not setting_name or setting_name not in settings.GEOPLATFORM_MANAGED_CREDENTIALS:
        return None  # only the names the deployer listed (the source's check refused others already)
    value = getattr(settings, setting_name, None) or os.environ.get(setting_name)
    return str(value) if value else None


class SourceHttp:
    """Requests to one source, counted (``self.count``), with the source's bearer token
    when it has one (``credentials_setting``)."""

    def __init__(self, *, token: str | None = None, session: requests.Session | None = None) -> None:
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = "GeoPlatform-managed/1"
        self.token = token
        self.count = 0

    def close(self) -> None:
        self.session.close()

    def _headers(self, headers: dict[str, str] | None, auth: bool) -> dict[str, str]:
        out = dict(headers or {})
        if auth and self.token:
            out.setdefault("Authorization", f"Bearer {self.token}")
        return out

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        stream: bool = False,
    ) -> requests.Response:
        """One request; network failures and 5xx become ``SourceUnavailable``, 401/403
        and 404 a ``HandlerError`` saying what to fix."""
        self.count += 1
        try:
            response = self.session.request(
                method,
                url,
                headers=self._headers(headers, auth),
                timeout=(timeout(), timeout()),
                stream=stream,
                allow_redirects=True,
            )
        except requests.Timeout as exc:
            raise SourceUnavailable(f"{method} {url}: no answer within {timeout():g} s ({exc}).") from exc
        except requests.RequestException as exc:
            raise SourceUnavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            response.close()
            raise SourceUnavailable(f"{method} {url}: the source answered {response.status_code}.")
        if response.status_code in (401, 403):
            response.close()
            raise HandlerError(
                f"{method} {url}: the source refused access ({response.status_code}).",
                remediation="Set the source's credentials_setting to the name of a setting holding a valid token.",
            )
        if response.status_code == 404:
            response.close()
            raise HandlerError(f"{method} {url}: not found (404).", remediation="Check the source's location.")
        return response

    def get(self, url: str, *, headers: dict[str, str] | None = None, auth: bool = True) -> requests.Response:
        """A GET read whole (index pages, APIs)."""
        response = self.request("GET", url, headers=headers, auth=auth)
        return response

    def head(self, url: str, *, headers: dict[str, str] | None = None, auth: bool = True) -> requests.Response:
        return self.request("HEAD", url, headers=headers, auth=auth)

    def conditional_get(
        self, url: str, *, etag: str = "", last_modified: str = "", auth: bool = True
    ) -> tuple[bool, requests.Response]:
        """(changed, response): a GET with ``If-None-Match`` / ``If-Modified-Since``; a 304
        means unchanged. The body is not read (``stream=True``): the response is closed,
        so a changed file costs its headers only; the download fetches it."""
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        response = self.request("GET", url, headers=headers, auth=auth, stream=True)
        if response.status_code == 304:
            _ = response.content  # empty: reading it returns the connection to the pool
        else:
            response.close()  # a changed file's body is the download's job
        return response.status_code != 304, response


@dataclass
class Downloaded:
    blob: str
    sha256: str
    bytes: int
    etag: str
    last_modified: str
    requests: int


class _ResumingBody:
    """A file object over an HTTP body: hashes what passes, and when the body stops short
    asks again with ``Range: bytes=<offset>-`` (``If-Range`` the ETag) where the server
    allows it, up to ``RESUME_TRIES`` requests."""

    def __init__(self, http: SourceHttp, url: str, headers: dict[str, str], auth: bool) -> None:
        self.http = http
        self.url = url
        self.headers = headers
        self.auth = auth
        self.digest = hashlib.sha256()
        self.offset = 0
        self.tries = 0
        self.total: int | None = None
        self.etag = ""
        self.last_modified = ""
        self.accept_ranges = False
        self._iter: Iterator[bytes] | None = None
        self._response: requests.Response | None = None
        self._buffer = b""
        self._open()

    def _open(self) -> None:
        headers = dict(self.headers)
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            if self.etag.startswith('"'):  # a strong validator: the same file, or 200 whole
                headers["If-Range"] = self.etag
        self.tries += 1
        response = self.http.request("GET", self.url, headers=headers, auth=self.auth, stream=True)
        if response.status_code not in (200, 206):
            response.close()
            raise SourceUnavailable(f"GET {self.url}: unexpected status {response.status_code}.")
        if self.offset and response.status_code == 200:
            # The server ignored the range (or the file changed): we cannot splice.
            response.close()
            raise SourceUnavailable(
                f"GET {self.url}: the body was cut at {self.offset} bytes and the source cannot resume."
            )
        if not self.offset:
            length = response.headers.get("Content-Length")
            self.total = int(length) if length and length.isdigit() else None
            self.etag = response.headers.get("ETag", "")
            self.last_modified = response.headers.get("Last-Modified", "")
            self.accept_ranges = response.headers.get("Accept-Ranges", "").lower() == "bytes"
            if self.total is not None and self.total > max_bytes():
                response.close()
                raise HandlerError(
                    f"GET {self.url}: {self.total} bytes is more than GEOPLATFORM_MANAGED_MAX_BYTES ({max_bytes()})."
                )
        self._response = response
        self._iter = response.raw.stream(CHUNK, decode_content=False)

    def _cut(self, why: str) -> None:
        if self._response is not None:
            self._response.close()
        can_resume = self.accept_ranges and self.total is not None and self.tries < RESUME_TRIES
        if not can_resume:
            expected = f" of {self.total}" if self.total is not None else ""
            raise SourceUnavailable(f"GET {self.url}: the body stopped after {self.offset}{expected} bytes ({why}).")
        self._open()

    def _next_chunk(self) -> bytes:
        while True:
            assert self._iter is not None
            try:
                chunk = next(self._iter)
            except StopIteration:
                if self.total is not None and self.offset < self.total:
                    self._cut("short body")
                    continue
                return b""
            except (requests.RequestException, OSError, Exception) as exc:  # urllib3 ProtocolError etc.
                if isinstance(exc, (HandlerError,)):
                    raise
                self._cut(f"{type(exc).__name__}")
                continue
            if chunk:
                self.offset += len(chunk)
                if self.offset > max_bytes():
                    raise HandlerError(f"GET {self.url}: more than GEOPLATFORM_MANAGED_MAX_BYTES ({max_bytes()}).")
                self.digest.update(chunk)
                return chunk

    def read(self, size: int = -1) -> bytes:
        parts = [self._buffer] if self._buffer else []
        have = len(self._buffer)
        while size is None or size < 0 or have < size:
            chunk = self._next_chunk()
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if size is not None and 0 <= size < len(data):
            self._buffer = data[size:]
            return data[:size]
        self._buffer = b""
        return data

    def close(self) -> None:
        if self._response is not None:
            self._response.close()


def download(
    *,
    http: SourceHttp,
    url: str,
    container: str,
    blob: str,
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> Downloaded:
    """Stream ``url`` into ``container``/``blob`` (replacing it), hashing on the way; a body
    cut short is resumed with Range. A failure leaves no blob behind."""
    body = _ResumingBody(http, url, dict(headers or {}), auth)
    try:
        storage.blob_save(container, blob, body, size=body.total, overwrite=True)
    except Exception:
        if storage.blob_exists(container, blob):
            storage.blob_delete(container, blob)
        raise
    finally:
        body.close()
    if body.total is not None and body.offset != body.total:
        storage.blob_delete(container, blob)
        raise SourceUnavailable(f"GET {url}: got {body.offset} of {body.total} bytes.")
    return Downloaded(blob, body.digest.hexdigest(), body.offset, body.etag, body.last_modified, body.tries)


def response_meta(response: Any) -> dict[str, str]:
    """ETag and Last-Modified of a response (empty strings when absent)."""
    return {"etag": response.headers.get("ETag", ""), "last_modified": response.headers.get("Last-Modified", "")}
