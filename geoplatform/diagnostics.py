"""Diagnostics: what an operator would otherwise open a database shell for.

A registry that apps add to in ``AppConfig.ready()`` (as with :mod:`geoplatform.health`),
so the core imports no domain app:

- :func:`register` adds a *contributor* to a section (``database``, ``jobs``, ``catalog``...):
  a read-only function taking validated parameters and returning a JSON-able dict.
  ``GET /api/diagnostics/<section>/`` runs the section's contributors; one contributor's
  failure is reported inside its section (``{"error": ...}``), never as a 500 for the page.
- :func:`register_action` adds a maintenance *action* (``POST
  /api/diagnostics/actions/<name>/``): it changes state, takes ``dry_run`` (default true)
  and every call is audited in :class:`geoplatform.models.MaintenanceRecord`.

SQL run by contributors goes through :func:`diag_cursor`: a transaction with
``lock_timeout`` 500 ms and ``statement_timeout`` 10 s, so a diagnostics call never queues
behind an exclusive lock or holds a connection for long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from .errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

Contributor = Callable[..., dict[str, Any]]
Action = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Param:
    """One query (or body) parameter: its type, default and bounds."""

    kind: type  # int, float, bool or str
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, name: str, raw: Any) -> Any:
        if raw is None or raw == "":
            return self.default
        try:
            if self.kind is bool:
                if isinstance(raw, bool):
                    return raw
                text = str(raw).lower()
                if text not in {"true", "false", "1", "0"}:
                    raise ValueError(text)
                return text in {"true", "1"}
            if isinstance(raw, bool):  # JSON true is no number
                raise ValueError(raw)
            value = self.kind(raw)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"Parameter {name!r} must be a {self.kind.__name__}, not {raw!r}.",
                code="invalid_parameter",
                details={name: [f"Expected a {self.kind.__name__}."]},
            ) from None
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise InvalidInput(
                f"Parameter {name!r} must lie between {self.minimum} and {self.maximum}, not {value}.",
                code="invalid_parameter",
                details={name: [f"Out of range [{self.minimum}, {self.maximum}]."]},
            )
        return value


@dataclass(frozen=True)
class Entry:
    name: str  # the contributor's (or action's) name, e.g. "ingest.jobs"
    fn: Callable[..., dict[str, Any]]
    source: str
    params: dict[str, Param] = field(default_factory=dict)
    description: str = ""


_sections: dict[str, list[Entry]] = {}
_actions: dict[str, Entry] = {}


def register(
    section: str,
    fn: Contributor,
    *,
    source: str,
    params: dict[str, Param] | None = None,
    description: str = "",
) -> None:
    """Add ``fn`` to ``section``; ``source`` names the contributing app (shown with the data).
    Registering the same source twice in a section replaces it (``ready()`` may run again)."""
    entries = [e for e in _sections.setdefault(section, []) if e.source != source]
    entries.append(Entry(name=source, fn=fn, source=source, params=params or {}, description=description))
    _sections[section] = entries


def register_action(
    name: str, fn: Action, *, source: str, params: dict[str, Param] | None = None, description: str = ""
) -> None:
    """Add a maintenance action; ``fn(dry_run=..., **params)`` returns what it did (or would do)."""
    _actions[name] = Entry(name=name, fn=fn, source=source, params=params or {}, description=description)


def sections() -> dict[str, list[Entry]]:
    return dict(sorted(_sections.items()))


def actions() -> dict[str, Entry]:
    return dict(sorted(_actions.items()))


def _section_params(entries: list[Entry]) -> dict[str, Param]:
    params: dict[str, Param] = {}
    for entry in entries:
        params.update(entry.params)
    return params


def parse_params(
    allowed: dict[str, Param], raw: dict[str, Any], *, ignore: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Validate ``raw`` against ``allowed``: a 400 naming any unknown or malformed parameter."""
    unknown = sorted(set(raw) - set(allowed) - ignore)
    if unknown:
        raise InvalidInput(
            f"Unknown parameter(s): {', '.join(unknown)}.",
            code="invalid_parameter",
            details={name: ["Unknown parameter."] for name in unknown},
            remediation=f"Accepted: {', '.join(sorted(allowed)) or 'none'}.",
        )
    return {name: param.parse(name, raw.get(name)) for name, param in allowed.items()}


def index() -> dict[str, Any]:
    """Every section and action with its parameters (the API's table of contents)."""

    def describe(params: dict[str, Param]) -> dict[str, Any]:
        return {n: {"type": p.kind.__name__, "default": p.default, "help": p.help} for n, p in sorted(params.items())}

    return {
        "sections": {
            name: {"sources": [e.source for e in entries], "params": describe(_section_params(entries))}
            for name, entries in sections().items()
        },
        "actions": {
            name: {"source": e.source, "description": e.description, "params": describe(e.params)}
            for name, e in actions().items()
        },
    }


def section_run(section: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Run every contributor of ``section``; each one's failure stays inside its own key."""
    entries = _sections.get(section)
    if entries is None:
        raise NotFound(f"No diagnostics section {section!r}.", code="unknown_section")
    values = parse_params(_section_params(entries), raw)
    started = time.perf_counter()
    body: dict[str, Any] = {"section": section, "params": values, "sources": {}}
    for entry in entries:
        t0 = time.perf_counter()
        kwargs = {name: values[name] for name in entry.params}
        try:
            data = entry.fn(**kwargs)
            result: dict[str, Any] = {"status": "ok", **data}
        except Exception as exc:  # diagnostics report every failure; they never raise
            logger.warning(
                "diagnostics %s/%s failed: %s", section, entry.source, exc, extra={"error_source": "platform"}
            )
            result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        result["duration_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        body["sources"][entry.source] = result
    body["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return body


def action_get(name: str) -> Entry:
    entry = _actions.get(name)
    if entry is None:
        raise NotFound(f"No maintenance action {name!r}.", code="unknown_action")
    return entry


# --- helpers for contributors ------------------------------------------------------------

LOCK_TIMEOUT = "500ms"
STATEMENT_TIMEOUT = "10s"


@contextmanager
def diag_cursor() -> Iterator[CursorWrapper]:
    """A cursor inside its own (savepoint) transaction with short lock and statement
    timeouts: diagnostics never wait behind an exclusive lock nor run for long."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cur.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
        yield cur


def rows(cur: CursorWrapper, query: str, params: list[Any] | tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
    """Run ``query`` and return its rows as dicts keyed by column name."""
    cur.execute(query, params)
    names = [col[0] for col in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def exclusively_locked(cur: CursorWrapper, oids: list[int]) -> set[int]:
    """Which of the relations ``oids`` someone holds an ACCESS EXCLUSIVE lock on (granted or
    awaited): reading them would wait, so diagnostics name them instead of reading."""
    if not oids:
        return set()
    cur.execute(
        "SELECT DISTINCT relation FROM pg_locks WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'"
        " AND relation = ANY(%s) AND pid <> pg_backend_pid()",
        [oids],
    )
    return {int(r[0]) for r in cur.fetchall()}


def action_run(*, name: str, raw: dict[str, Any], user: Any, request_id: str = "") -> dict[str, Any]:
    """Run a maintenance action (``dry_run`` true unless the caller says false) and audit it.

    Every call is recorded, dry runs and failures included: who, when, the parameters and
    the outcome. A failure is recorded, then raised again for the API to answer.
    """
    # Imported here: the model module imports nothing of this one, but models load after apps.
    from .models import MaintenanceRecord

    entry = action_get(name)
    dry = Param(bool, True, "Report what would change without changing it.")
    values = parse_params({**entry.params, "dry_run": dry}, raw)
    dry_run = bool(values.pop("dry_run"))
    record = MaintenanceRecord(
        action=name,
        params=values,
        dry_run=dry_run,
        user=user if getattr(user, "is_authenticated", False) else None,
        username=getattr(user, "username", "") or "",
        request_id=request_id[:64],
    )
    try:
        result = entry.fn(dry_run=dry_run, **values)
    except Exception as exc:
        record.ok = False
        record.result = {"error": f"{type(exc).__name__}: {exc}"}
        record.save()
        raise
    record.result = result
    record.save()
    logger.info("maintenance %s (dry_run=%s) by %s: %s", name, dry_run, record.username, result)
    return {"action": name, "dry_run": dry_run, "params": values, "result": result, "record_id": record.id}
