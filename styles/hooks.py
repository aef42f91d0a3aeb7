"""What styles hangs on the features app (features.hooks): a default style on every load,
styles removed with their collection, the conformance classes, the links, the map style."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.templatetags.static import static
from django.urls import reverse

from features import hooks as features_hooks

from . import defaults, encodings, selectors, services

logger = logging.getLogger(__name__)

CONF = "http://www.opengis.net/spec/ogcapi-styles-1/1.0/conf/"
# sld-11 is not declared: the SLD 1.1 output is checked for its structure only, not against
# the OGC schemas (not available offline here).
CONFORMANCE = [CONF + c for c in ("core", "manage-styles", "style-validation", "mapbox-styles")]
REL_STYLES = "http://www.opengis.net/def/rel/ogc/1.0/styles"


def on_collection_ready(sender: Any, dataset: Any, classes: Callable[[str, int], list[str] | None], **_: Any) -> None:
    try:
        # A savepoint: a style that cannot be made costs the map its colours, never the load.
        with transaction.atomic():
            doc = defaults.default_style(
                title=dataset.title or dataset.collection_id,
                geometry_type=dataset.geometry_type,
                attributes=dataset.attributes,
                classes=classes,
                feature_count=dataset.feature_count,
            )
            services.style_generate(collection_id=dataset.collection_id, doc=doc)
    except Exception:
        logger.exception("no default style for collection %s", dataset.collection_id)


def on_collection_removed(sender: Any, collection_id: str, **_: Any) -> None:
    services.styles_remove(collection_id=collection_id)


def collection_links(collection_id: str, url: Callable[[str], str]) -> list[dict[str, Any]]:
    return [
        {
            "href": url(f"collections/{collection_id}/styles?f=json"),
            "rel": REL_STYLES,
            "type": "application/json",
            "title": "Styles",
        },
    ]


def map_style(collection_id: str) -> dict[str, Any] | None:
    style = selectors.style_default(collection_id=collection_id)
    if style is None:
        return None
    href = reverse("styles:style", kwargs={"collection_id": collection_id, "style_id": style.style_id})
    try:
        legend = encodings.legend(style.cartosym)
    except Exception:  # a style stored before a translation rule changed: no legend, still a map
        logger.warning("no legend for %s/%s", collection_id, style.style_id, exc_info=True)
        legend = []
    return {
        "id": style.style_id,
        "title": style.title,
        "leaflet": href + "?f=leaflet",
        "mapbox": href + "?f=mapbox",
        "legend": legend,
        "script": static("styles/leaflet-style.js"),
    }


def register() -> None:
    features_hooks.collection_ready.connect(on_collection_ready, dispatch_uid="styles.default_style")
    features_hooks.collection_removed.connect(on_collection_removed, dispatch_uid="styles.remove")
    features_hooks.register_conformance(CONFORMANCE)
    features_hooks.register_collection_links(collection_links)
    features_hooks.register_map_style(map_style)
