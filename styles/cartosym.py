"""CartoSym-JSON, the canonical form of a style: validation against the vendored JSON schema
(schemas/README.md) and the few facts the translations share (colours, widths, rules)."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator
from jsonschema.exceptions import best_match

from .errors import InvalidStyle, Untranslatable

MEDIA_TYPE = "application/vnd.ogc.cartosym+json;version=1.0"
SCHEMA_PATH = Path(__file__).with_name("schemas") / "CartoSym-JSON.schema.json"
# Web Mercator scale denominator at zoom 0 for 512-px tiles (MapLibre's zoom levels).
SD_ZOOM0 = 279_541_132.014


@functools.cache
def _validator() -> Draft201909Validator:
    return Draft201909Validator(json.loads(SCHEMA_PATH.read_text()))


def validate(doc: Any) -> dict[str, Any]:
    """``doc`` if it is a CartoSym-JSON style, else InvalidStyle saying where and why."""
    if not isinstance(doc, dict):
        raise InvalidStyle("A style is a CartoSym-JSON object with 'stylingRules'.")
    error = best_match(_validator().iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise InvalidStyle(
            f"Not valid CartoSym-JSON at {where}: {error.message[:300]}",
            details={"path": list(error.absolute_path)},
        )
    return doc


@dataclass
class Rule:
    """One styling rule, nested rules flattened: the conjunction of the selectors, the
    symbolizer merged parent-first, the scale range taken out of the selector."""

    name: str
    selector: Any  # CQL2-JSON without the viz.sd comparisons, or None (every feature)
    symbolizer: dict[str, Any]
    min_zoom: float | None = None
    max_zoom: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def rules(doc: dict[str, Any]) -> list[Rule]:
    out: list[Rule] = []

    def walk(items: list[dict[str, Any]], prefix: str, parent_sel: list[Any], parent_sym: dict[str, Any]) -> None:
        for index, raw in enumerate(items):
            name = raw.get("name") or f"{prefix}{index + 1}"
            sels = [*parent_sel, raw["selector"]] if "selector" in raw else list(parent_sel)
            sym = {**parent_sym, **(raw.get("symbolizer") or {})}
            if raw.get("symbolizer"):
                out.append(_rule(name, sels, sym))
            walk(raw.get("nestedRules") or [], f"{name}.", sels, sym)

    walk(doc.get("stylingRules") or [], "rule ", [], {})
    return out


def _rule(name: str, selectors: list[Any], symbolizer: dict[str, Any]) -> Rule:
    conjuncts: list[Any] = []
    for sel in selectors:
        if isinstance(sel, dict) and sel.get("op") == "and":
            conjuncts += sel["args"]
        elif sel is not True:
            conjuncts.append(sel)
    rule = Rule(name=name, selector=None, symbolizer=symbolizer)
    kept = []
    for c in conjuncts:
        if _is_scale(c):
            _apply_scale(rule, c)
        else:
            _no_scale_inside(rule.name, c)
            kept.append(c)
    if len(kept) == 1:
        rule.selector = kept[0]
    elif kept:
        rule.selector = {"op": "and", "args": kept}
    return rule


def _is_sd(arg: Any) -> bool:
    return isinstance(arg, dict) and arg.get("sysId") == "viz.sd"


def _is_scale(c: Any) -> bool:
    return (
        isinstance(c, dict)
        and c.get("op") in ("<", "<=", ">", ">=", "between")
        and _is_sd((c.get("args") or [None])[0])
    )


def _no_scale_inside(name: str, c: Any) -> None:
    if _is_sd(c):
        raise Untranslatable(f"Rule {name!r}: the scale (viz.sd) may only be compared in the rule's top-level 'and'.")
    if isinstance(c, dict):
        for v in c.values():
            _no_scale_inside(name, v)
    elif isinstance(c, list):
        for v in c:
            _no_scale_inside(name, v)


def zoom_of(scale_denominator: float) -> float:
    return round(math.log2(SD_ZOOM0 / float(scale_denominator)), 3)


def _apply_scale(rule: Rule, c: dict[str, Any]) -> None:
    op, args = c["op"], c["args"]
    values = args[1:] if op == "between" else [args[1]]
    if not all(isinstance(v, (int, float)) and v > 0 for v in values):
        raise Untranslatable(f"Rule {rule.name!r}: a scale denominator must be a positive number.")
    if op == "between":  # sd in [lo, hi]: zooms from z(hi) to z(lo)
        rule.min_zoom, rule.max_zoom = zoom_of(values[1]), zoom_of(values[0])
    elif op in ("<", "<="):  # large scales: zoomed in beyond z(v)
        rule.min_zoom = zoom_of(values[0])
    else:
        rule.max_zoom = zoom_of(values[0])
    rule.extra.setdefault("scale", []).append(c)


# Colours ---------------------------------------------------------------------------------------


def color(value: Any, rule: str) -> str:
    """A CSS colour (``#rrggbb`` or a lower-case CSS name) for a literal CartoSym colour."""
    if isinstance(value, list) and len(value) == 3:
        return "#{:02x}{:02x}{:02x}".format(*(round(v) for v in value))
    if isinstance(value, dict) and {"r", "g", "b"} <= value.keys():
        return "#{:02x}{:02x}{:02x}".format(*(round(value[k]) for k in "rgb"))
    if isinstance(value, str):
        return value.lower()  # CSS colour names are the schema's web names without case
    raise Untranslatable(f"Rule {rule!r}: only literal colours are supported, not {json.dumps(value)[:80]}.")


def number(value: Any, rule: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Untranslatable(f"Rule {rule!r}: {what} must be a literal number, not {json.dumps(value)[:80]}.")
    return float(value)


_UNITS = {"px": 1.0, "pt": 4 / 3, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96.0, "pc": 16.0}


def pixels(value: Any, rule: str, what: str) -> float:
    """A width or size in pixels: a number (pixels) or ``{"px"|"pt"|"mm"|"cm"|"in"|"pc": n}``."""
    if isinstance(value, dict) and len(value) == 1:
        unit, n = next(iter(value.items()))
        if unit in _UNITS:
            return round(number(n, rule, what) * _UNITS[unit], 3)
    return number(value, rule, what)


def check_keys(obj: dict[str, Any], allowed: set[str], rule: str, what: str) -> None:
    extra = set(obj) - allowed - {"$comment", "alter"}
    if extra:
        raise Untranslatable(f"Rule {rule!r}: {what} {sorted(extra)} cannot be expressed in this encoding.")
