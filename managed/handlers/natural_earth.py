"""Natural Earth Admin 0 countries: a zipped Shapefile under a versioned path.

Natural Earth publishes each release under its version (``<base>/5.1.1/10m_cultural/
ne_10m_admin_0_countries.zip``) and names the current one in a small text file (the
``VERSION`` file of its repository). ``location`` is the base URL; ``settings``:

- ``scale``: ``10m`` (default), ``50m`` or ``110m``;
- ``version``: a release to pin (then no version file is read), or
- ``version_url``: the URL of the text file naming the current release;
- ``path``: the file's path under the base, ``{version}`` and ``{scale}`` filled in
  (default ``{version}/{scale}_cultural/ne_{scale}_admin_0_countries.zip``).

Check, cheapest first: the version label (one small GET of the version file, none when
pinned); the same label as the live version is unchanged. A new label is confirmed by a HEAD
of its file (a version file that names a release whose file is missing is an error saying
so, not an update that fails half-way). Unchanged: at most 1 request.

This is also the land / country layer of the H3 grid: create the source with the stable
collection id :data:`COLLECTION_ID` (``ne_admin0_countries``) so the H3 app finds it.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from managed.fetch import SourceHttp
from managed.models import ManagedSource, SourceVersion

from . import register
from .base import Candidate, CheckResult, Handler, HandlerError, RemoteFile

COLLECTION_ID = "ne_admin0_countries"
DEFAULT_PATH = "{version}/{scale}_cultural/ne_{scale}_admin_0_countries.zip"
_VERSION = re.compile(r"^v?(\d+(?:\.\d+){0,3})$")


def _version_of(text: str, url: str) -> str:
    first = (text.strip().splitlines() or [""])[0].strip()
    match = _VERSION.match(first)
    if match is None:
        raise HandlerError(
            f"{url} does not name a Natural Earth version (expected e.g. '5.1.1', got {first[:40]!r}).",
            remediation="Point settings.version_url at the release's VERSION file, or pin settings.version.",
        )
    return match.group(1)


@register
class NaturalEarthAdmin0Handler(Handler):
    name = "natural_earth_admin0"
    title = "Natural Earth Admin 0 countries (versioned path, zipped Shapefile)"
    target_kind = "vector"
    default_collection_id = COLLECTION_ID
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "scale": {"enum": ["10m", "50m", "110m"]},
            "version": {"type": "string", "pattern": r"^v?\d+(\.\d+){0,3}$"},
            "version_url": {"type": "string", "pattern": r"^https?://"},
            "path": {"type": "string", "minLength": 5, "pattern": r"\.zip$"},
        },
        "additionalProperties": False,
    }

    def settings_clean(self, settings: Any) -> dict[str, Any]:
        cleaned = super().settings_clean(settings)
        if not cleaned.get("version") and not cleaned.get("version_url"):
            raise HandlerError(
                "Natural Earth needs settings.version (a release to pin, e.g. '5.1.1') "
                "or settings.version_url (the text file naming the current release).",
                code="invalid_settings",
            )
        return cleaned

    def _file(self, source: ManagedSource, version: str) -> tuple[str, str]:
        settings = source.settings or {}
        scale = settings.get("scale", "10m")
        path = str(settings.get("path") or DEFAULT_PATH).format(version=version, scale=scale)
        return f"{source.location.rstrip('/')}/{path.lstrip('/')}", path.rsplit("/", 1)[-1]

    def check(self, source: ManagedSource, last: SourceVersion | None, http: SourceHttp) -> CheckResult:
        settings = source.settings or {}
        if settings.get("version"):
            version = _version_of(str(settings["version"]), "settings.version")
        else:
            url = str(settings.get("version_url") or "")
            if not url:
                raise HandlerError("Set settings.version or settings.version_url.", code="invalid_settings")
            response = http.get(url)
            version = _version_of(response.content[:200].decode("utf-8", "replace"), url)
        if last is not None and last.label == version:
            return CheckResult.unchanged(f"version {version} is live")
        file_url, _ = self._file(source, version)
        response = http.head(file_url)  # a 404 is a HandlerError naming the URL
        return CheckResult.new(
            Candidate(
                label=version,
                url=file_url,
                etag=response.headers.get("ETag", ""),
                last_modified=response.headers.get("Last-Modified", ""),
            ),
            f"version {version}" + (f" (live: {last.label})" if last is not None else ""),
        )

    def files(self, source: ManagedSource, candidate: Candidate) -> list[RemoteFile]:
        _, name = self._file(source, candidate.label)
        return [RemoteFile(url=candidate.url, blob_name=name, auth=False)]

    def style(self, source: ManagedSource) -> dict[str, Any] | None:
        if source.style:
            return dict(source.style)
        return {
            "metadata": {
                "title": "Countries",
                "description": "Natural Earth Admin 0: outlines.",
                "authors": ["GeoPlatform"],
            },
            "stylingRules": [
                {
                    "name": "countries",
                    "symbolizer": {
                        "fill": {"color": [241, 238, 230], "opacity": 0.6},
                        "stroke": {"color": [110, 110, 110], "width": {"px": 0.8}},
                    },
                }
            ],
        }
