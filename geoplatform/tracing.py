"""One id from the request into its job, stages, tasks, callbacks and logs; OpenTelemetry traces.

- The request id (``X-Request-Id``, geoplatform/middleware.py) is kept on the job
  (``Job.request_id``); every task and callback of the job logs with it, and callbacks send it
  back as ``X-Request-Id``. Messages sent while handling a request or a task carry it
  (:class:`ContextMiddleware`), so other actors (cleanup, callbacks) log it too.
- Traces: OpenTelemetry's SDK, exported over OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``
  (the standard variable; any collector, no vendor SDK) when ``GEOPLATFORM_OTEL_ENABLED``.
  A request's W3C ``traceparent`` is kept on the job (``Job.traceparent``) and every task
  span is its child, so one trace shows the request and the work it started, however late.
  The provider is built on first use in each process, after gunicorn or Dramatiq forked
  (an exporter's thread does not survive a fork).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import dramatiq
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .logging import current_context, log_context

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_provider_pid = 0
_tracer: trace.Tracer | None = None
_lock = threading.Lock()


def enabled() -> bool:
    return bool(getattr(settings, "GEOPLATFORM_OTEL_ENABLED", False))


def use_provider(provider: TracerProvider | None) -> None:
    """Install a provider (tests: the SDK with an in-memory exporter); None rebuilds on next use."""
    global _provider, _provider_pid, _tracer
    _provider, _provider_pid = provider, os.getpid() if provider is not None else 0
    _tracer = None


def _build_provider() -> TracerProvider:
    # Imported here: only a process that exports loads the OTLP exporter (and protobuf).
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    ratio = float(getattr(settings, "GEOPLATFORM_OTEL_SAMPLE_RATIO", 1.0))
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "geoplatform")}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def tracer() -> trace.Tracer:
    global _provider, _provider_pid, _tracer
    if _tracer is None or _provider_pid != os.getpid():
        with _lock:
            if _provider is None or _provider_pid != os.getpid():
                _provider, _provider_pid = _build_provider(), os.getpid()
            # Kept: get_tracer() builds a new tracer and scope each call (measured ~0.1 ms).
            _tracer = _provider.get_tracer("geoplatform")
    return _tracer


def traceparent_now() -> str:
    """The current span's W3C traceparent ('' outside a valid span)."""
    return traceparent_of(trace.get_current_span())


def traceparent_of(current: trace.Span) -> str:
    # Formatted here rather than through the propagator's inject (a carrier, a context lookup
    # and a regex per request): the W3C header is "00-<trace id>-<span id>-<flags>".
    ctx = current.get_span_context()
    if not ctx.is_valid:
        return ""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


@contextlib.contextmanager
def span(
    name: str,
    *,
    traceparent: str = "",
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """A span, child of ``traceparent`` when given (a job's), else of the current one; a
    no-op when tracing is off."""
    if not enabled():
        yield None
        return
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
    with tracer().start_as_current_span(name, context=parent, kind=kind, attributes=attributes or {}) as current:
        with log_context(traceparent=traceparent_now() or None):
            yield current


class TracingMiddleware:
    """A server span per request, child of the caller's ``traceparent`` header when sent."""

    def __init__(self, get_response: Any) -> None:
        if not enabled():
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("traceparent")
        parent = _propagator.extract({"traceparent": incoming}) if incoming else None
        with tracer().start_as_current_span(
            f"HTTP {request.method}", context=parent, kind=trace.SpanKind.SERVER
        ) as current:
            with log_context(traceparent=traceparent_of(current) or None):
                response: HttpResponse = self.get_response(request)
            if not current.is_recording():  # not sampled: nothing to describe
                return response
            attributes: dict[str, Any] = {
                "http.request.method": request.method or "",
                "http.response.status_code": response.status_code,
                "geoplatform.request_id": getattr(request, "request_id", ""),
            }
            route = getattr(getattr(request, "resolver_match", None), "route", None)
            if route:
                current.update_name(f"HTTP {request.method} /{route}")
                attributes["http.route"] = f"/{route}"
            timer = getattr(request, "db_timer", None)  # geoplatform.metrics: database time so far
            if timer is not None:
                attributes["geoplatform.db.statements"] = timer.count
                attributes["geoplatform.db.duration_ms"] = round(timer.seconds * 1000, 2)
            current.set_attributes(attributes)
            if response.status_code >= 500:
                current.set_status(trace.StatusCode.ERROR)
        return response


# --- Dramatiq: the request id and trace into every message ------------------------------------

_OPTION = "geoplatform_context"
_CARRIED = ("request_id", "traceparent")


class ContextMiddleware(dramatiq.Middleware):
    """Messages carry the sender's request id and traceparent; the worker logs with them."""

    def __init__(self) -> None:
        self._local = threading.local()

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay: Any) -> None:  # type: ignore[type-arg]
        ctx = current_context()
        carried = {k: ctx[k] for k in _CARRIED if ctx.get(k)}
        if carried:
            message.options[_OPTION] = carried

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        stack = contextlib.ExitStack()
        carried = message.options.get(_OPTION) or {}
        stack.enter_context(log_context(**{k: v for k, v in carried.items() if k in _CARRIED}))
        self._local.stack = stack

    def _end(self) -> None:
        stack = getattr(self._local, "stack", None)
        if stack is not None:
            self._local.stack = None
            stack.close()

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        self._end()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._end()
