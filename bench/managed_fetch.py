"""Managed sources: the cost of an unchanged check and of a download, against their floors.

- check: ``http_file``'s ``check`` of an unchanged source (one conditional GET -> 304),
  against a bare ``requests`` conditional GET on a kept-alive session (the floor).
- download: ``managed.fetch.download`` of a file into the bronze zone (local storage:
  streamed, sha256 on the way, written through ``geoplatform.storage.blob_save``), against
  ``requests`` streaming the same bytes into a local file with hashlib (the floor), and
  ``curl -o`` (a peer that does not hash).

Both sides fetch from the same local HTTP server (Python's ThreadingHTTPServer, body from
memory) in the same run; the ratio is ours / floor (1.0 = no overhead).

    .venv/bin/python bench/managed_fetch.py [--mb 128] [--checks 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _server(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            view = memoryview(body)
            for start in range(0, len(body), 1 << 20):
                self.wfile.write(view[start : start + (1 << 20)])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, etag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=128)
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    storage_root = tempfile.mkdtemp(prefix="bench-managed-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoplatform.settings.test")
    os.environ["GEOPLATFORM_STORAGE_BACKEND"] = "local"
    os.environ["GEOPLATFORM_STORAGE_ROOT"] = storage_root
    os.environ.setdefault("GEOPLATFORM_SECRET_KEY", "bench")
    import django

    django.setup()
    import requests

    from geoplatform import storage
    from managed.fetch import SourceHttp, download
    from managed.handlers.http import HttpFileHandler
    from managed.models import ManagedSource, SourceVersion

    body = os.urandom(args.mb * 1024 * 1024)
    server, etag = _server(body)
    url = f"http://127.0.0.1:{server.server_address[1]}/data.bin"
    expected = hashlib.sha256(body).hexdigest()
    print(f"load average: {os.getloadavg()}")

    # --- unchanged check ------------------------------------------------------------------------
    source = ManagedSource(name="bench", location=url, handler="http_file")
    live = SourceVersion(etag=etag, last_modified="", bytes=len(body))
    handler = HttpFileHandler()
    http = SourceHttp()
    session = requests.Session()
    ours_ms: list[float] = []
    floor_ms: list[float] = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for _ in range(args.checks):
            assert not handler.check(source, live, http).changed
        ours_ms.append((time.perf_counter() - t0) * 1000 / args.checks)
        t0 = time.perf_counter()
        for _ in range(args.checks):
            assert session.get(url, headers={"If-None-Match": etag}, timeout=10).status_code == 304
        floor_ms.append((time.perf_counter() - t0) * 1000 / args.checks)
    ours, floor = statistics.median(ours_ms), statistics.median(floor_ms)
    print(
        f"unchanged check: ours {ours:.2f} ms, bare requests {floor:.2f} ms, ratio {ours / floor:.2f}x "
        f"({http.count // args.rounds // args.checks} request per check)"
    )

    # --- download -------------------------------------------------------------------------------
    container = storage.zone_container("bronze")
    target = Path(storage_root) / "floor.bin"
    rows: dict[str, list[float]] = {"ours": [], "floor": [], "curl": []}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        got = download(http=SourceHttp(), url=url, container=container, blob="managed/bench/v1/data.bin")
        rows["ours"].append(time.perf_counter() - t0)
        assert got.sha256 == expected and got.bytes == len(body)
        t0 = time.perf_counter()
        digest = hashlib.sha256()
        with session.get(url, stream=True, timeout=10) as response, open(target, "wb") as out:
            for chunk in response.raw.stream(1 << 20, decode_content=False):
                digest.update(chunk)
                out.write(chunk)
        rows["floor"].append(time.perf_counter() - t0)
        assert digest.hexdigest() == expected
        if shutil.which("curl"):
            t0 = time.perf_counter()
            subprocess.run(["curl", "-s", "-o", str(target), url], check=True)
            rows["curl"].append(time.perf_counter() - t0)
    mb = len(body) / 1024 / 1024
    med = {k: statistics.median(v) for k, v in rows.items() if v}
    for name, seconds in med.items():
        print(f"download {mb:.0f} MiB: {name:5s} {seconds:.2f} s ({mb / seconds:.0f} MiB/s)")
    print(f"download ratio ours / floor (requests + sha256 to a file): {med['ours'] / med['floor']:.2f}x")
    if "curl" in med:
        print(f"download ratio ours / curl (no hash): {med['ours'] / med['curl']:.2f}x")
    server.shutdown()
    shutil.rmtree(storage_root, ignore_errors=True)


if __name__ == "__main__":
    main()
