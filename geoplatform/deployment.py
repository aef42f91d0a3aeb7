"""Deployment mode: the full platform, or a reader that serves only the read APIs (F3.3).

``GEOPLATFORM_MODE=reader`` runs the same code with:

- the writer routes (admin, jobs and uploads, publishing) answering 404 ``read_only_deployment``
  naming ``GEOPLATFORM_WRITER_URL``: wrapped in :func:`writer_only` in ``geoplatform/urls.py``,
  so they also drop out of the reader's OpenAPI document;
- every method but GET/HEAD/OPTIONS answering 405 with ``Allow`` (:class:`ReaderMethodsMiddleware`),
  except on views marked ``@read_only_methods("POST")`` (STAC POST /search, raster clip);
- the database role ``GEOPLATFORM_DATABASE_READER_URL`` with SELECT grants only, and
  ``pgstac.readonly=true`` so pgSTAC's ``search()`` does not record searches (settings/base.py);
- no worker or broker checks in health (``health.register(..., writer=True)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver
from django.views.decorators.csrf import csrf_exempt

from .errors import NormalisedError, json_body

MODES = ("full", "reader")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_ATTR = "geoplatform_read_only_methods"

T = TypeVar("T")


def is_reader() -> bool:
    return getattr(settings, "GEOPLATFORM_MODE", "full") == "reader"


def read_only_methods(*methods: str) -> Callable[[T], T]:
    """Mark a view class whose unsafe ``methods`` (e.g. POST with a query body) only read,
    so a reader deployment serves them."""

    def mark(view: T) -> T:
        setattr(view, _ATTR, frozenset(m.upper() for m in methods))
        return view

    return mark


def _writer_hint() -> str:
    url = getattr(settings, "GEOPLATFORM_WRITER_URL", "")
    where = f" at {url}" if url else " (GEOPLATFORM_WRITER_URL is not set here)"
    return f"Send writes, job submission, uploads, publishing and the admin to the writer deployment{where}."


@csrf_exempt  # it changes nothing: a POST without a CSRF token gets the 404 that explains, not 403
def read_only_deployment(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """What a writer route answers on a reader: 404, and where the writer is."""
    error = NormalisedError(
        status=404,
        code="read_only_deployment",
        error_type="ReadOnlyDeployment",
        message="This is a read-only (reader) deployment: this route is served by the writer deployment.",
        details={"writer_url": getattr(settings, "GEOPLATFORM_WRITER_URL", "") or None},
        remediation=_writer_hint(),
    )
    return JsonResponse(json_body(error, request), status=404)


def _disable(pattern: URLPattern | URLResolver) -> URLPattern | URLResolver:
    # Same routes and names (reverse() keeps working), every view replaced.
    if isinstance(pattern, URLResolver):
        return URLResolver(
            pattern.pattern,
            [_disable(p) for p in pattern.url_patterns],
            pattern.default_kwargs,
            app_name=pattern.app_name,
            namespace=pattern.namespace,
        )
    return URLPattern(pattern.pattern, read_only_deployment, pattern.default_args, pattern.name)


def writer_only(urlpatterns: Sequence[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """The patterns as they are on the full platform; on a reader, 404 ``read_only_deployment``."""
    if not is_reader():
        return list(urlpatterns)
    return [_disable(p) for p in urlpatterns]


def _view_class(view_func: Callable[..., Any]) -> Any:
    return getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)


class ReaderMethodsMiddleware:
    """On a reader, 405 for any method but GET/HEAD/OPTIONS unless the view marks it read-only."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.active = is_reader()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        method = (request.method or "GET").upper()
        if not self.active or method in SAFE_METHODS or view_func is read_only_deployment:
            return None
        cls = _view_class(view_func)
        extra: frozenset[str] = getattr(cls, _ATTR, frozenset())
        if method in extra:
            return None
        implemented = {m.upper() for m in getattr(cls, "http_method_names", ()) if hasattr(cls, m)} if cls else set()
        allow = [
            m for m in SAFE_METHODS if not implemented or m in implemented or (m == "HEAD" and "GET" in implemented)
        ]
        allow += sorted(extra)
        error = NormalisedError(
            status=405,
            code="method_not_allowed",
            error_type="ReadOnlyDeployment",
            message=f"{method} is not served by this read-only (reader) deployment.",
            details={"allowed": allow},
            remediation=_writer_hint(),
        )
        response = JsonResponse(json_body(error, request), status=405)
        response["Allow"] = ", ".join(allow)
        return response


def reader_schema_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing: a reader's OpenAPI lists only what it serves, the
    operations ReaderMethodsMiddleware lets through (reads, and the methods views mark
    read-only). Views with both reads and writes (STAC transactions) lose their writes."""
    import re

    from django.urls import Resolver404, resolve

    if not is_reader():
        return result
    for path, operations in list(result.get("paths", {}).items()):
        try:
            match = resolve(re.sub(r"\{[^}]+\}", "x", path))
            marked: frozenset[str] = getattr(_view_class(match.func), _ATTR, frozenset())
        except Resolver404:
            marked = frozenset()
        for method in list(operations):
            if method in ("get", "head", "options", "parameters", "summary", "description"):
                continue
            if method.upper() not in marked:
                del operations[method]
        if not any(m in operations for m in ("get", "head", "post")):
            del result["paths"][path]
    return result
