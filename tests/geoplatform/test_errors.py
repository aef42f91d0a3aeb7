"""One normaliser, three renderers: the same error answers with the same status, code and
headers whatever body a route speaks (platform JSON, OGC exception, DDH envelope)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from catalog.errors import CollectionNotFound as StacCollectionNotFound
from catalog.errors import InvalidSearch
from features.errors import CollectionNotFound, InvalidQuery
from geoplatform.errors import (
    OGC_CODES,
    ServiceUnavailable,
    api_exception_handler,
    normalise,
    ogc_error_response,
    ogc_exception_handler,
)
from ingest.errors import JobNotFound
from publishing.api import ddh_exception_handler
from publishing.errors import PublicationFailed, ReleaseExistsError, ReviewForbidden
from rasters.errors import RequestTooLarge

_EXCEPTIONS: list[tuple[Exception, int, str, str]] = [
    # exception, status, platform code, DDH error_type
    (CollectionNotFound("No collection 'x'."), 404, "collection_not_found", "CollectionNotFound"),
    (StacCollectionNotFound("No collection 'x'."), 404, "collection_not_found", "CollectionNotFound"),
    (JobNotFound("No job."), 404, "job_not_found", "JobNotFound"),
    (InvalidQuery("Bad bbox."), 400, "invalid_parameter_value", "InvalidQuery"),
    (InvalidSearch("Bad datetime."), 400, "InvalidParameterValue", "InvalidSearch"),
    (
        ReleaseExistsError("Exists.", details={"existing_release": {"id": "r1"}}),
        409,
        "release_exists",
        "ReleaseExistsError",
    ),
    (ReviewForbidden("Not yours."), 403, "review_forbidden", "ReviewForbidden"),
    (PublicationFailed("STAC refused the item."), 502, "publication_failed", "PublicationFailed"),
    (RequestTooLarge("Too many pixels."), 413, "request_too_large", "RequestTooLarge"),
    (ServiceUnavailable("Down."), 503, "service_unavailable", "ServiceUnavailable"),
    (OperationalError("server closed the connection"), 503, "database_unavailable", "ServiceUnavailable"),
    (RequestDataTooBig("too big"), 413, "payload_too_large", "PayloadTooLarge"),
    (Http404("nothing here"), 404, "not_found", "NotFound"),
    (DjangoPermissionDenied(), 403, "permission_denied", "PermissionDenied"),
    (drf_exceptions.NotFound(), 404, "not_found", "NotFound"),
    (drf_exceptions.NotAuthenticated(), 401, "not_authenticated", "AuthenticationRequired"),
    (drf_exceptions.MethodNotAllowed("DELETE"), 405, "method_not_allowed", "MethodNotAllowed"),
    (drf_exceptions.Throttled(wait=7), 429, "throttled", "Throttled"),
    (drf_exceptions.ValidationError({"limit": ["Too big."]}), 400, "invalid_request", "ValidationError"),
    (KeyError("a bug"), 500, "server_error", "InternalError"),
]


def _request() -> Request:
    django_request = APIRequestFactory().get("/api/anything")
    django_request.request_id = "req-1"  # type: ignore[attr-defined]
    return Request(django_request)


def _render_all(exc: Exception) -> dict[str, Any]:
    request = _request()
    context = {"request": request}
    return {
        "json": api_exception_handler(exc, context),
        "ogc": ogc_exception_handler(exc, context),
        "ogc_plain": ogc_error_response(exc, request._request),
        "ddh": ddh_exception_handler(exc, context),
    }


def _data(response: Any) -> dict[str, Any]:
    if hasattr(response, "data"):
        return dict(response.data)
    return dict(json.loads(response.content))


@pytest.mark.parametrize(
    ("exc", "status", "code", "error_type"),
    _EXCEPTIONS,
    ids=[f"{type(e).__module__}.{type(e).__name__}" for e, *_ in _EXCEPTIONS],
)
def test_each_renderer_gives_the_same_status_code_and_headers(
    exc: Exception, status: int, code: str, error_type: str
) -> None:
    responses = _render_all(exc)
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, status)
    headers = {name: {h: r.get(h) for h in ("Retry-After", "WWW-Authenticate")} for name, r in responses.items()}
    assert len({tuple(h.items()) for h in headers.values()}) == 1, headers
    if status in (503, 429):
        assert responses["ddh"]["Retry-After"] == ("7" if status == 429 else "5")

    platform = _data(responses["json"])
    assert platform["code"] == code and platform["message"] and platform["request_id"] == "req-1"

    ogc = _data(responses["ogc"])
    assert ogc == _data(responses["ogc_plain"])  # DRF (STAC) and plain Django (Features) alike
    assert set(ogc) == {"code", "description"}
    assert ogc["code"] == OGC_CODES.get(status, "ServerError" if status >= 500 else "Error")
    assert ogc["description"] == platform["message"]

    ddh = _data(responses["ddh"])
    assert ddh["success"] is False and ddh["error_type"] == error_type and ddh["error"] == platform["message"]
    assert normalise(exc).code == code


def test_unknown_errors_are_logged_with_their_request(caplog: pytest.LogCaptureFixture) -> None:
    request = _request()
    with caplog.at_level("ERROR", logger="geoplatform.errors"):
        response = api_exception_handler(RuntimeError("boom"), {"request": request})
    assert response.status_code == 500 and "boom" not in str(response.data)
    record = caplog.records[-1]
    assert record.exc_info and record.path == "/api/anything" and record.method == "GET"  # type: ignore[attr-defined]
    assert record.request_id == "req-1"  # type: ignore[attr-defined]


def test_validation_errors_name_the_field_in_every_body() -> None:
    """The platform body said only "see details"; the DDH envelope named the fields. Both name them."""
    exc = drf_exceptions.ValidationError({"limit": ["Too big."], "non_field_errors": ["Pick one."]})
    responses = _render_all(exc)
    assert _data(responses["json"])["message"] == "Invalid request: limit: Too big.; Pick one."
    assert _data(responses["ddh"])["error"] == _data(responses["json"])["message"]
    assert _data(responses["json"])["details"] == _data(responses["ddh"])["details"]


@pytest.mark.django_db
def test_features_and_stac_agree_on_a_missing_collection(api_client: APIClient) -> None:
    """Features said ``NotFound``, STAC ``collection_not_found``: the OGC body names the kind of
    error by its OGC API code, as pygeoapi and OGC API Features' own examples do."""
    features = api_client.get("/api/features/collections/nope")
    stac = api_client.get("/api/stac/collections/nope")
    assert features.status_code == stac.status_code == 404
    assert features.json()["code"] == stac.json()["code"] == "NotFound"
    assert features.json()["description"] and stac.json()["description"]


@pytest.mark.django_db
def test_features_and_stac_agree_on_a_bad_token(api_client: APIClient) -> None:
    features = api_client.get("/api/features/collections", HTTP_AUTHORIZATION="Token not-a-token")
    stac = api_client.get("/api/stac/collections", HTTP_AUTHORIZATION="Token not-a-token")
    assert features.status_code == stac.status_code == 401
    assert features.json()["code"] == stac.json()["code"] == "NotAuthenticated"
    assert features["WWW-Authenticate"] == stac["WWW-Authenticate"] == "Token"
