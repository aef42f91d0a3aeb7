"""FATHOM flood hazard: tiled GeoTIFFs behind a bearer token, the version in the layer id.

FATHOM delivers a hazard layer (e.g. 1-in-100-year fluvial depth) as tiles of one layer id
that ends in its data version: ``FLOOD_MAP-1ARCSEC-NW_OFFSET-1in100-FLUVIAL-DEFENDED-DEPTH-
2020-PERCENTILE50-v3.1``. ``location`` is the base URL of the delivery; ``settings``:

- ``layer``: the layer id WITHOUT its version suffix;
- ``index``: the path, under ``location``, of the JSON index listing the layers and their
  tiles (default ``layers.json``): ``{"layers": [{"id": "<layer>-v3.1", "tiles": ["n50e000.tif", ...]}]}``;
- ``tiles``: optionally, only these tile names (a region).

Tiles are at ``<location>/<layer id>/<tile>``. Every request carries the token named by the
source's ``credentials_setting`` (``needs_credentials``).

Check: one GET of the index; the newest version of the layer is the label; the live label
is unchanged (1 request). A new version is loaded with process_raster_collection into the
version's hidden collection (the default ingest plan of a raster_collection source); the swap makes it the stable collection id, so the mosaic URL
``/api/raster/mosaic/...`` of the collection keeps working across versions.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from managed.fetch import SourceHttp
from managed.models import ManagedSource, SourceVersion

from . import register
from .base import Candidate, CheckResult, Handler, HandlerError, RemoteFile

COLLECTION_ID = "fathom_flood_hazard"
_VERSION = re.compile(r"[-_]v(\d+(?:\.\d+){0,3})$")
_TILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.tiff?$")


def version_tuple(label: str) -> tuple[int, ...]:
    return tuple(int(part) for part in label.split("."))


def layer_versions(index: Any, layer: str) -> dict[str, dict[str, Any]]:
    """{version label: layer entry} of ``layer`` in the index document."""
    entries = index.get("layers") if isinstance(index, dict) else index
    if not isinstance(entries, list):
        raise HandlerError('The FATHOM index is not {"layers": [...]}.', remediation="Check settings.index.")
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        entry = {"id": entry} if isinstance(entry, str) else entry
        layer_id = str((entry or {}).get("id", ""))
        match = _VERSION.search(layer_id)
        if match and layer_id[: match.start()] == layer:
            found[match.group(1)] = entry
    return found


@register
class FathomHandler(Handler):
    name = "fathom_flood"
    title = "FATHOM flood hazard (tiled GeoTIFFs, token, version in the layer id)"
    target_kind = "raster_collection"
    needs_credentials = True
    default_collection_id = COLLECTION_ID
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "layer": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{2,200}$"},
            "index": {"type": "string", "minLength": 1},
            "tiles": {"type": "array", "items": {"type": "string", "pattern": _TILE.pattern}, "minItems": 1},
        },
        "required": ["layer"],
        "additionalProperties": False,
    }

    def check(self, source: ManagedSource, last: SourceVersion | None, http: SourceHttp) -> CheckResult:
        settings = source.settings or {}
        base = source.location.rstrip("/")
        index_url = f"{base}/{str(settings.get('index') or 'layers.json').lstrip('/')}"
        response = http.get(index_url)
        try:
            index = response.json()
        except ValueError as exc:
            raise HandlerError(f"{index_url} is not JSON ({exc}).") from exc
        versions = layer_versions(index, settings["layer"])
        if not versions:
            raise HandlerError(
                f"The index lists no version of layer {settings['layer']!r} (ids '<layer>-v<version>').",
                remediation="Check settings.layer (without its -v<version> suffix).",
            )
        label = max(versions, key=version_tuple)
        if last is not None and last.label == label:
            return CheckResult.unchanged(f"layer version {label} is live")
        entry = versions[label]
        tiles = [str(t) for t in entry.get("tiles") or []]
        wanted = settings.get("tiles")
        if wanted:
            missing = sorted(set(wanted) - set(tiles))
            if missing:
                raise HandlerError(f"Layer {entry['id']} has no tile(s) {', '.join(missing[:10])}.")
            tiles = [t for t in tiles if t in set(wanted)]
        bad = [t for t in tiles if not _TILE.match(t)]
        if not tiles or bad:
            raise HandlerError(
                f"Layer {entry['id']}: no tiles, or tile names that are not GeoTIFF file names: {bad[:5]}."
            )
        return CheckResult.new(
            Candidate(label=label, url=f"{base}/{entry['id']}/", extra={"layer_id": entry["id"], "tiles": tiles}),
            f"layer version {label}" + (f" (live: {last.label})" if last is not None else ""),
        )

    def files(self, source: ManagedSource, candidate: Candidate) -> list[RemoteFile]:
        return [RemoteFile(url=f"{candidate.url}{tile}", blob_name=tile) for tile in candidate.extra["tiles"]]
