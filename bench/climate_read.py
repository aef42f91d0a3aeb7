"""Climate read API: EDR position vs xpublish-edr, xarray tiles vs titiler.xarray.

The same data for all: A1B_north_america.nc (240 annual steps, 360_day calendar, 0-360
longitudes, 37 x 49 cells) written once as Zarr v2 in var/bench/climate/a1b.zarr with one
chunk per time step (as the NetCDF sources are laid out), opened lazily by every server.

1. EDR position: 240-step series at seeded random cell centres, 8 keep-alive clients:
   ours ``/api/edr/collections/bench~a1b/position?coords=POINT(lon lat)`` (CoverageJSON) vs
   xpublish-edr ``/datasets/a1b/edr/position?coords=POINT(lon lat)`` (its CoverageJSON).
   xpublish-edr cannot serialise the 360_day calendar (cftime dates: a 500), so it gets the
   dataset with undecoded (numeric) times: less work than ours. Points use the native 0-360
   longitudes (xpublish-edr takes POINT(-75 35) to the 225 column, the grid's edge).
2. Tiles: PNG tiles z3-5 over the grid at random steps, rescale 220,320, viridis: ours
   ``/api/xarray/bench/a1b/tiles/WebMercatorQuad/{z}/{x}/{y}.png?datetime=`` vs titiler.xarray
   ``/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url=&sel=time=``.

Ours: gunicorn as scripts/run.sh (4 workers x 2 threads) on bench/climate_read_app.py (the
platform's WSGI app plus the Zarr registered as a read source: no database needed). Peers:
uvicorn, 4 workers, from their own venv (never .venv):

    python3.11 -m venv .cache/bench-venvs/climate-peers
    .cache/bench-venvs/climate-peers/bin/pip install titiler.xarray==2.4.0 xpublish==0.5.2 \
        xpublish-edr==0.11.1 'uvicorn[standard]' zarr==3.1.6 netCDF4 h5netcdf cftime
    .venv/bin/python bench/climate_read.py [--seconds 15] [--rounds 2] [--concurrency 8]
"""

from __future__ import annotations

import json
import os
import random
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402

PEERS_VENV = ROOT / ".cache" / "bench-venvs" / "climate-peers"
WORK = ROOT / "var" / "bench" / "climate"
ZARR = WORK / "a1b.zarr"
SOURCE = Path(
    os.environ.get("CLIMATE_BENCH_SOURCE", str(ROOT.parent / "shared" / "data" / "netcdf" / "A1B_north_america.nc"))
)
OURS_PORT, XPUBLISH_PORT, TITILER_PORT = 8925, 8926, 8927  # other benches use 887x-889x
RESCALE = "220,320"


def _synthetic() -> Any:
    """The same shape as A1B_north_america.nc when the workplace's shared data is not beside the
    clone (a fresh clone elsewhere): 240 annual steps on a 360_day calendar, 37 x 49 cells over
    15-60 N and 225-315 E (0-360 longitudes), air temperature in K with a seasonal-free trend."""
    import cftime
    import numpy as np
    import xarray as xr

    rng = np.random.default_rng(20261203)
    time = [cftime.Datetime360Day(1860 + i, 6, 1) for i in range(240)]
    lat = np.linspace(15.0, 60.0, 37, dtype=np.float32)
    lon = np.linspace(225.0, 315.0, 49, dtype=np.float32)
    base = 300.0 - 0.6 * (lat[:, None] - 15.0) + 0.0 * lon[None, :]
    trend = np.linspace(0.0, 4.0, 240)[:, None, None]
    values = (base[None] + trend + rng.normal(0, 1.0, (240, 37, 49))).astype(np.float32)
    air = xr.DataArray(
        values,
        dims=("time", "latitude", "longitude"),
        coords={"time": time, "latitude": lat, "longitude": lon},
        attrs={"standard_name": "air_temperature", "units": "K"},
        name="air_temperature",
    )
    air.latitude.attrs.update(standard_name="latitude", units="degrees_north", axis="Y")
    air.longitude.attrs.update(standard_name="longitude", units="degrees_east", axis="X")
    return air.to_dataset()


def make_zarr() -> None:
    import xarray as xr

    if ZARR.exists():
        return
    WORK.mkdir(parents=True, exist_ok=True)
    if SOURCE.exists():
        ds = xr.open_dataset(SOURCE, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))
        ds = ds[["air_temperature"]].drop_vars(["forecast_period", "forecast_reference_time", "height"])
    else:
        print(f"{SOURCE} is not here: a synthetic cube of the same shape (240 x 37 x 49, 360_day, 0-360)")
        ds = _synthetic()
    ds.air_temperature.attrs.pop("grid_mapping", None)
    for var in ds.variables.values():
        var.encoding = {k: v for k, v in var.encoding.items() if k in ("units", "calendar", "dtype")}
    ds.air_temperature.encoding["chunks"] = (1, ds.sizes["latitude"], ds.sizes["longitude"])
    ds.to_zarr(ZARR, mode="w", zarr_format=2, consolidated=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": "postgresql://root@127.0.0.1:5432/geoplatform_bench_climate",
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/13",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_STORAGE_ROOT": str(WORK / "storage"),
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",
            "GEOPLATFORM_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CLIMATE_BENCH_ZARR": str(ZARR),
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


def points(n: int = 200) -> list[tuple[float, float]]:
    rng = random.Random(13)
    return [(225.0 + 1.875 * rng.randrange(0, 49), 15.0 + 1.25 * rng.randrange(0, 37)) for _ in range(n)]


def tiles(n: int = 300) -> list[tuple[int, int, int, int]]:
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    rng = random.Random(7)
    out = []
    for z in (3, 4, 5):
        for tile in tms.tiles(-135.0, 15.0, -45.0, 60.0, [z]):
            out.append((tile.z, tile.x, tile.y, 1860 + rng.randrange(0, 240)))
    rng.shuffle(out)
    return out[:n]


def check_position(_: int, body: bytes) -> None:
    doc = json.loads(body)
    values = next(iter(doc["ranges"].values()))["values"]
    assert len(values) == 240, len(values)


def check_png(_: int, body: bytes) -> None:
    assert body[:8] == b"\x89PNG\r\n\x1a\n"


def compare(
    label: str, ours: tuple[int, list[str]], peer: tuple[str, int, list[str]], args: Any, check: Any
) -> dict[str, Any]:
    peer_name, peer_port, peer_urls = peer
    ours_port, ours_urls = ours
    out: dict[str, Any] = {"ours": [], peer_name: []}
    requests_ours = [("GET", u, None) for u in ours_urls]
    requests_peer = [("GET", u, None) for u in peer_urls]
    common.load(ours_port, requests_ours, 3, args.concurrency, check=check)  # warm-up
    common.load(peer_port, requests_peer, 3, args.concurrency, check=check)
    for _ in range(args.rounds):
        out["ours"].append(common.load(ours_port, requests_ours, args.seconds, args.concurrency))
        out[peer_name].append(common.load(peer_port, requests_peer, args.seconds, args.concurrency))
    print(f"\n{label}, concurrency {args.concurrency}")
    out["ratio"] = common.print_rounds(out, peer_name)
    p99 = {k: max(r["p99_ms"] for r in out[k]) for k in ("ours", peer_name)}
    print(f"worst p99 ms: ours {p99['ours']:.1f}, {peer_name} {p99[peer_name]:.1f}")
    return out


def main() -> None:
    args = common.load_parser(__doc__).parse_args()
    if not (PEERS_VENV / "bin" / "uvicorn").exists():
        sys.exit(f"the peers are not installed in {PEERS_VENV} (see this script's docstring)")
    make_zarr()
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = _env()
    ours_env = {**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"}
    cmd = [
        str(ROOT / ".venv" / "bin" / "gunicorn"), "climate_read_app:application",
        "--bind", f"127.0.0.1:{OURS_PORT}",
        "--workers", env.get("GEOPLATFORM_WEB_WORKERS", "4"), "--threads", env.get("GEOPLATFORM_WEB_THREADS", "2"),
        "--timeout", "120",
    ]  # fmt: skip
    ours = common.start(cmd, ours_env, logs / "ours.log")
    peer_env = {"CLIMATE_BENCH_ZARR": str(ZARR), "PYTHONPATH": str(ROOT / "bench")}
    xpub = common.start_peer(PEERS_VENV, ["climate_xpublish_app:app"], XPUBLISH_PORT, peer_env, logs / "xpublish.log")
    titiler = common.start_peer(PEERS_VENV, ["titiler.xarray.main:app"], TITILER_PORT, {}, logs / "titiler.log")
    pts = points()
    ours_pos = [f"/api/edr/collections/bench~a1b/position?coords=POINT({x}%20{y})" for x, y in pts]
    xpub_pos = [f"/datasets/a1b/edr/position?coords=POINT({x}%20{y})&parameter-name=air_temperature" for x, y in pts]
    tl = tiles()
    query = f"rescale={RESCALE}&colormap_name=viridis"
    ours_tiles = [
        f"/api/xarray/bench/a1b/tiles/WebMercatorQuad/{z}/{x}/{y}.png?variable=air_temperature&datetime={t}-06-01&{query}"
        for z, x, y, t in tl
    ]
    url = f"file://{ZARR}"
    titiler_tiles = [
        f"/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url={url}&variable=air_temperature&sel=time={t}-06-01&{query}"
        for z, x, y, t in tl
    ]
    try:
        common.wait_http(OURS_PORT, ours_pos[0])
        common.wait_http(XPUBLISH_PORT, xpub_pos[0])
        common.wait_http(TITILER_PORT, titiler_tiles[0])
        position = compare(
            "EDR position, 240-step series",
            (OURS_PORT, ours_pos),
            ("xpublish-edr", XPUBLISH_PORT, xpub_pos),
            args,
            check_position,
        )
        tile = compare(
            f"PNG tiles z3-5 ({len(tl)} tile/step pairs)",
            (OURS_PORT, ours_tiles),
            ("titiler.xarray", TITILER_PORT, titiler_tiles),
            args,
            check_png,
        )
    finally:
        for proc in (ours, xpub, titiler):
            common.stop(proc)
    print(
        f"\nratios (req/s ours / peer): EDR position {position['ratio']:.2f}x vs xpublish-edr, tiles {tile['ratio']:.2f}x vs titiler.xarray"
    )


if __name__ == "__main__":
    main()
