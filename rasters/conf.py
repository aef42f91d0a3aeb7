"""Raster limits and tunables (read from the environment in geoplatform/settings/base.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def get(name: str) -> Any:
    return getattr(settings, f"GEOPLATFORM_RASTER_{name}")
