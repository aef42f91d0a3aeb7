"""The CQL2-JSON selectors the encodings translate: comparisons, in, like, between,
and/or/not, isNull, on properties and literals. Anything else is Untranslatable (named)."""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import Untranslatable

COMPARISONS = {"=": "==", "<>": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}


def _literal(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def check(expr: Any, rule: str) -> None:
    """Raise Untranslatable unless ``expr`` uses only the supported subset."""
    if expr is None or expr is True:
        return
    if not isinstance(expr, dict) or "op" not in expr:
        raise Untranslatable(f"Rule {rule!r}: unsupported selector {json.dumps(expr)[:80]}.")
    op, args = expr["op"], expr["args"]
    if op in ("and", "or", "not"):
        for a in args:
            check(a, rule)
        return
    if op not in (*COMPARISONS, "in", "like", "between", "isNull"):
        raise Untranslatable(f"Rule {rule!r}: the operator {op!r} is not supported.")
    first = args[0]
    if not (isinstance(first, dict) and set(first) == {"property"}):
        raise Untranslatable(
            f"Rule {rule!r}: {op!r} must compare a property (first argument), not {json.dumps(first)[:60]}."
        )
    rest = args[1] if op == "in" else args[1:]
    if not all(_literal(v) for v in rest):
        raise Untranslatable(f"Rule {rule!r}: {op!r} compares with literals only.")
    if op == "like" and not isinstance(args[1], str):
        raise Untranslatable(f"Rule {rule!r}: 'like' needs a string pattern.")


def maplibre(expr: Any, rule: str) -> Any:
    """A MapLibre expression filter for a checked selector."""
    check(expr, rule)
    return _ml(expr, rule)


def _ml(expr: dict[str, Any], rule: str) -> Any:
    op, args = expr["op"], expr["args"]
    if op == "and":
        return ["all", *(_ml(a, rule) for a in args)]
    if op == "or":
        return ["any", *(_ml(a, rule) for a in args)]
    if op == "not":
        return ["!", _ml(args[0], rule)]
    get: list[Any] = ["get", args[0]["property"]]
    if op == "isNull":
        return ["==", ["typeof", get], "null"]
    if op in COMPARISONS:
        value = args[1]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and op not in ("=", "<>"):
            get = ["to-number", get]
        elif isinstance(value, str) and op not in ("=", "<>"):
            get = ["to-string", get]
        return [COMPARISONS[op], get, value]
    if op == "in":
        return ["in", get, ["literal", list(args[1])]]
    if op == "between":
        num = ["to-number", get]
        return ["all", [">=", num, args[1]], ["<=", num, args[2]]]
    return _ml_like(get, args[1], rule)


def _ml_like(get: list[Any], pattern: str, rule: str) -> Any:
    """MapLibre has no pattern match: exact, prefix (``abc%``), suffix (``%abc``) and
    containment (``%abc%``) are expressible; ``_`` or an inner ``%`` are not."""
    text = ["to-string", get]
    core = pattern.strip("%")
    if "%" in core or "_" in pattern or "\\" in pattern:
        raise Untranslatable(
            f"Rule {rule!r}: the like pattern {pattern!r} cannot be expressed in MapLibre "
            "(only 'abc', 'abc%', '%abc' and '%abc%')."
        )
    starts, ends = pattern.startswith("%"), pattern.endswith("%") and len(pattern) > 1
    if starts and ends:
        return ["in", core, text]
    if ends:
        return ["==", ["slice", text, 0, len(core)], core]
    if starts:
        return ["==", ["slice", text, ["max", 0, ["-", ["length", text], len(core)]]], core]
    return ["==", text, core]


def like_regex(pattern: str) -> str:
    """The regular expression of a CQL2 like pattern (``%`` any run, ``_`` one character)."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return "^" + "".join(out) + "$"
