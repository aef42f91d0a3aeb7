"""Reading blobs: pre-flight reads in place (a few range requests), jobs download once per host.

Bytes are counted on the wire by a TCP relay between the clients (Azure SDK, every GDAL) and
Azurite: the storage code under test runs unchanged, only its endpoint points at the relay.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.core.files.base import ContentFile

from geoplatform import storage

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(os.environ.get("GEOPLATFORM_STORAGE_BACKEND") != "azure", reason="reads from Azurite"),
]


def _relay_serve(server: socket.socket, target_port: int, down: Any) -> None:
    """The relay's own process: pyogrio holds the GIL during GDAL calls, so a relay thread in
    the test process would never get to forward GDAL's requests."""

    def pump(src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    with down.get_lock():
                        down.value += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", target_port))
        threading.Thread(target=pump, args=(client, upstream, False), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, True), daemon=True).start()


class CountingRelay:
    """Forwards TCP connections to Azurite (in a child process) and counts the bytes sent back."""

    def __init__(self, target_port: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self._down = ctx.Value("q", 0)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._process = ctx.Process(target=_relay_serve, args=(self.server, target_port, self._down), daemon=True)
        self._process.start()

    @property
    def down(self) -> int:
        return int(self._down.value)

    def reset(self) -> None:
        with self._down.get_lock():
            self._down.value = 0

    def close(self) -> None:
        self._process.kill()
        self._process.join()
        self.server.close()


@pytest.fixture
def relay(settings: Any) -> Iterator[CountingRelay]:
    original = settings.GEOPLATFORM_AZURE_CONNECTION_STRING
    parts = dict(p.split("=", 1) for p in original.strip(";").split(";"))
    port = int(parts["BlobEndpoint"].split(":")[2].split("/")[0])
    counting = CountingRelay(port)
    parts["BlobEndpoint"] = parts["BlobEndpoint"].replace(f":{port}/", f":{counting.port}/")
    settings.GEOPLATFORM_AZURE_CONNECTION_STRING = ";".join(f"{k}={v}" for k, v in parts.items()) + ";"
    storage.reset_cache()
    yield counting
    settings.GEOPLATFORM_AZURE_CONNECTION_STRING = original
    storage.reset_cache()
    storage.pyogrio_configure()
    counting.close()


def _points(n: int) -> Any:
    import geopandas as gpd
    import numpy as np
    from shapely import points

    rng = np.random.default_rng(1)
    xy = rng.uniform(-50, 50, size=(n, 2))
    return gpd.GeoDataFrame(
        # Random text: a zip cannot shrink it to nothing (real attributes do not compress 50x either).
        {"name": [rng.bytes(60).hex() for _ in range(n)], "value": np.arange(n)},
        geometry=points(xy),
        crs="EPSG:4326",
    )


def _store(path: Path, name: str) -> tuple[str, str, int]:
    container = storage.zone_container("bronze")
    bronze = storage.get_storage(container)
    if bronze.exists(name):
        bronze.delete(name)
    with open(path, "rb") as fh:
        saved = bronze.save(name, File(fh))
    return container, saved, path.stat().st_size


def test_preflight_of_a_geopackage_and_a_zipped_shapefile_reads_a_small_part(
    relay: CountingRelay, tmp_path: Path
) -> None:
    from features.stages import vector_preflight
    from publishing.kinds.vector import gpkg_layer_check

    frame = _points(30_000)
    gpkg = tmp_path / "big.gpkg"
    frame.to_file(gpkg, driver="GPKG", layer="points")
    container, name, size = _store(gpkg, "reads-tests/big.gpkg")
    assert size > 4 * 1024**2
    relay.reset()
    params = {"container_name": container, "file_name": name, "table_name": "reads_big", "overwrite": True}
    assert vector_preflight(params) == []
    gpkg_layer_check(container=container, file_name=name, layer_name=None)
    assert relay.down < size / 10, (relay.down, size)

    shp = tmp_path / "shp"
    shp.mkdir()
    frame.to_file(shp / "big.shp")
    zipped = tmp_path / "big.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in shp.iterdir():
            zf.write(part, f"folder/{part.name}")
    container, name, size = _store(zipped, "reads-tests/big.zip")
    relay.reset()
    params = {"container_name": container, "file_name": name, "table_name": "reads_big_zip", "overwrite": True}
    assert vector_preflight(params) == []
    # The zip's central directory, the .shp/.dbf headers and the .shx (GDAL reads that index whole: 8 bytes a feature).
    assert relay.down < size / 10, (relay.down, size)


def test_preflight_of_a_large_csv_reads_only_its_head_and_still_names_missing_columns(
    relay: CountingRelay, settings: Any
) -> None:
    from features.stages import vector_preflight

    settings.GEOPLATFORM_PREFLIGHT_SCAN_BYTES = 1024**2
    rows = "".join(f"{i},{i % 90},{i % 180},name {i}\n" for i in range(300_000))
    container = storage.zone_container("bronze")
    name = storage.get_storage(container).save(
        "reads-tests/big.csv", ContentFile(("id,lat,lon,name\n" + rows).encode())
    )
    size = storage.blob_size(container, name)
    assert size > 5 * 1024**2
    relay.reset()
    ok = {"container_name": container, "file_name": name, "table_name": "reads_csv", "overwrite": True}
    assert vector_preflight({**ok, "lat_column": "lat", "lon_column": "lon"}) == []
    problems = vector_preflight({**ok, "lat_column": "latitude", "lon_column": "lon"})
    assert len(problems) == 1 and "'latitude'" in problems[0] and "not in the CSV header" in problems[0]
    assert relay.down < size / 2, (relay.down, size)
    storage.get_storage(container).delete(name)


def test_jobs_download_a_blob_once_per_version(tmp_path: Path, settings: Any) -> None:
    settings.GEOPLATFORM_BLOB_CACHE_DIR = str(tmp_path / "cache")
    container = storage.zone_container("bronze")
    bronze = storage.get_storage(container)
    name = "reads-tests/cached.bin"
    if bronze.exists(name):
        bronze.delete(name)
    bronze.save(name, ContentFile(b"first version " * 1000))
    before = storage.STATS["downloads"]

    def read(_: int) -> bytes:
        with storage.local_copy(container, name) as path:
            return path.read_bytes()

    with ThreadPoolExecutor(4) as pool:  # concurrent readers wait for one download
        assert set(pool.map(read, range(8))) == {b"first version " * 1000}
    assert storage.STATS["downloads"] - before == 1

    bronze.delete(name)
    bronze.save(name, ContentFile(b"second version"))  # a new ETag
    assert read(0) == b"second version"
    assert read(0) == b"second version"
    assert storage.STATS["downloads"] - before == 2
    bronze.delete(name)


def test_the_cache_stays_within_its_size_and_never_evicts_a_file_in_use(tmp_path: Path, settings: Any) -> None:
    settings.GEOPLATFORM_BLOB_CACHE_DIR = str(tmp_path / "cache")
    settings.GEOPLATFORM_BLOB_CACHE_MAX_BYTES = 25_000
    container = storage.zone_container("bronze")
    bronze = storage.get_storage(container)
    names = [f"reads-tests/lru-{i}.bin" for i in range(4)]
    for name in names:
        if bronze.exists(name):
            bronze.delete(name)
        bronze.save(name, ContentFile(name.encode() * 500))  # ~10 kB each
    entries = lambda: sorted(p for p in (tmp_path / "cache").iterdir() if p.name.startswith("e-"))  # noqa: E731
    with storage.local_copy(container, names[0]) as held:
        for name in names[1:]:
            with storage.local_copy(container, name):
                pass
        assert held.exists()  # in use: kept although the least recently used
        assert sum(f.stat().st_size for e in entries() for f in e.iterdir()) <= 25_000 + 10_000
    with storage.local_copy(container, names[1]):
        pass
    total = sum(f.stat().st_size for e in entries() for f in e.iterdir())
    assert total <= 25_000
    stale = tmp_path / "cache" / "tmp-killed"  # a download whose process was killed
    stale.mkdir()
    (stale / "part").write_bytes(b"x")
    for path in (stale / "part", stale):
        os.utime(path, (0, 0))
    storage.blob_cache_clear()
    assert entries() == [] and not stale.exists()
    for name in names:
        bronze.delete(name)


def test_a_vector_job_downloads_its_file_once_for_all_its_load_chunks(tmp_path: Path, settings: Any) -> None:
    """validate + N load chunks, run by the real engine in this process: one download."""
    from ingest.models import JobStatus, Task
    from ingest.services import job_submit
    from tests.conftest import FIXTURES
    from tests.ingest.inline import run_inline

    settings.GEOPLATFORM_BLOB_CACHE_DIR = str(tmp_path / "cache")
    settings.GEOPLATFORM_VECTOR_CHUNK_ROWS = 25  # nc.gpkg has 100 features: 4 chunks
    container, name, _ = _store(FIXTURES / "features" / "nc.gpkg", "reads-tests/nc-chunks.gpkg")
    before = storage.STATS["downloads"]
    job = job_submit(
        job_type="process_vector",
        parameters={"container_name": container, "file_name": name, "table_name": "reads_chunks", "overwrite": True},
    ).job
    job = run_inline(job.id)
    assert job.status == JobStatus.COMPLETED, job.error
    assert Task.objects.filter(job_id=job.id, stage__name="load").count() == 4
    assert storage.STATS["downloads"] - before == 1
    storage.get_storage(container).delete(name)
