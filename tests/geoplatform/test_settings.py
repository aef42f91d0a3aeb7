from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from geoplatform.settings import env
from geoplatform.settings.base import dramatiq_broker

ROOT = Path(__file__).resolve().parents[2]


def test_database_url_is_parsed() -> None:
    db = env.database_from_url("postgresql://u%40x:p%2Fw@db.example:6543/geo")
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "u@x",
        "p/w",
        "db.example",
        "6543",
        "geo",
    )
    assert db["ENGINE"] == "geoplatform.postgis"
    with pytest.raises(ImproperlyConfigured):
        env.database_from_url("mysql://x/y")


def test_broker_is_chosen_by_url() -> None:
    assert dramatiq_broker("redis://127.0.0.1:6379/0")["BROKER"].endswith("RedisBroker")
    assert dramatiq_broker("amqp://guest:guest@127.0.0.1:5672/")["BROKER"].endswith("RabbitmqBroker")
    with pytest.raises(ImproperlyConfigured):
        dramatiq_broker("kafka://x")


def test_no_secret_default_in_production_settings() -> None:
    """Without GEOPLATFORM_SECRET_KEY the production settings refuse to load."""
    code = "import django; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_ENV_FILE": "/nonexistent",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "GEOPLATFORM_SECRET_KEY is required" in result.stderr


def test_typed_values_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOPLATFORM_X_INT", "ten")
    with pytest.raises(ImproperlyConfigured):
        env.get_int("X_INT", 1)
    monkeypatch.setenv("GEOPLATFORM_X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env.get_bool("X_BOOL", True)
    monkeypatch.setenv("GEOPLATFORM_X_LIST", "a, b,,c")
    assert env.get_list("X_LIST", []) == ["a", "b", "c"]


_PROD_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
c = Client()
plain = c.get("/api/health/details")
proxied = c.get("/api/health/details", HTTP_X_FORWARDED_PROTO="https")
live = c.get("/api/health/live")
ready = c.get("/api/health")
print(json.dumps({
    "redirect": settings.SECURE_SSL_REDIRECT,
    "hsts": settings.SECURE_HSTS_SECONDS,
    "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
    "plain": [plain.status_code, plain.get("Location", "")],
    "proxied": [proxied.status_code, proxied.get("Strict-Transport-Security", "")],
    "probes": [live.status_code, ready.status_code],
}))
"""


def _prod(extra: dict[str, str], code: str = _PROD_PROBE) -> subprocess.CompletedProcess[str]:
    from django.conf import settings

    env_vars = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
        "GEOPLATFORM_ENV_FILE": "/nonexistent",  # a developer's .env must not leak in
        "GEOPLATFORM_SECRET_KEY": "x" * 50,
        "GEOPLATFORM_ALLOWED_HOSTS": "testserver",
        "GEOPLATFORM_BROKER_URL": settings.GEOPLATFORM_BROKER_URL,
        "GEOPLATFORM_LOG_LEVEL": "ERROR",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env_vars, capture_output=True, text=True, timeout=120
    )


def test_production_needs_a_database_url() -> None:
    result = _prod({}, "import django; django.setup()")
    assert result.returncode != 0
    assert "GEOPLATFORM_DATABASE_URL is required" in result.stderr


def test_production_redirects_to_https_with_hsts_and_ignores_forwarded_proto_by_default() -> None:
    import json

    result = _prod({"GEOPLATFORM_DATABASE_URL": "postgresql://root@127.0.0.1:1/none"})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["redirect"] is True and out["hsts"] >= 31_536_000 and out["proxy_header"] is None
    assert out["plain"] == [301, "https://testserver/api/health/details"]
    # A client cannot claim https itself: without a proxy in front the header is not trusted.
    assert out["proxied"] == [301, ""]
    # Load balancers probe liveness and readiness over http (no database here: 503).
    assert out["probes"] == [200, 503]


def test_production_behind_a_proxy_and_local_http() -> None:
    import json

    behind = _prod(
        {"GEOPLATFORM_DATABASE_URL": "postgresql://root@127.0.0.1:1/none", "GEOPLATFORM_BEHIND_PROXY": "true"}
    )
    out = json.loads(behind.stdout.strip().splitlines()[-1])
    assert out["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert out["proxied"] == [401, "max-age=31536000"]  # https per the proxy: no redirect, HSTS
    local = _prod(
        {
            "GEOPLATFORM_DATABASE_URL": "postgresql://root@127.0.0.1:1/none",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",
            "GEOPLATFORM_HSTS_SECONDS": "0",
        }
    )
    out = json.loads(local.stdout.strip().splitlines()[-1])
    assert out["redirect"] is False and out["hsts"] == 0 and out["plain"][0] == 401
