"""Fixtures of the managed tests: a local HTTP file server standing in for the internet.

``source_server`` serves files from a dict on ``127.0.0.1:<random port>`` the way real data
portals do: strong ETag (sha256 of the body) and Last-Modified, 304 on ``If-None-Match`` /
``If-Modified-Since``, HEAD, ``Range: bytes=a-b`` -> 206. A test can change a file between
runs (``put``), and make a path answer 500 (``fail``), hang until the test ends (``hang``),
cut the body short after N bytes (``cut``) or require a bearer token (``require_token``).
It counts requests per path (``requests[path]``, ``log`` of (method, path, headers)) so a
test can assert "an unchanged source costs at most 3 requests". msched's handler tests use
it too: keep its methods stable (add, don't rename).

    def test_x(source_server):
        url = source_server.put("/data/a.geojson", b"...")
        source_server.fail("/data/a.geojson", status=500)
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import FIXTURES

FEATURES = FIXTURES / "features"
MANAGED = FIXTURES / "managed"


@dataclass
class ServedFile:
    body: bytes
    modified: float
    content_type: str = "application/octet-stream"
    etag: str | None = None  # None: a strong ETag from the body's sha256; "" sends none

    def etag_value(self) -> str:
        if self.etag is None:
            return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'
        return self.etag


@dataclass
class SourceServer:
    """The state behind the server; every method is safe to call while it serves."""

    host: str = "127.0.0.1"
    port: int = 0
    files: dict[str, ServedFile] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # path -> HTTP status
    hangs: set[str] = field(default_factory=set)
    cuts: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before closing
    cut_times: dict[str, int] = field(default_factory=dict)  # path -> how many more bodies to cut
    tokens: dict[str, str] = field(default_factory=dict)  # path prefix -> required bearer token
    no_range: set[str] = field(default_factory=set)
    no_conditional: set[str] = field(default_factory=set)
    requests: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # --- content ------------------------------------------------------------------------------
    def put(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        etag: str | None = None,
        modified: float | None = None,
    ) -> str:
        """Serve ``body`` at ``path`` (replacing what was there: a new ETag and a later
        Last-Modified); returns the full URL."""
        with self.lock:
            previous = self.files.get(path)
            stamp = modified if modified is not None else time.time()
            if previous is not None and modified is None and int(stamp) <= int(previous.modified):
                stamp = previous.modified + 1  # HTTP dates have 1 s resolution
            self.files[path] = ServedFile(body, stamp, content_type, etag)
        return self.url(path)

    def put_fixture(self, path: str, fixture: str) -> str:
        """Serve a file of tests/fixtures (``features/nc.gpkg``, ``managed/...``)."""
        return self.put(path, (FIXTURES / fixture).read_bytes())

    def remove(self, path: str) -> None:
        with self.lock:
            self.files.pop(path, None)

    # --- misbehaviour -----------------------------------------------------------------------
    def fail(self, path: str, status: int = 500) -> None:
        self.failures[path] = status

    def hang(self, path: str) -> None:
        """Accept the request and send nothing until the test ends."""
        self.hangs.add(path)

    def cut(self, path: str, after: int, *, times: int | None = None) -> None:
        """Send the full Content-Length header but only ``after`` bytes of the body (of the
        next ``times`` GETs of ``path``; every one when None)."""
        self.cuts[path] = after
        if times is not None:
            self.cut_times[path] = times

    def require_token(self, prefix: str, token: str) -> None:
        self.tokens[prefix] = token

    def disable_range(self, path: str) -> None:
        self.no_range.add(path)

    def disable_conditional(self, path: str) -> None:
        self.no_conditional.add(path)

    def heal(self, path: str | None = None) -> None:
        """Undo fail/hang/cut for ``path`` (all paths when None)."""
        for store in (self.failures, self.cuts):
            if path is None:
                store.clear()
            else:
                store.pop(path, None)
        if path is None:
            self.hangs.clear()
        else:
            self.hangs.discard(path)

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()
            self.log.clear()

    def count(self, path: str | None = None) -> int:
        return sum(self.requests.values()) if path is None else self.requests[path]


def _make_handler(state: SourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, *, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            with state.lock:
                state.requests[path] += 1
                state.log.append((self.command, self.path, dict(self.headers.items())))
            if path in state.hangs:
                state.released.wait(60)
                self.close_connection = True
                return
            for prefix, token in state.tokens.items():
                if path.startswith(prefix) and self.headers.get("Authorization") != f"Bearer {token}":
                    return self._status(401, b"token required")
            if path in state.failures:
                return self._status(state.failures[path], b"server error")
            served = state.files.get(path)
            if served is None:
                return self._status(404, b"not found")
            etag = served.etag_value()
            modified = email.utils.formatdate(served.modified, usegmt=True)
            if path not in state.no_conditional and self._not_modified(etag, served.modified):
                self.send_response(304)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = served.body
            status = 200
            start, end = 0, len(body) - 1
            wanted = self.headers.get("Range", "")
            if wanted.startswith("bytes=") and path not in state.no_range:
                first, _, last = wanted[6:].partition("-")
                try:
                    start = int(first) if first else max(0, len(body) - int(last))
                    end = int(last) if (last and first) else len(body) - 1
                except ValueError:
                    return self._status(416, b"bad range")
                if start >= len(body) or start > end:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                end = min(end, len(body) - 1)
                status = 206
            part = body[start : end + 1]
            self.send_response(status)
            self.send_header("Content-Type", served.content_type)
            self.send_header("Content-Length", str(len(part)))
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            if path not in state.no_range:
                self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
            self.end_headers()
            if head:
                return
            with state.lock:
                after = state.cuts.get(path)
                left = state.cut_times.get(path)
                if after is not None and left is not None:
                    if left <= 1:
                        state.cuts.pop(path, None)
                        state.cut_times.pop(path, None)
                    else:
                        state.cut_times[path] = left - 1
            if after is not None:
                self.wfile.write(part[:after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

        def _not_modified(self, etag: str, modified: float) -> bool:
            match = self.headers.get("If-None-Match")
            if match is not None:
                return bool(etag) and etag in [m.strip() for m in match.split(",")]
            since = self.headers.get("If-Modified-Since")
            if since:
                parsed = email.utils.parsedate_to_datetime(since)
                return parsed is not None and int(modified) <= int(parsed.timestamp())
            return False

        def _status(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


@pytest.fixture
def source_server() -> Iterator[SourceServer]:
    """A local HTTP server standing in for an external data portal (see the module doc)."""
    state = SourceServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="source-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()  # let hanging requests end
        server.shutdown()
        server.server_close()


# --- sources, clients, running updates in-process -----------------------------------------------


def geojson(rows: list[tuple[str, float, float]], *, extra: str | None = None) -> bytes:
    """A small FeatureCollection of 1x1 degree squares: (name, x, y) each; ``extra`` adds a
    column (a schema change)."""
    import json

    features = []
    for i, (name, x, y) in enumerate(rows):
        props: dict[str, Any] = {"name": name, "rank": i}
        if extra:
            props[extra] = f"{name}-{extra}"
        ring = [[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]
        features.append(
            {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        )
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


V1 = [("a", 0.0, 0.0), ("b", 2.0, 0.0), ("c", 4.0, 2.0)]
V2 = [("a2", 0.0, 0.0), ("b2", 2.0, 0.0), ("c2", 4.0, 2.0)]  # same count, bbox, schema; new values


@pytest.fixture(autouse=True)
def _watch_only_with_a_worker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a live worker, tests advance versions themselves (``run_update``): the watch
    message is not sent, so no later worker test picks up a stale one."""
    if "live_worker" not in request.fixturenames:
        from managed import actors

        monkeypatch.setattr(actors, "watch_later", lambda version_id: None)


@pytest.fixture
def make_source(db: Any) -> Any:
    from managed import services

    def make(url: str, **fields: Any) -> Any:
        data = {
            "name": "src",
            "handler": "http_file",
            "location": url,
            "collection_id": "managed_src",
            "title": "Test source",
            **fields,
        }
        return services.source_create(data=data)

    return make


def run_update(source: Any, *, force: bool = False) -> Any:
    """Trigger an update and drive it to its end in this process (update job, its ingest
    job, then the watcher's step); returns the trigger's outcome (version refreshed)."""
    from managed import services
    from tests.ingest.inline import run_inline

    outcome = services.update_trigger(source=source, force=force)
    if outcome.outcome != "submitted":
        return outcome
    run_inline(outcome.job_id)
    outcome.version.refresh_from_db()
    ingest_job = outcome.version.job_ids.get("ingest")
    if ingest_job:
        run_inline(ingest_job)
        services.version_advance(version_id=outcome.version.pk)
    outcome.version.refresh_from_db()
    source.refresh_from_db()
    return outcome


def _client_with(username: str, codename: str) -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = get_user_model().objects.create_user(username)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="managed", codename=codename))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def manager_client(db: Any) -> Any:
    """A token holding managed.manage_source (not a superuser)."""
    return _client_with("source-manager", "manage_source")


@pytest.fixture
def viewer_client(db: Any) -> Any:
    """A token holding only managed.view_managedsource (reads, no writes)."""
    return _client_with("source-viewer", "view_managedsource")


@pytest.fixture(autouse=True)
def _no_blobs_of_earlier_tests() -> Iterator[None]:
    """Azurite outlives each test's database: start and end with no managed blobs."""
    from geoplatform import storage

    def clear() -> None:
        container = storage.zone_container("bronze")
        for blob in storage.blob_list(container, "managed"):
            storage.blob_delete(container, blob)

    clear()
    yield
    clear()
