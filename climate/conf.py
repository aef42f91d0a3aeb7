"""Limits of the climate app (read from the environment in geoplatform/settings)."""

from __future__ import annotations

from django.conf import settings


def dataset_cache_size() -> int:
    """How many opened datasets a process keeps (keyed by the references' ETag)."""
    return int(getattr(settings, "GEOPLATFORM_CLIMATE_DATASET_CACHE_SIZE", 32))


def item_cache_seconds() -> float:
    """How long a published item is kept in memory before pgSTAC is asked again."""
    return float(getattr(settings, "GEOPLATFORM_CLIMATE_ITEM_CACHE_SECONDS", 5.0))


def max_files() -> int:
    """Most files one series may have (a submit above it is refused before any work)."""
    return int(getattr(settings, "GEOPLATFORM_CLIMATE_MAX_FILES", 5000))


def public_base_url() -> str:
    return str(settings.GEOPLATFORM_PUBLIC_BASE_URL).rstrip("/")


def rechunk_max_bytes() -> int:
    """Largest dataset rechunk_climate copies (it holds the data in memory once)."""
    return int(getattr(settings, "GEOPLATFORM_CLIMATE_RECHUNK_MAX_BYTES", 2 * 1024**3))
