"""Every write route answers 401 without a token and 403 with a token that lacks its permission.

The routes come from the URLconf itself (walked recursively), not from a list kept by hand:
a write route added tomorrow is checked without anyone remembering to add it here. A route
that is deliberately open for writes must be named in ``PUBLIC_WRITES`` with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, include, path, reverse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

WRITE_METHODS = ("post", "put", "patch", "delete")

# Plausible values for URL parameters, by name (what matters is reaching the permission check).
SAMPLE_KWARGS: dict[str, str] = {
    "job_type": "hello",
    "job_id": "0" * 64,
    "collection_id": "collection-1",
    "item_id": "item-1",
    "feature_id": "1",
    "search_id": "0" * 32,
    "tms": "WebMercatorQuad",
    "z": "0",
    "x": "0",
    "y": "0",
    "fmt": "png",
    "ident": "0" * 32,
    "asset_id": "0" * 32,
    "dataset_id": "dataset-1",
    "collection": "collection-1",
    "item": "item-1",
    "style_id": "style-1",
    "section": "versions",
    "name": "requeue_stuck_tasks",
    "cell": "85283473fffffff",
    "dggrs_id": "H3",
    "zone_id": "85283473fffffff",
    "number": "1",
}

# Write routes open without a token or without a permission, each with its reason:
# (route name, method) -> why. A route not listed here must answer 401 then 403.
PUBLIC_WRITES: dict[tuple[str, str], str] = {
    ("stac-search", "post"): "STAC item search by POST only reads; it follows GEOPLATFORM_PUBLIC_READ like GET.",
    ("raster-clip", "post"): "Clip by POST (the geometry is the body) only reads; it follows GEOPLATFORM_PUBLIC_READ.",
    ("platform-not-found", "post"): "Catch-all 404 (DDH envelope) for unknown /api/platform/ paths; does nothing.",
    ("platform-not-found", "put"): "Catch-all 404 for unknown /api/platform/ paths; does nothing.",
    ("platform-not-found", "patch"): "Catch-all 404 for unknown /api/platform/ paths; does nothing.",
    ("platform-not-found", "delete"): "Catch-all 404 for unknown /api/platform/ paths; does nothing.",
}

# URL namespaces left out entirely, with the reason.
SKIPPED_NAMESPACES: dict[str, str] = {
    "admin": "Django admin: staff session login with CSRF (tests/publishing/test_admin.py), not token API.",
}


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    methods: tuple[str, ...] | None  # write methods the view class declares; None: a function view


def _walk(
    patterns: list[Any], namespace: str = "", outer: tuple[str, ...] = ()
) -> Iterator[tuple[str, URLPattern, tuple[str, ...]]]:
    """(namespace, route, URL parameters of the includes above it: e.g. styles are mounted
    under api/features/collections/<collection_id>/)."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            groups = outer + tuple(entry.pattern.regex.groupindex)
            yield from _walk(entry.url_patterns, f"{namespace}{ns}:" if ns else namespace, groups)
        elif isinstance(entry, URLPattern):
            yield namespace, entry, outer


def _groups(pattern: URLPattern, outer: tuple[str, ...] = ()) -> list[str]:
    regex = pattern.pattern.regex
    # The tile routes' optional retina suffix: leave it out (the route also matches without it).
    return [name for name in (*outer, *regex.groupindex) if name != "scale"]


def _declared_write_methods(pattern: URLPattern) -> tuple[str, ...] | None:
    view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
    if view_class is None:
        return None
    allowed = getattr(view_class, "http_method_names", WRITE_METHODS)
    return tuple(m for m in WRITE_METHODS if m in allowed and callable(getattr(view_class, m, None)))


def write_routes() -> tuple[list[Route], list[str]]:
    """(the routes with their declared write methods, the routes that could not be built)."""
    routes: list[Route] = []
    unbuildable: list[str] = []
    for namespace, pattern, outer in _walk(get_resolver().url_patterns):
        if namespace.rstrip(":").split(":")[0] in SKIPPED_NAMESPACES:
            continue
        label = f"{namespace}{pattern.name or pattern.pattern}"
        if not pattern.name:
            unbuildable.append(f"{label}: unnamed route (name it so it can be reversed and checked)")
            continue
        kwargs = {}
        for group in _groups(pattern, outer):
            if group == "container":
                kwargs[group] = settings.GEOPLATFORM_UPLOAD_CONTAINERS[0]
            elif group in SAMPLE_KWARGS:
                kwargs[group] = SAMPLE_KWARGS[group]
            else:
                unbuildable.append(f"{label}: no sample value for URL parameter {group!r} (add it to SAMPLE_KWARGS)")
                break
        else:
            url = reverse(f"{namespace}{pattern.name}", kwargs=kwargs)
            routes.append(Route(f"{namespace}{pattern.name}", url, _declared_write_methods(pattern)))
    return routes, unbuildable


def _call(client: APIClient, method: str, path: str) -> Any:
    return getattr(client, method)(path, {}, format="json")


def test_the_walk_finds_the_routes_it_must_guard() -> None:
    """The walker itself: it sees the known write routes (so an empty walk cannot pass)."""
    routes, unbuildable = write_routes()
    assert not unbuildable, "\n".join(unbuildable)
    by_name = {r.name: r for r in routes}
    assert by_name["platform-submit"].methods == ("post",)
    assert by_name["storage-upload"].methods == ("post",)
    assert by_name["jobs-submit"].methods == ("post",)
    assert "post" in (by_name["raster-clip"].methods or ())
    assert by_name["stac-conformance"].methods == ()
    assert by_name["stac-collections"].methods == ("post",)  # STAC transactions: create a collection
    assert re.fullmatch(
        r"/api/raster/collection-1/item-1/tiles/WebMercatorQuad/0/0/0\.png", by_name["raster-tile"].path
    )


def route_problems(anonymous_client: APIClient, plain_client: APIClient) -> tuple[list[str], int]:
    """(what is wrong, how many route+method pairs were checked) for the active URLconf."""
    routes, unbuildable = write_routes()
    problems: list[str] = list(unbuildable)
    checked = 0
    for route in routes:
        methods = route.methods
        if methods is None:
            # A function view: which write methods it takes is only known by asking it.
            methods = tuple(m for m in WRITE_METHODS if _call(anonymous_client, m, route.path).status_code != 405)
        for method in methods:
            anonymous = _call(anonymous_client, method, route.path).status_code
            plain = _call(plain_client, method, route.path).status_code
            where = f"{method.upper()} {route.path} ({route.name})"
            if (route.name, method) in PUBLIC_WRITES:
                if anonymous >= 500 or plain >= 500:
                    problems.append(f"{where}: public write answered {anonymous} / {plain}")
                continue
            checked += 1
            if anonymous != 401:
                problems.append(f"{where}: {anonymous} without a token (expected 401)")
            if plain != 403:
                problems.append(f"{where}: {plain} with a token lacking the permission (expected 403)")
    return problems, checked


@pytest.mark.django_db
def test_every_write_route_needs_a_token_and_a_permission(api_client: APIClient, plain_user_client: APIClient) -> None:
    problems, checked = route_problems(api_client, plain_user_client)
    assert not problems, "\n".join(problems)
    assert checked >= 9  # jobs submit/retry/cancel, upload, platform submit/approve/reject/revoke/unpublish


# --- the walker catches a forgotten route ------------------------------------------------------


class _ForgottenWriteApi(APIView):
    """A write route as one might add it in a hurry: no authentication, no permission."""

    permission_classes = [AllowAny]

    def delete(self, request: Request, thing_id: str) -> Response:
        return Response(status=204)


def _forgotten_function_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("written", status=201)


# This module is also a URLconf (pytest.mark.urls below): the real one plus two unguarded routes.
urlpatterns = [
    path("", include("geoplatform.urls")),
    path("api/things/<str:thing_id>", _ForgottenWriteApi.as_view(), name="forgotten-write"),
    path("api/hook", _forgotten_function_view, name="forgotten-hook"),
]
SAMPLE_KWARGS.setdefault("thing_id", "1")


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_forgotten_write_route_fails_the_check(api_client: APIClient, plain_user_client: APIClient) -> None:
    problems, _ = route_problems(api_client, plain_user_client)
    expected = {
        f"{method} {url} ({name}): 201 {who}"
        for method in ("POST", "PUT", "PATCH", "DELETE")
        for url, name in [("/api/hook", "forgotten-hook")]
        for who in ("without a token (expected 401)", "with a token lacking the permission (expected 403)")
    } | {
        "DELETE /api/things/1 (forgotten-write): 204 without a token (expected 401)",
        "DELETE /api/things/1 (forgotten-write): 204 with a token lacking the permission (expected 403)",
    }
    assert set(problems) == expected, "\n".join(problems)
