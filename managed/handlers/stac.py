"""A STAC collection elsewhere (a static catalog or an API's collection): its new items.

``location`` is the URL of the collection document (``collection.json``); its items are the
``rel=item`` links (a static catalog) or, with ``settings.items_url``, a GeoJSON
FeatureCollection of items (an API's ``/items``, first page only). ``settings``:

- ``asset``: the key of the asset to load (default: the first GeoTIFF asset, role ``data``
  first);
- ``max_items``: refuse a collection listing more (default 500).

Check, cheapest first: a conditional GET of the collection (304: unchanged, 1 request); then
its item list; the same items as the live version: unchanged (2-3 requests). Otherwise only
the NEW items' documents are read and their assets downloaded; the items the live version
already had are carried over (their downloaded files copied into the new version, or
downloaded again when they are gone), so each version is the whole collection and the swap
stays one switch. Items that left the remote collection leave with the new version.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urljoin

from geoplatform import storage
from managed.fetch import SourceHttp, file_name_of
from managed.models import ManagedSource, SourceVersion, VersionStatus

from . import register
from .base import Candidate, CheckResult, Handler, HandlerError, IngestPlan, RemoteFile, Target

_TIFF_TYPES = ("image/tiff", "image/geotiff", "image/vnd.stac.geotiff")


def _json(http: SourceHttp, url: str) -> Any:
    response = http.get(url)
    try:
        return response.json()
    except ValueError as exc:
        raise HandlerError(f"{url} is not JSON ({exc}).") from exc


def item_links(doc: dict[str, Any], base: str) -> list[str]:
    """Absolute hrefs of a collection's ``rel=item`` links, in order, without repeats."""
    out: list[str] = []
    for link in doc.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "item" and link.get("href"):
            href = urljoin(base, str(link["href"]))
            if href not in out:
                out.append(href)
    return out


def data_asset(item: dict[str, Any], base: str, key: str = "") -> str:
    """The absolute href of the item's asset to load (``key``, else its first GeoTIFF)."""
    assets = item.get("assets") or {}
    if key:
        if key not in assets:
            raise HandlerError(f"Item {item.get('id')!r} has no asset {key!r} (it has {', '.join(assets)}).")
        chosen = assets[key]
    else:
        tiffs = [
            a for a in assets.values() if isinstance(a, dict) and str(a.get("type", "")).split(";")[0] in _TIFF_TYPES
        ]
        tiffs.sort(key=lambda a: "data" not in (a.get("roles") or []))
        if not tiffs:
            raise HandlerError(
                f"Item {item.get('id')!r} has no GeoTIFF asset.", remediation="Name the asset in settings.asset."
            )
        chosen = tiffs[0]
    return urljoin(base, str(chosen["href"]))


def blob_name_of(item_id: str) -> str:
    return file_name_of(f"x/{item_id}") + ".tif"


@register
class StacCollectionHandler(Handler):
    name = "stac_collection"
    title = "A STAC collection (static catalog or API): new items since the last version"
    target_kind = "raster_collection"
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "asset": {"type": "string", "minLength": 1},
            "items_url": {"type": "string", "pattern": r"^https?://"},
            "max_items": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
        "additionalProperties": False,
    }

    def check(self, source: ManagedSource, last: SourceVersion | None, http: SourceHttp) -> CheckResult:
        settings = source.settings or {}
        url = source.location
        etag = modified = ""
        if last is not None and not settings.get("items_url"):
            collection_validators = (last.candidate.get("extra") or {}).get("collection") or {}
            changed, response = http.conditional_get(
                url,
                etag=collection_validators.get("etag", ""),
                last_modified=collection_validators.get("last_modified", ""),
            )
            if not changed:
                return CheckResult.unchanged("collection 304 Not Modified")
        response = http.get(url)
        etag, modified = response.headers.get("ETag", ""), response.headers.get("Last-Modified", "")
        try:
            collection = response.json()
        except ValueError as exc:
            raise HandlerError(f"{url} is not JSON ({exc}).") from exc
        if settings.get("items_url"):
            page = _json(http, str(settings["items_url"]))
            listed = {str(f["id"]): f for f in page.get("features") or [] if isinstance(f, dict) and f.get("id")}
            hrefs = {item_id: f"{settings['items_url']}#{item_id}" for item_id in listed}
        else:
            links = item_links(collection, url)
            hrefs = {href: href for href in links}  # keyed by href until the item is read
            listed = {}
        limit = int(settings.get("max_items", 500))
        if len(hrefs) > limit:
            raise HandlerError(f"The collection lists {len(hrefs)} items; settings.max_items is {limit}.")
        previous: dict[str, dict[str, str]] = (
            (last.candidate.get("extra") or {}).get("items") or {} if last is not None else {}
        )
        known_by_href = {entry["href"]: item_id for item_id, entry in previous.items()}
        current_hrefs = set(hrefs.values())
        if last is not None and current_hrefs == set(known_by_href):
            return CheckResult.unchanged("no new or removed items")
        items: dict[str, dict[str, str]] = {}
        new: list[str] = []
        for href in sorted(current_hrefs):
            if href in known_by_href:
                item_id = known_by_href[href]
                items[item_id] = dict(previous[item_id])
                continue
            item = listed.get(href.rsplit("#", 1)[-1]) if listed else _json(http, href)
            if not isinstance(item, dict) or not item.get("id"):
                raise HandlerError(f"{href} is not a STAC item (no id).")
            item_id = str(item["id"])
            items[item_id] = {"href": href, "asset": data_asset(item, href, str(settings.get("asset") or ""))}
            new.append(item_id)
        if not items:
            raise HandlerError(f"The collection {url} lists no items.")
        carried = _carried_blobs(last, items, new)
        label = str(collection.get("version") or "") if isinstance(collection, dict) else ""
        return CheckResult.new(
            Candidate(
                label=label or f"{len(items)} items",
                url=url,
                etag=etag,
                last_modified=modified,
                extra={
                    "items": items,
                    "new": sorted(new),
                    "carried": carried,
                    "collection": {"etag": etag, "last_modified": modified},
                },
            ),
            f"{len(new)} new item(s), {len(set(known_by_href.values()) - set(items))} removed",
        )

    def files(self, source: ManagedSource, candidate: Candidate) -> list[RemoteFile]:
        extra = candidate.extra
        bronze = storage.zone_container("bronze")
        wanted = list(extra["new"])
        # Carried items whose file is gone (an older version retired) are downloaded again.
        wanted += [i for i, blob in extra["carried"].items() if not storage.blob_exists(bronze, blob)]
        if not wanted:
            # Only removals: nothing to download, but the download stage needs one file to hash.
            wanted = sorted(extra["items"])[:1]
        return [RemoteFile(url=extra["items"][i]["asset"], blob_name=blob_name_of(i)) for i in sorted(set(wanted))]

    def prepare(self, source: ManagedSource, candidate: Candidate, blobs: list[str]) -> list[str]:
        """Copy the carried items' files into this version's folder (each version owns its
        files, so retiring an older version never takes a newer one's data)."""
        bronze = storage.zone_container("bronze")
        folder = blobs[0].rsplit("/", 1)[0]
        have = {b.rsplit("/", 1)[-1] for b in blobs}
        out = list(blobs)
        for item_id, old in sorted(candidate.extra["carried"].items()):
            name = blob_name_of(item_id)
            if name in have:
                continue
            new = f"{folder}/{name}"
            if not storage.blob_exists(bronze, new):
                src = storage.get_storage(bronze)
                with src.open(old, "rb") as fh:
                    storage.blob_save(bronze, new, fh, size=storage.blob_size(bronze, old), overwrite=True)
            out.append(new)
        return out

    def ingest(self, source: ManagedSource, candidate: Candidate, blobs: list[str], target: Target) -> IngestPlan:
        """The default process_raster_collection plan, each file named by its item's id."""
        plan = super().ingest(source, candidate, blobs, target)
        by_name = {blob_name_of(i): i for i in candidate.extra["items"]}
        plan.parameters["files"] = [
            {"file_name": b, "item_id": by_name[b.rsplit("/", 1)[-1]]} if b.rsplit("/", 1)[-1] in by_name else b
            for b in blobs
        ]
        return plan


def _carried_blobs(last: SourceVersion | None, items: dict[str, Any], new: list[str]) -> dict[str, str]:
    """{item id: the live version's blob of it} for the items kept from the live version."""
    if last is None or last.status != VersionStatus.LIVE:
        return {}
    by_name = {b.rsplit("/", 1)[-1]: b for b in last.blobs or []}
    return {
        item_id: by_name[blob_name_of(item_id)]
        for item_id in items
        if item_id not in new and blob_name_of(item_id) in by_name
    }
