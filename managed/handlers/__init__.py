"""The handler registry: ``register(handler_cls)`` (from ``ManagedConfig.ready()`` or a
handler module imported there) and ``get(name)`` -> an instance."""

from __future__ import annotations

from geoplatform.errors import InvalidInput

from .base import Candidate, CheckResult, Handler, HandlerError, IngestPlan, RemoteFile, SourceUnavailable, Target

__all__ = [
    "Candidate",
    "CheckResult",
    "Handler",
    "HandlerError",
    "IngestPlan",
    "RemoteFile",
    "SourceUnavailable",
    "Target",
    "all_names",
    "get",
    "register",
]

_registry: dict[str, type[Handler]] = {}


def register(handler_cls: type[Handler]) -> type[Handler]:
    """Register a handler class under its ``name`` (usable as a class decorator)."""
    if not handler_cls.name:
        raise ValueError(f"{handler_cls.__name__} has no name")
    if handler_cls.target_kind not in {"vector", "raster", "raster_collection"}:
        raise ValueError(f"{handler_cls.__name__}: target_kind must be vector, raster or raster_collection")
    _registry[handler_cls.name] = handler_cls
    return handler_cls


def get(name: str) -> Handler:
    """An instance of the handler registered as ``name``; 400 listing the valid names."""
    try:
        return _registry[name]()
    except KeyError:
        raise InvalidInput(
            f"Unknown handler {name!r}; valid handlers: {', '.join(sorted(_registry)) or '(none)'}.",
            code="unknown_handler",
            details={"valid_handlers": sorted(_registry)},
        ) from None


def all_names() -> list[str]:
    return sorted(_registry)
