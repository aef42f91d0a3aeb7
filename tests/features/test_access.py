"""The plain-Django OGC Features views use DRF's authentication, permissions and throttles."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import get_resolver
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle

from tests.conftest import as_owner

pytestmark = [pytest.mark.django_db, pytest.mark.reader]  # reader: also run on a reader deployment


class TwoAMinute(AnonRateThrottle):
    rate = "2/min"


def test_drf_throttles_apply_to_the_features_views(api_client: APIClient, settings: Any) -> None:
    # DRF's APIView copies DEFAULT_THROTTLE_CLASSES into each class when its module is imported:
    # load every view module first, or a view first imported now keeps this 2/min throttle for
    # the rest of the session (rasters' tile tests then got 429s when run after this one).
    get_resolver().url_patterns  # noqa: B018
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": [f"{__name__}.TwoAMinute"],
    }
    try:
        for _ in range(2):
            assert api_client.get("/api/features/conformance").status_code == 200
        throttled = api_client.get("/api/features/conformance")
        assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
        assert throttled.json()["code"] == "TooManyRequests" and throttled.json()["description"]
    finally:
        cache.clear()


def test_session_and_token_callers_are_found_by_drf(auth_client: APIClient, settings: Any) -> None:
    """With reads closed, a browser session (DRF's SessionAuthentication) and a token both read;
    nobody else does."""
    settings.GEOPLATFORM_PUBLIC_READ = False
    url = "/api/features/collections"
    anonymous = APIClient().get(url)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "NotAuthenticated"
    assert auth_client.get(url).status_code == 200
    browser = APIClient(enforce_csrf_checks=True)
    with as_owner():  # a login writes its session (on the writer); the reader reads it
        browser.force_login(get_user_model().objects.create_user("reader", password="x"))
    assert browser.get(url).status_code == 200
