"""Content negotiation for every DRF route: an unknown ``?format=`` is a 400 that names the
formats the route has, not DRF's bare 404 ("Not found." for a route that exists)."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer

from .errors import InvalidInput


class FormatNegotiation(DefaultContentNegotiation):
    def filter_renderers(self, renderers: Iterable[BaseRenderer], format: str) -> list[BaseRenderer]:
        renderers = list(renderers)
        chosen = [renderer for renderer in renderers if renderer.format == format]
        if not chosen:
            supported = list(dict.fromkeys(str(renderer.format) for renderer in renderers))
            known = ", ".join(supported)
            raise InvalidInput(
                f"Unknown format {format!r}: this route answers {known}.",
                code="unknown_format",
                details={"supported": supported},
                remediation="Drop the format parameter, or use one of the supported formats.",
            )
        return chosen
