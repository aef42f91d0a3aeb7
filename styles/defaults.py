"""The style made for a collection when it is loaded, chosen from its data: symbolizers by
geometry type; a categorical style (one colour per class, colour-blind-safe palettes) when
a text column has 2 to 12 distinct values, otherwise a single symbol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_CLASSES = 12
# Okabe & Ito (2008), "Color Universal Design": 8 colours, distinguishable with every common
# colour-vision deficiency. Used for up to 8 classes.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]
# Paul Tol's "muted" qualitative scheme (9 colours + pale grey, https://personal.sron.nl/~pault/),
# then black and dark grey: for 9 to 12 classes.
TOL_MUTED = [
    "#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499",
    "#DDDDDD", "#000000", "#777777",
]  # fmt: skip
SINGLE = "#0072B2"  # Okabe-Ito blue
OTHER = "#BBBBBB"  # features outside every class (nulls): drawn first, pale


def rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]


def palette(n: int) -> list[str]:
    return OKABE_ITO[:n] if n <= len(OKABE_ITO) else TOL_MUTED[:n]


def family(geometry_type: str) -> str:
    g = geometry_type.removeprefix("Multi")
    return g if g in ("Point", "LineString", "Polygon") else "Any"


def symbolizer(geometry_type: str, colour: str) -> dict[str, Any]:
    c = rgb(colour)
    fam = family(geometry_type)
    out: dict[str, Any] = {}
    if fam in ("Polygon", "Any"):
        out["fill"] = {"color": c, "opacity": 0.6}
        out["stroke"] = {"color": [51, 51, 51], "width": {"px": 1}}
    if fam == "LineString":
        out["stroke"] = {"color": c, "width": {"px": 2}}
    if fam in ("Point", "Any"):
        out["marker"] = {
            "elements": [
                {"type": "Circle", "radius": 5, "fill": {"color": c}, "stroke": {"color": [255, 255, 255], "width": 1}}
            ]
        }
    return out


def choose_column(
    attributes: list[dict[str, Any]], classes: Callable[[str, int], list[str] | None], feature_count: int | None = None
) -> tuple[str, list[str]] | None:
    """The first text column with 2..12 distinct values (reading at most 5 columns), fewer
    than the features (a value per feature names them; it does not class them)."""
    texts = [a["name"] for a in attributes if a.get("type") == "text"][:5]
    for column in texts:
        values = classes(column, MAX_CLASSES)
        if (
            values is not None
            and 2 <= len(values) <= MAX_CLASSES
            and (feature_count is None or len(values) < feature_count)
        ):
            return column, values
    return None


def default_style(
    *,
    title: str,
    geometry_type: str,
    attributes: list[dict[str, Any]],
    classes: Callable[[str, int], list[str] | None],
    feature_count: int | None = None,
) -> dict[str, Any]:
    chosen = choose_column(attributes, classes, feature_count)
    if chosen is None:
        rules = [{"name": title, "symbolizer": symbolizer(geometry_type, SINGLE)}]
        description = "Single symbol (no text column with 2 to 12 values)."
    else:
        column, values = chosen
        colours = palette(len(values))
        rules = [{"name": "other", "symbolizer": symbolizer(geometry_type, OTHER)}]
        rules += [
            {
                "name": value,
                "selector": {"op": "=", "args": [{"property": column}, value]},
                "symbolizer": symbolizer(geometry_type, colour),
            }
            for value, colour in zip(values, colours, strict=True)
        ]
        description = f"Categories of {column!r} ({len(values)} classes)."
    return {
        "metadata": {"title": f"{title} (default)", "description": description, "authors": ["GeoPlatform"]},
        "stylingRules": rules,
    }
