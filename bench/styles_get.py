"""Style GET latency: each encoding of a 13-rule categorical style at concurrency 8, our server
(gunicorn as scripts/run.sh) on a dedicated database. The target (issue 14) is p99 < 50 ms;
the printed ratio is target / measured p99 (>= 1 meets it). No peer serves CartoSym.

    .venv/bin/python bench/styles_get.py [--seconds 15] [--rounds 2] [--concurrency 8]

Each request misses the ETag (no If-None-Match): the style row is read and translated every time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402  (as every benchmark imports it: one module, not two names)

DB_NAME = "geoplatform_bench_styles"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"
PORT = 8891
TARGET_MS = 50.0
ENCODINGS = ("cartosym", "mapbox", "leaflet", "sld")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": DB_URL,
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/12",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",
            "GEOPLATFORM_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


SEED = """
import django; django.setup()
from features.models import VectorDataset
from styles import defaults, services
from styles.models import Style
VectorDataset.objects.update_or_create(collection_id="bench_areas", defaults={"geometry_type": "MultiPolygon",
    "feature_count": 1000, "bbox": [0, 0, 10, 10], "attributes": [{"name": "kind", "type": "text", "source_name": "kind"}]})
Style.objects.filter(collection_id="bench_areas").delete()
values = [f"class {i}" for i in range(12)]
doc = defaults.default_style(title="bench", geometry_type="MultiPolygon", attributes=[{"name": "kind", "type": "text"}],
                             classes=lambda c, n: values)
services.style_create(collection_id="bench_areas", style_id="categorical", doc=doc, default=True)
"""


def prepare(env: dict[str, str]) -> None:
    common.database_ready(DB_NAME, env)
    subprocess.run([sys.executable, "-c", SEED], cwd=ROOT, env=env, check=True)


def main() -> None:
    args = common.load_parser(__doc__).parse_args()
    env = _env()
    prepare(env)
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    server = common.start_ours(PORT, env, logs / "styles-ours.log")
    base = "/api/features/collections/bench_areas/styles/categorical?f="
    results: dict[str, list[dict[str, float]]] = {}
    try:
        common.wait_http(PORT, base + "cartosym")
        status, body = common.get(PORT, base + "mapbox")
        assert status == 200 and len(json.loads(body)["layers"]) == 26, body[:200]
        for enc in ENCODINGS:
            common.load(PORT, [("GET", base + enc, None)], 2, args.concurrency)  # warm-up
            results[enc] = [
                common.load(PORT, [("GET", base + enc, None)], args.seconds, args.concurrency)
                for _ in range(args.rounds)
            ]
    finally:
        common.stop(server)
    print(f"\nGET a 13-rule style, concurrency {args.concurrency}, {args.seconds:g} s x {args.rounds} rounds")
    print("| encoding | round | requests | req/s | p50 ms | p99 ms | errors | target/p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for enc, runs in results.items():
        for i, r in enumerate(runs, 1):
            print(
                f"| {enc} | {i} | {r['requests']:.0f} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                f"| {r['errors']:.0f} | {TARGET_MS / r['p99_ms']:.2f}x |"
            )
    print(f"load average (1/5/15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
