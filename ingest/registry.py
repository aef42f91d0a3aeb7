"""Job types, declared once by the app that owns the work.

A job type has a parameter schema (validated at submit, unknown names rejected),
pre-flight validators, ordered stages and a finaliser::

    registry.register(JobType(
        name="process_vector",
        params=[Param("file_name", str, required=True), Param("chunks", int, default=4, min=1, max=64)],
        validators=[check_file_exists],
        stages=[
            Stage("validate", handler=validate, tasks=single()),
            Stage("load", handler=load_chunk, tasks=from_previous(lambda results, p: results[0]["chunks"])),
            Stage("finalise", handler=finalise, tasks=single()),
        ],
        finalize=lambda ctx: {"table": ...},
    ))

A handler gets a :class:`TaskContext` and returns a JSON-safe dict (its result).
Handlers must be idempotent: a task may run again after a retry or a lost worker.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geoplatform.errors import InvalidInput

_MISSING = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: Sequence[Any] | None = None
    help: str = ""

    def clean(self, value: Any) -> Any:
        expected = self.type
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
            raise InvalidInput(f"Parameter {self.name!r} must be of type {expected.__name__}.")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"Parameter {self.name!r} must be a finite number.")
        if self.min is not None and isinstance(value, (int, float)) and value < self.min:
            raise InvalidInput(f"Parameter {self.name!r} must be at least {self.min}.")
        if self.max is not None and isinstance(value, (int, float)) and value > self.max:
            raise InvalidInput(f"Parameter {self.name!r} must be at most {self.max}.")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise InvalidInput(f"Parameter {self.name!r} must be one of {allowed}.")
        return value

    def schema(self) -> dict[str, Any]:
        json_type = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
        out: dict[str, Any] = {"type": json_type.get(self.type, "string")}
        if self.required:
            out["required"] = True
        if self.default is not None:
            out["default"] = self.default
        if self.min is not None:
            out["minimum"] = self.min
        if self.max is not None:
            out["maximum"] = self.max
        if self.choices is not None:
            out["enum"] = list(self.choices)
        if self.help:
            out["description"] = self.help
        return out


TaskMaker = Callable[[dict[str, Any], list[dict[str, Any]]], list[dict[str, Any]]]


def single() -> TaskMaker:
    """One task with no parameters of its own."""
    return lambda params, previous: [{}]


def count_from(param: str) -> TaskMaker:
    """N tasks, N taken from a job parameter; each task gets ``{"index": i}``."""
    return lambda params, previous: [{"index": i} for i in range(int(params[param]))]


def from_previous(expand: Callable[[list[dict[str, Any]], dict[str, Any]], list[dict[str, Any]]]) -> TaskMaker:
    """Fan out from the previous stage's results: ``expand(results, params)`` -> task params."""
    return lambda params, previous: expand(previous, params)


@dataclass
class TaskContext:
    """What a handler sees: its job's parameters, its own parameters, earlier results."""

    job_id: str
    task_id: str
    stage_index: int
    stage_name: str
    params: dict[str, Any]
    task_params: dict[str, Any]
    attempt: int
    warnings: list[str] = field(default_factory=list)
    # Loaded on first use: a fan-out of 1,000 tasks should not each read the results
    # of the stage before when they do not need them.
    load_previous: Callable[[], list[dict[str, Any]]] | None = None
    load_stage: Callable[[int], list[dict[str, Any]]] | None = None
    _previous: list[dict[str, Any]] | None = None

    @property
    def previous_results(self) -> list[dict[str, Any]]:
        if self._previous is None:
            self._previous = self.load_previous() if self.load_previous is not None else []
        return self._previous

    def results_of(self, stage_index: int) -> list[dict[str, Any]]:
        """Results of any earlier stage, in task order (e.g. a finaliser reading the plan
        its first stage made, past the fan-out in between)."""
        if stage_index >= self.stage_index or stage_index < 0:
            raise ValueError(f"stage {stage_index} is not before stage {self.stage_index}")
        return self.load_stage(stage_index) if self.load_stage is not None else []

    def warn(self, message: str) -> None:
        """Record a warning that ends up in the job's ``warnings``."""
        self.warnings.append(message)


@dataclass
class FinalizeContext:
    job_id: str
    params: dict[str, Any]
    stage_results: Sequence[list[dict[str, Any]]]


class LazyStageResults(Sequence[list[dict[str, Any]]]):
    """``stage_results[i]``: stage i's task results, read only when a finaliser asks (the
    results of a 1,000-task fan-out are usually not needed to build the job result)."""

    def __init__(self, count: int, load: Callable[[int], list[dict[str, Any]]]) -> None:
        self._count = count
        self._load = load
        self._cache: dict[int, list[dict[str, Any]]] = {}

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        if index not in self._cache:
            self._cache[index] = self._load(index)
        return self._cache[index]


@dataclass(frozen=True)
class Stage:
    name: str
    handler: Callable[[TaskContext], dict[str, Any] | None]
    tasks: TaskMaker = field(default_factory=single)
    queue: str = "default"
    # The queue of one task from its parameters, when tasks of one stage differ (e.g. the
    # windows of a large raster on 'long', a small file's single task on 'default').
    queue_of: Callable[[dict[str, Any]], str] | None = None
    # How much data one task works through (bytes), a number or a function of the task's
    # parameters: a task at or above GEOPLATFORM_LONG_WORK_BYTES goes to the 'long' queue,
    # served by its own worker pool, whatever ``queue``/``queue_of`` say (e.g. the COG of a
    # raster decoding to 3 GiB runs beside other long work, never in front of short jobs).
    work_bytes: int | Callable[[dict[str, Any]], int] | None = None

    def task_queue(self, task_params: dict[str, Any]) -> str:
        queue = self.queue_of(task_params) if self.queue_of is not None else self.queue
        if queue != LONG_QUEUE and self.task_work_bytes(task_params) >= long_work_bytes():
            return LONG_QUEUE
        return queue

    def task_work_bytes(self, task_params: dict[str, Any]) -> int:
        """The declared work of one task in bytes (0 when the stage declares none)."""
        if self.work_bytes is None:
            return 0
        return int(self.work_bytes(task_params) if callable(self.work_bytes) else self.work_bytes)


LONG_QUEUE = "long"


def long_work_bytes() -> int:
    # Read at each call: settings are not loaded when job types are declared.
    from django.conf import settings

    return int(settings.GEOPLATFORM_LONG_WORK_BYTES)


Validator = Callable[[dict[str, Any]], list[str]]

# --- who may start a job type ------------------------------------------------------------

SUBMIT_PERMISSION = "ingest.submit_job"
# Operators holding this may replace or delete outputs that a submit guard protects
# (e.g. the data of an approved release) through the generic API.
OVERRIDE_GUARDS_PERMISSION = "ingest.override_submit_guards"
# Operators holding this may submit, through the generic API, jobs that put data in front
# of the public at once (``JobType.publishes``); everyone else has it reviewed first.
PUBLISH_WITHOUT_REVIEW_PERMISSION = "ingest.publish_without_review"

# Kinds of existing outputs a job can replace or delete (see ``JobType.replaces``).
VECTOR_TABLE = "vector_table"  # id: the table / collection id
STAC_ITEM = "stac_item"  # id: "collection_id/item_id"
STAC_COLLECTION = "stac_collection"  # id: the collection id


@dataclass(frozen=True)
class Output:
    """An existing output that a job with given parameters would replace or delete."""

    kind: str
    id: str


# A submit guard sees the outputs a generic-API submission would replace or delete and
# returns one refusal per output it protects (each naming the route to use instead).
SubmitGuard = Callable[[Sequence[Output]], list[str]]

# Who made an existing output, asked of the app that owns its kind: the ids of the jobs that
# made what the output holds now; None when it does not exist (a first load is free); an
# empty list when it exists but no job made it (loaded by hand, or its job's record is
# gone): then only operators may replace or delete it through the generic API.
OwnerJobsLookup = Callable[[str], Sequence[str] | None]


@dataclass(frozen=True)
class JobType:
    name: str
    stages: Sequence[Stage]
    params: Sequence[Param] = ()
    validators: Sequence[Validator] = ()
    finalize: Callable[[FinalizeContext], dict[str, Any]] | None = None
    # Called when a job fails for good, to remove what its tasks wrote (idempotent).
    cleanup: Callable[[str, dict[str, Any]], None] | None = None
    description: str = ""
    # Through POST /api/jobs/submit? A job type that acts on what a review decided (e.g.
    # copying a release to the external zone) is started only by the service that owns the
    # decision; ``started_by`` then says by whom and which route to use instead.
    api_submit: bool = True
    started_by: str = ""
    submit_permission: str = SUBMIT_PERMISSION
    # The existing outputs these (cleaned) parameters would replace or delete: submit
    # guards refuse generic-API submissions that touch outputs they protect.
    replaces: Callable[[dict[str, Any]], Sequence[Output]] | None = None
    # Its completed jobs made lasting outputs (tables, STAC items) that name the job as their
    # maker: the job row and its subscribers are the record of which account owns them (the
    # generic API's ownership rule reads it), so retention keeps them (history still goes).
    makes_outputs: bool = False
    # Whether these (cleaned) parameters make data public at once, with no review (e.g.
    # process_vector with publish=true). The generic API takes those only from accounts
    # holding PUBLISH_WITHOUT_REVIEW_PERMISSION. ``preview_params``: what to pass instead to
    # load the same data hidden, for preview only (named in the refusal and /api/jobs/types).
    publishes: Callable[[dict[str, Any]], bool] | None = None
    preview_params: Mapping[str, Any] | None = None

    def clean_params(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Apply defaults and limits; unknown names are an error, listed together."""
        if not isinstance(raw, dict):
            raise InvalidInput("'parameters' must be a JSON object.")
        known = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(known))
        problems: list[str] = [f"Unknown parameter {name!r}." for name in unknown]
        cleaned: dict[str, Any] = {}
        for param in self.params:
            value = raw.get(param.name, _MISSING)
            if value is _MISSING or value is None:
                if param.required:
                    problems.append(f"Parameter {param.name!r} is required.")
                elif param.default is not None:
                    cleaned[param.name] = param.default
                continue
            try:
                cleaned[param.name] = param.clean(value)
            except InvalidInput as exc:
                problems.append(exc.message)
        if problems:
            raise InvalidInput(
                f"Invalid parameters for job type {self.name!r}.",
                code="invalid_parameters",
                details={"problems": problems, "parameters": self.params_schema()},
            )
        return cleaned

    def params_schema(self) -> dict[str, Any]:
        return {p.name: p.schema() for p in self.params}


_registry: dict[str, JobType] = {}
_guards: list[SubmitGuard] = []
_owner_lookups: dict[str, OwnerJobsLookup] = {}
# Where data is reviewed before it is public (set by the app that owns the review), named
# when the generic API refuses to publish without review.
_review_route: str = ""


def register(job_type: JobType) -> JobType:
    if not job_type.stages:
        raise ValueError(f"job type {job_type.name} has no stages")
    if not job_type.api_submit and not job_type.started_by:
        raise ValueError(f"job type {job_type.name} is not API-submittable: say in started_by what starts it")
    if job_type.publishes is not None and not job_type.preview_params:
        raise ValueError(f"job type {job_type.name} publishes: say in preview_params how to load it for preview only")
    _registry[job_type.name] = job_type
    return job_type


def register_submit_guard(guard: SubmitGuard) -> SubmitGuard:
    """Protect outputs from generic-API jobs (e.g. publishing guards released data);
    registered once from an ``AppConfig.ready()``."""
    if guard not in _guards:
        _guards.append(guard)
    return guard


def submit_guards() -> list[SubmitGuard]:
    return list(_guards)


def register_output_owners(kind: str, lookup: OwnerJobsLookup) -> None:
    """Say how to find the jobs that made an existing output of ``kind`` (features for
    vector tables, rasters for STAC items and collections); registered once from an
    ``AppConfig.ready()``. The generic API lets an account replace or delete an existing
    output only when the jobs that made it are jobs it submitted (joining is not enough)."""
    _owner_lookups[kind] = lookup


def output_owner_jobs(output: Output) -> Sequence[str] | None:
    """The jobs that made ``output`` (see :data:`OwnerJobsLookup`). A kind nobody registered
    counts as existing with no known maker: refused to all but operators, never let through."""
    lookup = _owner_lookups.get(output.kind)
    return lookup(output.id) if lookup is not None else []


@dataclass(frozen=True)
class Check:
    """An extra pre-flight check of a job type (``register_check``): ``fn(params)`` returns
    problems; ``level="warning"`` problems are reported (verbose pre-flight) but never refuse."""

    name: str
    fn: Validator
    level: str = "error"


_checks: dict[str, list[Check]] = {}


def register_check(job_type: str, check: Validator, *, name: str = "", level: str = "error") -> Check:
    """Add a pre-flight check to ``job_type`` (run after its validators, each timed and
    reported by verbose pre-flight; facts it learns go in through ``ingest.preflight.saw``);
    registered once from an ``AppConfig.ready()``."""
    if level not in {"error", "warning"}:
        raise ValueError("level is 'error' or 'warning'")
    entry = Check(name or getattr(check, "__name__", "check"), check, level)
    if entry not in _checks.setdefault(job_type, []):
        _checks[job_type].append(entry)
    return entry


def checks_of(job_type: JobType) -> list[Check]:
    """Every pre-flight check of a type: its validators, then the registered checks."""
    own = [Check(getattr(v, "__name__", "validator"), v) for v in job_type.validators]
    return own + list(_checks.get(job_type.name, []))


def register_review_route(route: str) -> None:
    """The route through which data is reviewed before it is public (publishing's
    ``POST /api/platform/submit``); registered once from an ``AppConfig.ready()``."""
    global _review_route
    _review_route = route


def review_route() -> str:
    return _review_route


def get(name: str) -> JobType:
    try:
        return _registry[name]
    except KeyError:
        raise InvalidInput(
            f"Unknown job type {name!r}.",
            code="unknown_job_type",
            details={"valid_job_types": sorted(_registry)},
        ) from None


def all_types() -> dict[str, JobType]:
    return dict(_registry)
