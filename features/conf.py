"""Limits of the features app (read from the environment in geoplatform/settings)."""

from __future__ import annotations

from django.conf import settings


def max_file_bytes() -> int:
    return int(settings.GEOPLATFORM_VECTOR_MAX_BYTES)


def max_unzipped_bytes() -> int:
    """Total uncompressed size a zip (Shapefile, KMZ) may expand to."""
    return int(settings.GEOPLATFORM_VECTOR_MAX_UNZIPPED_BYTES)


def max_zip_ratio() -> float:
    """Compression ratio above which a zip member is taken for a zip bomb."""
    return float(settings.GEOPLATFORM_VECTOR_MAX_ZIP_RATIO)


def chunk_rows() -> int:
    return int(settings.GEOPLATFORM_VECTOR_CHUNK_ROWS)


def exact_count_max() -> int:
    """Collections up to this many features get an exact ``numberMatched`` under filters."""
    return int(settings.GEOPLATFORM_FEATURES_EXACT_COUNT_MAX)


def cache_seconds() -> int:
    return int(settings.GEOPLATFORM_FEATURES_CACHE_SECONDS)


def public_base_url() -> str:
    """Absolute URL prefix for links stored outside a request (STAC items, job results)."""
    return str(settings.GEOPLATFORM_PUBLIC_BASE_URL).rstrip("/")
