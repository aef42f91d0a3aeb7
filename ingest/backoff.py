"""Retry back-off shared by task retries and signed deliveries (callbacks, webhooks)."""

from __future__ import annotations

import random

from django.conf import settings


def retry_delay_seconds(attempt: int) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1), capped."""
    base = float(settings.GEOPLATFORM_RETRY_BASE_SECONDS)
    cap = float(settings.GEOPLATFORM_RETRY_CAP_SECONDS)
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return float(delay * random.uniform(0.8, 1.0))
