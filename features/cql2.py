"""OGC API Features Part 3 (filtering): CQL2 text or JSON filters as a SQL ``WHERE`` fragment.

The expression is parsed (and, as JSON, validated against the CQL2 JSON schema) by the
``cql2`` package (Rust, https://github.com/developmentseed/cql2-rs), which gives every filter
as CQL2-JSON; this module walks that JSON and composes SQL with :mod:`psycopg.sql`: property
names become identifiers only after they are found among the collection's queryables, and
every value from the filter is a bound parameter (never text spliced into the statement).
Why ``cql2`` and not pygeofilter: see docs/apps/features.md.

One entry point for every user of filters (items pages, vector tiles)::

    where, params = filter_clause(dataset, "name = 'Ashe' AND S_INTERSECTS(geometry, BBOX(-82,36,-80,37))")

The fragment names the columns unqualified (``geom``, ``"name"``), as :func:`features.sql._where` does.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cql2 as cql2_parser
import shapely
from psycopg import sql

from . import crs as crs_mod
from .errors import InvalidQuery
from .models import VectorDataset

FILTER_LANGS = ("cql2-text", "cql2-json")
MAX_FILTER_CHARS = 64_000
MAX_DEPTH = 64
# Up to this length a filter is parsed on the caller's thread: at one nesting level per
# character at most, 500 stays far below what even a 2 MB thread stack holds (~900 levels
# measured); longer ones go to the parser thread (_ParserThread), ~0.2 ms more.
DIRECT_PARSE_CHARS = 500
GEOMETRY_NAMES = ("geometry", "geom")  # the spatial queryable; "geom" is the column's own name
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
NUMBER_TYPES = frozenset({*INTEGER_TYPES, "numeric", "real", "double precision"})
TEMPORAL_TYPES = frozenset({"date", "timestamp", "timestamptz"})
_BIGINT = 2**63

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
]

_COMPARISONS = {"=": "=", "<>": "<>", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
_SPATIAL = {
    "s_intersects": "ST_Intersects",
    "s_equals": "ST_Equals",
    "s_disjoint": "ST_Disjoint",
    "s_touches": "ST_Touches",
    "s_within": "ST_Within",
    "s_overlaps": "ST_Overlaps",
    "s_crosses": "ST_Crosses",
    "s_contains": "ST_Contains",
}
# "%%": the modulo operator, escaped (the statement has %s parameters)
_ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/", "%": "%%", "^": "^", "div": "/"}
# Allen's relations of two intervals A=[as, ae], B=[bs, be] (an instant is [t, t]), as the
# CQL2 standard defines the temporal functions.
_TEMPORAL: dict[str, list[tuple[str, str, str]]] = {
    "t_after": [("as", ">", "be")],
    "t_before": [("ae", "<", "bs")],
    "t_contains": [("as", "<", "bs"), ("ae", ">", "be")],
    "t_during": [("as", ">", "bs"), ("ae", "<", "be")],
    "t_equals": [("as", "=", "bs"), ("ae", "=", "be")],
    "t_finishedby": [("as", "<", "bs"), ("ae", "=", "be")],
    "t_finishes": [("as", ">", "bs"), ("ae", "=", "be")],
    "t_intersects": [("as", "<=", "be"), ("ae", ">=", "bs")],
    "t_meets": [("ae", "=", "bs")],
    "t_metby": [("as", "=", "be")],
    "t_overlappedby": [("as", ">", "bs"), ("as", "<", "be"), ("ae", ">", "be")],
    "t_overlaps": [("as", "<", "bs"), ("ae", ">", "bs"), ("ae", "<", "be")],
    "t_startedby": [("as", "=", "bs"), ("ae", ">", "be")],
    "t_starts": [("as", "=", "bs"), ("ae", "<", "be")],
}


def queryables(dataset: VectorDataset) -> dict[str, str]:
    """Filterable names -> PostgreSQL type: ``id``, the geometry and every attribute."""
    out = {a["name"]: a["type"] for a in dataset.attributes}
    # "geometry" names the geometry even when a source column had that name (that column is
    # served, but not filterable); "id" cannot be a column name (sql.RESERVED_COLUMNS).
    out.update({"id": "bigint", "geometry": "geometry"})
    return out


def filter_clause(
    dataset: VectorDataset,
    text_or_json: str | Mapping[str, Any],
    lang: str | None = None,
    filter_crs: str | None = None,
) -> tuple[sql.Composable, list[Any]]:
    """A CQL2 filter (``lang``: "cql2-text", the default, or "cql2-json"; a dict is CQL2-JSON)
    as a boolean SQL expression over ``geo.<collection>``'s columns and its bound ``%s``
    parameters. Geometry literals are in ``filter_crs`` (default CRS84). Raises
    :class:`InvalidQuery` (400) saying what to fix."""
    tree = parse(text_or_json, lang)
    compiler = _Compiler(queryables(dataset), crs_mod.parse(filter_crs, "filter-crs"))
    frag = compiler.predicate(tree, 0)
    return sql.SQL("({})").format(frag.sql), frag.params


def parse(text_or_json: str | Mapping[str, Any], lang: str | None = None) -> Any:
    """The filter as CQL2-JSON (a dict, or a bare boolean)."""
    if lang == "cql-text":  # the draft's name, sent by GDAL < 3.7: its expressions are CQL2 text
        lang = "cql2-text"
    if lang not in (None, "", *FILTER_LANGS):
        raise InvalidQuery(f"filter-lang {lang!r} is not supported; use one of {', '.join(FILTER_LANGS)}.")
    if isinstance(text_or_json, Mapping):
        try:
            text, lang = json.dumps(text_or_json), "cql2-json"
        except RecursionError:
            raise InvalidQuery(f"filter nests deeper than {MAX_DEPTH} levels.") from None
    else:
        text = text_or_json
    if not text.strip():
        raise InvalidQuery("filter is empty; give a CQL2 expression, e.g. filter=name = 'Ashe'.")
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidQuery(f"filter is longer than {MAX_FILTER_CHARS} characters.")
    if not lang and text.lstrip().startswith("{"):
        lang = "cql2-json"  # a JSON object cannot be CQL2 text
    if lang != "cql2-json" and _paren_depth(text) > MAX_DEPTH:
        # The parser recurses per parenthesis: thousands of them overflow its (Rust) stack
        # and kill the process. Checked before parsing.
        raise InvalidQuery(f"filter nests deeper than {MAX_DEPTH} parentheses.")
    func = _parse_json if lang == "cql2-json" else _parse_text
    try:
        if len(text) <= DIRECT_PARSE_CHARS:  # cannot nest deep enough to hurt any thread's stack
            return func(text)
        return _PARSER.call(func, text)
    # ParseError, ValidationError, and plain Exceptions from its JSON conversion (POINT EMPTY)
    except Exception as exc:
        message = str(exc).strip()
        if len(message) > 600:
            message = message[:600] + "..."
        raise InvalidQuery(f"filter is not valid {lang or 'cql2-text'}: {message}") from None


def _parse_text(text: str) -> Any:
    return cql2_parser.parse_text(text).to_json()


def _parse_json(text: str) -> Any:
    expr = cql2_parser.parse_json(text)
    expr.validate()  # parse_json alone accepts JSON that is not CQL2
    return expr.to_json()


class _ParserThread:
    """Runs the parser on ONE thread of this process with a large stack.

    The parser (Rust) recurses once per nesting level (``NOT NOT ...``, ``- - 1``, ``1+1+...``):
    a few thousand levels overflow a normal thread stack, and a stack overflow kills the whole
    process (a web worker), not just the request. 512 MB of stack is address space, not memory
    (only the pages touched are), and holds the deepest filter of MAX_FILTER_CHARS. One
    long-lived thread: starting a thread with such a stack per request costs ~0.3 ms."""

    STACK = 512 * 1024 * 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] | None = None
        self._pid = 0

    def call(self, func: Callable[[str], Any], text: str) -> Any:
        with self._lock:
            if self._queue is None or self._pid != os.getpid():  # a forked child has no such thread
                self._queue, self._pid = queue.SimpleQueue(), os.getpid()
                old = threading.stack_size(self.STACK)
                try:
                    threading.Thread(target=self._serve, args=(self._queue,), name="cql2-parser", daemon=True).start()
                finally:
                    threading.stack_size(old)
            jobs = self._queue
        reply: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        jobs.put((func, text, reply))
        ok, value = reply.get()
        if not ok:
            raise value
        return value

    @staticmethod
    def _serve(jobs: queue.SimpleQueue[Any]) -> None:
        while True:
            func, text, reply = jobs.get()
            try:
                reply.put((True, func(text)))
            except BaseException as exc:  # handed to the caller, raised there
                reply.put((False, exc))


_PARSER = _ParserThread()


def _paren_depth(text: str) -> int:
    """The deepest parenthesis nesting of CQL2 text, outside quoted strings and identifiers."""
    depth = deepest = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""  # a doubled quote ('') closes and reopens: same depth either way
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


@dataclass
class _Frag:
    sql: sql.Composable
    params: list[Any] = field(default_factory=list)
    # "predicate", "string", "number", "boolean", "temporal", "geometry", "null", "other"
    kind: str = "predicate"
    pgtype: str | None = None  # a property's column type (typing of the literals it meets)


def _kind(pgtype: str) -> str:
    if pgtype in NUMBER_TYPES:
        return "number"
    if pgtype == "boolean":
        return "boolean"
    if pgtype in TEMPORAL_TYPES:
        return "temporal"
    if pgtype == "geometry":
        return "geometry"
    return "string"


def _join(template: str, *frags: _Frag, kind: str = "predicate") -> _Frag:
    params = [p for f in frags for p in f.params]
    return _Frag(sql.SQL(template).format(*(f.sql for f in frags)), params, kind)


class _Compiler:
    def __init__(self, fields: dict[str, str], filter_crs: crs_mod.Crs) -> None:
        self.fields = fields
        self.filter_crs = filter_crs

    # --- predicates ---------------------------------------------------------------------------

    def predicate(self, node: Any, depth: int) -> _Frag:
        if depth > MAX_DEPTH:
            raise InvalidQuery(f"filter nests deeper than {MAX_DEPTH} levels.")
        if isinstance(node, bool):
            return _Frag(sql.SQL("TRUE" if node else "FALSE"))
        if isinstance(node, Mapping) and "property" in node:
            frag = self.property(node)
            if frag.kind != "boolean":
                raise InvalidQuery(
                    f"{node['property']!r} alone is not a condition; compare it, e.g. {node['property']} = <value>."
                )
            return frag
        if not isinstance(node, Mapping) or "op" not in node:
            raise InvalidQuery(f"filter: {_show(node)} is not a condition.")
        op = str(node["op"]).lower()
        args = list(node.get("args") or [])
        if op in ("and", "or"):
            parts = [self.predicate(a, depth + 1) for a in args]
            if not parts:
                raise InvalidQuery(f"'{op}' needs operands.")
            return _Frag(
                sql.SQL("(") + sql.SQL(f" {op.upper()} ").join(p.sql for p in parts) + sql.SQL(")"),
                [x for p in parts for x in p.params],
            )
        if op == "not":
            _arity(op, args, 1)
            return _join("(NOT {})", self.predicate(args[0], depth + 1))
        if op in _COMPARISONS:
            _arity(op, args, 2)
            left, right = self.typed_pair(args[0], args[1], depth)
            return _join("({} " + _COMPARISONS[op] + " {})", left, right)
        if op == "like":
            _arity(op, args, 2)
            left = self.scalar(args[0], depth + 1, None)
            pattern = self.scalar(args[1], depth + 1, "text")
            if pattern.kind != "string":
                raise InvalidQuery("LIKE needs a text pattern, e.g. name LIKE 'Ash%'.")
            return _join("({} LIKE {})", _as_text(left), pattern)
        if op == "between":
            _arity(op, args, 3)
            value = self.scalar(args[0], depth + 1, None)
            low, high = (self.scalar(a, depth + 1, value.pgtype) for a in args[1:])
            for bound in (low, high):
                _check_comparable(value, bound, "BETWEEN")
            return _join("({} BETWEEN {} AND {})", value, low, high)
        if op == "in":
            _arity(op, args, 2)
            value = self.scalar(args[0], depth + 1, None)
            if not isinstance(args[1], list):
                raise InvalidQuery("IN needs a list, e.g. name IN ('Ashe', 'Wake').")
            if not args[1]:
                return _Frag(sql.SQL("FALSE"))
            items = [self.scalar(a, depth + 1, value.pgtype) for a in args[1]]
            for item in items:
                _check_comparable(value, item, "IN")
            listed = _Frag(sql.SQL(", ").join(i.sql for i in items), [p for i in items for p in i.params], "list")
            return _join("({} IN ({}))", value, listed)
        if op == "isnull":
            _arity(op, args, 1)
            return _join("({} IS NULL)", self.scalar(args[0], depth + 1, None))
        if op in _SPATIAL:
            _arity(op, args, 2)
            a, b = (self.geometry(x) for x in args)
            return _join(_SPATIAL[op] + "({}, {})", a, b)
        if op == "s_dwithin":
            return self.dwithin(args)
        if op in _TEMPORAL or op == "t_disjoint":
            _arity(op, args, 2)
            return self.temporal(op, args, depth)
        if op.startswith("a_"):
            raise InvalidQuery(f"{op.upper()}: array functions are not supported (properties here are not arrays).")
        if op == "accenti":
            raise InvalidQuery("ACCENTI (accent-insensitive comparison) is not supported; use CASEI.")
        raise InvalidQuery(f"filter: operator or function {node['op']!r} is not supported.")

    def typed_pair(self, a: Any, b: Any, depth: int) -> tuple[_Frag, _Frag]:
        """Two operands of a comparison; a literal takes the type of the property it meets
        (so ``intfield = 50`` compares as integers and can use an index on the column)."""
        first = self.scalar(a, depth + 1, None)
        second = self.scalar(b, depth + 1, first.pgtype)
        if first.pgtype is None and second.pgtype is not None:
            first = self.scalar(a, depth + 1, second.pgtype)
        _check_comparable(first, second, "comparison")
        return first, second

    # --- scalar expressions -------------------------------------------------------------------

    def property(self, node: Mapping[str, Any]) -> _Frag:
        name = node["property"]
        if not isinstance(name, str):
            raise InvalidQuery(f"filter: property name {_show(name)} is not a string.")
        if name in GEOMETRY_NAMES:
            return _Frag(sql.SQL("geom"), [], "geometry", "geometry")
        pgtype = self.fields.get(name)
        if pgtype is None:
            raise InvalidQuery(
                f"filter: {name!r} is not a queryable of this collection. Queryables: {', '.join(sorted(self.fields))}."
            )
        kind = _kind(pgtype)
        column: sql.Composable = sql.Identifier(name)
        if kind == "string" and pgtype != "text":  # jsonb, time...: compared as their text
            column = sql.SQL("{}::text").format(column)
        return _Frag(column, [], kind, pgtype)

    def scalar(self, node: Any, depth: int, hint: str | None) -> _Frag:
        """A value: property, literal (typed by ``hint``, the column type it is compared to),
        CASEI(...) or arithmetic."""
        if depth > MAX_DEPTH:
            raise InvalidQuery(f"filter nests deeper than {MAX_DEPTH} levels.")
        if isinstance(node, Mapping):
            if "property" in node:
                return self.property(node)
            if "timestamp" in node or "date" in node:
                return _temporal_literal(node)
            if "op" in node:
                op = str(node["op"]).lower()
                args = list(node.get("args") or [])
                if op == "casei":
                    _arity(op, args, 1)
                    inner = self.scalar(args[0], depth + 1, "text")
                    if inner.kind != "string":
                        raise InvalidQuery("CASEI applies to text, e.g. CASEI(name) = casei('ashe').")
                    return _Frag(sql.SQL("lower({})").format(inner.sql), inner.params, "string", "text")
                if op in _ARITHMETIC:
                    _arity(op, args, 2)
                    left, right = (self.scalar(a, depth + 1, "double precision") for a in args)
                    if left.kind != "number" or right.kind != "number":
                        raise InvalidQuery(f"Arithmetic '{op}' needs numbers on both sides.")
                    if op == "div":  # integer division
                        return _join("trunc(({})::numeric / NULLIF(({})::numeric, 0))", left, right, kind="number")
                    if op == "%":  # PostgreSQL has no % for double precision
                        return _join("mod(({})::numeric, NULLIF(({})::numeric, 0))", left, right, kind="number")
                    template = "(({}) " + _ARITHMETIC[op] + " NULLIF(({}), 0))" if op in ("/", "%") else None
                    template = template or "(({}) " + _ARITHMETIC[op] + " ({}))"
                    return _join(template, left, right, kind="number")
                if op == "accenti":
                    raise InvalidQuery("ACCENTI (accent-insensitive comparison) is not supported; use CASEI.")
                # a predicate used as a value (e.g. (a = b) = true)
                frag = self.predicate(node, depth + 1)
                return _Frag(frag.sql, frag.params, "boolean")
            if "interval" in node:
                raise InvalidQuery("An INTERVAL is only valid in a temporal function (T_...).")
            if "bbox" in node or "type" in node:
                raise InvalidQuery("A geometry is only valid in a spatial function (S_...).")
        return _literal(node, hint)

    def geometry(self, node: Any) -> _Frag:
        if isinstance(node, Mapping) and "property" in node:
            frag = self.property(node)
            if frag.kind != "geometry":
                raise InvalidQuery(f"{node['property']!r} is not a geometry; spatial functions take 'geometry'.")
            return frag
        if isinstance(node, Mapping) and "bbox" in node:
            numbers = node["bbox"]
            if not isinstance(numbers, list) or len(numbers) not in (4, 6) or not all(_finite(n) for n in numbers):
                raise InvalidQuery("BBOX needs 4 (or 6) numbers: BBOX(minx, miny, maxx, maxy).")
            box = [float(n) for n in (numbers if len(numbers) == 4 else [*numbers[:2], *numbers[3:5]])]
            envelope = sql.SQL("ST_MakeEnvelope(%s, %s, %s, %s)")
            return _Frag(crs_mod.geometry_in(envelope, self.filter_crs), box, "geometry")
        if isinstance(node, Mapping) and "type" in node:
            text = json.dumps(node)
            try:
                shape = shapely.from_geojson(text)
            except Exception as exc:  # shapely raises GEOS errors of several kinds
                raise InvalidQuery(f"filter: invalid geometry {_show(node)}: {exc}") from None
            if shape.is_empty:  # PostGIS' GeoJSON reader refuses empty coordinates
                raise InvalidQuery(f"filter: geometry {_show(node)} is empty.")
            if not all(math.isfinite(v) for v in shapely.get_coordinates(shape).ravel()):
                raise InvalidQuery(f"filter: geometry {_show(node)} has non-finite coordinates.")
            literal = sql.SQL("ST_GeomFromGeoJSON(%s)")
            return _Frag(crs_mod.geometry_in(literal, self.filter_crs), [text], "geometry")
        raise InvalidQuery(f"filter: {_show(node)} is not a geometry (a property, a WKT geometry or BBOX).")

    def dwithin(self, args: list[Any]) -> _Frag:
        """S_DWITHIN(geometry, <geometry>, distance, units): geodesic distance (meters or kilometers)."""
        if len(args) != 4 or not _finite(args[2]):
            raise InvalidQuery(
                "S_DWITHIN needs (geometry, <geometry>, distance, units), e.g. S_DWITHIN(geometry, POINT(7 50), 10, meters)."
            )
        unit = args[3].get("property") if isinstance(args[3], Mapping) else args[3]
        factor = {"meters": 1.0, "m": 1.0, "metres": 1.0, "kilometers": 1000.0, "km": 1000.0, "kilometres": 1000.0}
        if not isinstance(unit, str) or unit.lower() not in factor:
            raise InvalidQuery(f"S_DWITHIN units {_show(args[3])} are not supported; use meters or kilometers.")
        a, b = self.geometry(args[0]), self.geometry(args[1])
        distance = _Frag(sql.SQL("%s"), [float(args[2]) * factor[unit.lower()]], "number")
        return _join("ST_DWithin(({})::geography, ({})::geography, {})", a, b, distance)

    def temporal(self, op: str, args: list[Any], depth: int) -> _Frag:
        a, b = (self.interval(x, depth) for x in args)
        ends = {"as": a[0], "ae": a[1], "bs": b[0], "be": b[1]}
        relation = "t_intersects" if op == "t_disjoint" else op
        parts = [_join("({} " + cmp + " {})", ends[x], ends[y]) for x, cmp, y in _TEMPORAL[relation]]
        test = sql.SQL("(") + sql.SQL(" AND ").join(p.sql for p in parts) + sql.SQL(")")
        params = [x for p in parts for x in p.params]
        if op == "t_disjoint":
            test = sql.SQL("(NOT {})").format(test)
        return _Frag(test, params)

    def interval(self, node: Any, depth: int) -> tuple[_Frag, _Frag]:
        """(start, end) of a temporal operand; an instant is [t, t]; a DATE against a timestamp
        is its whole day."""
        if isinstance(node, Mapping) and "interval" in node:
            bounds = node["interval"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise InvalidQuery("INTERVAL needs two ends: INTERVAL('2020-01-01', '..').")
            start = self.instant(bounds[0], "-infinity", depth)
            end = self.instant(bounds[1], "infinity", depth)
            return start[0], end[1]
        return self.instant(node, None, depth)

    def instant(self, node: Any, open_end: str | None, depth: int) -> tuple[_Frag, _Frag]:
        if open_end and node == "..":
            frag = _Frag(sql.SQL("%s::timestamptz"), [open_end], "temporal")
            return frag, frag
        if isinstance(node, str):  # interval ends may be plain strings
            node = {"timestamp": node} if "T" in node.upper() else {"date": node}
        if isinstance(node, Mapping) and "date" in node:
            day = _temporal_literal(node)
            end = _Frag(sql.SQL("(%s::date + 1)::timestamptz - interval '1 microsecond'"), list(day.params), "temporal")
            return _Frag(sql.SQL("%s::date::timestamptz"), list(day.params), "temporal"), end
        frag = self.scalar(node, depth + 1, "timestamptz")
        if frag.kind != "temporal":
            raise InvalidQuery(
                f"Temporal functions compare dates and times: {_show(node)} is not (a timestamp/date property, "
                "TIMESTAMP('...'), DATE('...') or INTERVAL(...))."
            )
        return frag, frag


# --- literals -------------------------------------------------------------------------------------


def _literal(value: Any, hint: str | None) -> _Frag:
    """A bound literal; with ``hint`` (the compared column's type), cast to that type."""
    if value is None:
        return _Frag(sql.SQL("NULL"), [], "null")
    if isinstance(value, bool):
        if hint is not None and _kind(hint) != "boolean":
            raise InvalidQuery(f"{str(value).lower()} is a boolean; the property compared is {hint}.")
        return _Frag(sql.SQL("%s::boolean"), [value], "boolean", None)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise InvalidQuery("filter: numbers must be finite.")
        if hint is not None and _kind(hint) != "number":
            raise InvalidQuery(f"{value!r} is a number; the property compared is {_hint_name(hint)}.")
        if hint in INTEGER_TYPES and float(value).is_integer() and abs(value) < _BIGINT:
            # bigint compares with smallint/integer/bigint columns through their index
            return _Frag(sql.SQL("%s::bigint"), [int(value)], "number")
        if hint == "numeric" or hint in INTEGER_TYPES:
            return _Frag(sql.SQL("%s::numeric"), [repr(float(value))], "number")
        return _Frag(sql.SQL("%s::double precision"), [float(value)], "number")
    if isinstance(value, str):
        if hint is not None and _kind(hint) == "temporal":
            return _temporal_literal({"timestamp" if "T" in value.upper() else "date": value})
        if hint is not None and _kind(hint) != "string":
            raise InvalidQuery(f"{value!r} is text; the property compared is {_hint_name(hint)}.")
        return _Frag(sql.SQL("%s::text"), [value], "string")
    if isinstance(value, list):
        raise InvalidQuery("A list is only valid after IN, e.g. name IN ('Ashe', 'Wake').")
    raise InvalidQuery(f"filter: {_show(value)} is not a value.")


def _temporal_literal(node: Mapping[str, Any]) -> _Frag:
    if "date" in node:
        text = node["date"]
        try:
            dt.date.fromisoformat(str(text))
        except ValueError:
            raise InvalidQuery(f"DATE({text!r}) is not a date like 2020-01-31.") from None
        return _Frag(sql.SQL("%s::date"), [text], "temporal", None)
    text = node["timestamp"]
    try:
        dt.datetime.fromisoformat(str(text).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidQuery(f"TIMESTAMP({text!r}) is not RFC 3339, e.g. 2020-01-31T12:00:00Z.") from None
    return _Frag(sql.SQL("%s::timestamptz"), [text], "temporal", None)


def _check_comparable(a: _Frag, b: _Frag, what: str) -> None:
    if "null" in (a.kind, b.kind):
        raise InvalidQuery(f"filter: use IS NULL, not a {what} with NULL.")
    if a.kind != b.kind and not {a.kind, b.kind} <= {"boolean", "predicate"}:
        raise InvalidQuery(f"filter: a {what} of {a.kind} with {b.kind}; compare values of the same type.")
    if a.kind == "geometry":
        raise InvalidQuery("filter: compare geometries with spatial functions (S_INTERSECTS, S_EQUALS...).")


def _as_text(frag: _Frag) -> _Frag:
    if frag.kind == "string":
        return frag
    return _Frag(sql.SQL("({})::text").format(frag.sql), frag.params, "string")


def _arity(op: str, args: list[Any], n: int) -> None:
    if len(args) != n:
        raise InvalidQuery(f"'{op}' takes {n} argument(s), not {len(args)}.")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _hint_name(pgtype: str) -> str:
    return {"number": "a number", "boolean": "a boolean", "temporal": "a date/time", "string": "text"}.get(
        _kind(pgtype), pgtype
    )


def _show(node: Any) -> str:
    try:
        text = json.dumps(node) if not isinstance(node, str) else repr(node)
    except RecursionError:
        return "(a deeply nested expression)"
    return text if len(text) < 120 else text[:117] + "..."
