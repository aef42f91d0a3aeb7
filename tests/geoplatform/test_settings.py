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
