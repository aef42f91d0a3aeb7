"""Application state: the job engine's rows, which operators may clear or rebuild.

Application data is rebuildable, business data is protected (docs/operations.md). The
application state is every ``ingest`` table except :data:`KEEP` (service accounts' client
settings): jobs, stages, tasks, events, callback deliveries, worker heartbeats, and
whatever job-engine table is added later. Business data (``geo``, ``pgstac``, releases and
their audit, storage) is never touched.

One subtlety: other apps point at jobs (a release's ``job`` holds its processing status
and outputs). Jobs that such a row references are *kept* (their stages, tasks and events
are not); everything else goes. This module knows no other app: it finds those references
through the models' foreign keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.utils import timezone

from geoplatform.errors import Conflict

from .models import Job, JobStatus

APP_LABEL = "ingest"
KEEP = frozenset({"apiclient"})  # account configuration (webhook secrets), not state
# Rows that stay with a kept job: who joined it, so they may still read it.
FOLLOW_KEPT_JOBS = frozenset({"jobsubscriber"})
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
_INTERRUPTED = {
    "message": "The job was interrupted when an operator cleared the application state; submit it again.",
    "code": "app_state_cleared",
    "category": "platform",
    "remediation": "Submit the job again.",
    "user_fixable": False,
    "error_source": "platform",
}


@dataclass
class Report:
    """What a clear or rebuild did (or, in a dry run, would do)."""

    dry_run: bool
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows removed
    kept_jobs: int = 0  # referenced from business data: kept as records
    interrupted_jobs: list[str] = field(default_factory=list)  # active jobs stopped (--force)
    foreign_keys: list[str] = field(default_factory=list)  # re-created after a rebuild

    def lines(self) -> Iterator[str]:
        verb = "would" if self.dry_run else "did"
        for table, rows in self.tables.items():
            yield f"{verb} remove {rows} row(s) from {table}"
        yield f"{verb} keep {self.kept_jobs} job(s) referenced by business data (their tasks and events go)"
        for job_id in self.interrupted_jobs:
            yield f"{verb} mark active job {job_id} cancelled"
        for fk in self.foreign_keys:
            yield f"{verb} re-create the foreign key {fk}"


def app_state_models() -> list[type[models.Model]]:
    """The application-state models, each after the models it references (creation order)."""
    found = [m for m in apps.get_app_config(APP_LABEL).get_models() if m._meta.model_name not in KEEP]
    ordered: list[type[models.Model]] = []
    pending = list(found)
    while pending:
        for model in pending:
            targets = {f.related_model for f in model._meta.concrete_fields if f.is_relation} - {model}
            if not (targets & set(pending)):
                ordered.append(model)
                pending.remove(model)
                break
        else:  # a cycle: Django defers FK checks to commit, any order works
            ordered.extend(pending)
            break
    return ordered


def external_references() -> list[models.ForeignKey[Any, Any]]:
    """Foreign keys from outside the application state into it (e.g. a release's job)."""
    state = set(app_state_models())
    return [
        f
        for model in apps.get_models()
        if model not in state and model._meta.managed and not model._meta.proxy
        for f in model._meta.concrete_fields
        if isinstance(f, models.ForeignKey) and f.related_model in state
    ]


def _referenced_pks() -> dict[type[models.Model], set[Any]]:
    kept: dict[type[models.Model], set[Any]] = {}
    for fk in external_references():
        ids = fk.model._default_manager.exclude(**{f"{fk.attname}__isnull": True}).values_list(fk.attname, flat=True)
        kept.setdefault(fk.related_model, set()).update(ids)  # type: ignore[arg-type]
    return kept


def _kept() -> dict[type[models.Model], tuple[str, list[Any]]]:
    """Per model, the column and values of the rows that stay (referenced jobs and theirs)."""
    pks = _referenced_pks()
    kept: dict[type[models.Model], tuple[str, list[Any]]] = {
        model: (str(model._meta.pk.column), sorted(values)) for model, values in pks.items() if values
    }
    job_ids = sorted(pks.get(Job, set()))
    for model in app_state_models():
        if model._meta.model_name in FOLLOW_KEPT_JOBS and job_ids:
            kept[model] = (str(getattr(model._meta.get_field("job"), "column", "job_id")), job_ids)
    return kept


def _guard(*, force: bool) -> list[str]:
    active = list(Job.objects.filter(status__in=ACTIVE).values_list("id", flat=True))
    if active and not force:
        raise Conflict(
            f"{len(active)} job(s) are queued or running (e.g. {active[0]}).",
            remediation="Wait for them, cancel them, or pass --force to interrupt them (stop the workers first).",
        )
    return active


def _interrupt(job_ids: list[str], kept: set[Any]) -> None:
    """Active jobs that business data references stay, as cancelled: their tasks are gone."""
    now = timezone.now()
    Job.objects.filter(id__in=[j for j in job_ids if j in kept]).update(
        status=JobStatus.CANCELLED, error=_INTERRUPTED, finished_at=now, updated_at=now
    )


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def app_state_clear(*, dry_run: bool, force: bool = False) -> Report:
    """Delete the application-state rows (keeping referenced jobs as records)."""
    report = Report(dry_run=dry_run)
    with transaction.atomic():
        active = _guard(force=force)
        kept = _kept()
        kept_jobs = kept.get(Job, ("", []))[1]
        report.kept_jobs = len(kept_jobs)
        report.interrupted_jobs = sorted(active)
        with connection.cursor() as cur:
            for model in reversed(app_state_models()):  # children before what they reference
                where, params = "", []
                if model in kept:
                    column, values = kept[model]
                    where, params = f" WHERE NOT ({connection.ops.quote_name(column)} = ANY(%s))", [values]
                if dry_run:
                    cur.execute(f"SELECT count(*) FROM {_table(model)}{where}", params)
                    report.tables[model._meta.db_table] = cur.fetchone()[0]
                else:
                    cur.execute(f"DELETE FROM {_table(model)}{where}", params)
                    report.tables[model._meta.db_table] = cur.rowcount
        if not dry_run:
            _interrupt(active, set(kept_jobs))
    return report


def _concerns_kept_model(op: Operation) -> bool:
    name = getattr(op, "name_lower", None) or getattr(op, "model_name_lower", None)
    return name in KEEP


def app_tables_rebuild(*, dry_run: bool, force: bool = False) -> Report:
    """Drop the application-state tables and create them again from ingest's migrations.

    One transaction: the tables are dropped (``CASCADE`` also drops other apps' foreign keys
    into them), ingest's migration operations are replayed except those on :data:`KEEP`,
    the referenced jobs are put back and the foreign keys re-created. Needs the owner role.
    """
    report = Report(dry_run=dry_run)
    state_models = app_state_models()
    with transaction.atomic():
        _check_migrated()
        active = _guard(force=force)
        kept = _kept()
        report.interrupted_jobs = sorted(active)
        report.foreign_keys = [f"{fk.model._meta.db_table}.{fk.column}" for fk in external_references()]
        with connection.cursor() as cur:
            for model in reversed(state_models):
                cur.execute(f"SELECT count(*) FROM {_table(model)}")
                report.tables[model._meta.db_table] = cur.fetchone()[0]
        kept_rows = {  # in creation order: a job before the rows that belong to it
            model: list(model._default_manager.filter(**{f"{kept[model][0]}__in": kept[model][1]}).values())
            for model in state_models
            if model in kept
        }
        report.kept_jobs = len(kept_rows.get(Job, []))
        for model, rows in kept_rows.items():
            report.tables[model._meta.db_table] -= len(rows)
        if dry_run:
            return report
        # Deferred foreign-key checks of rows written earlier in this transaction would keep
        # PostgreSQL from dropping their tables: run them now.
        connection.check_constraints()
        with connection.cursor() as cur:
            for model in reversed(state_models):
                cur.execute(f"DROP TABLE IF EXISTS {_table(model)} CASCADE")
        _replay_migrations()
        for model, rows in kept_rows.items():
            model._default_manager.bulk_create([model(**row) for row in rows])
        _interrupt(active, {row["id"] for row in kept_rows.get(Job, [])})
        with connection.schema_editor(atomic=False) as fk_editor:
            editor_any: Any = fk_editor  # _create_fk_sql: the same SQL and name AddField would use
            for fk in external_references():
                # The constraint dropped by CASCADE, under the name its migration gave it.
                fk_editor.execute(editor_any._create_fk_sql(fk.model, fk, "_fk_%(to_table)s_%(to_column)s"))
    return report


def _ingest_plan(loader: MigrationLoader) -> list[tuple[str, str]]:
    """Ingest's migrations in the order migrate applies them (every leaf, should there be two)."""
    plan: list[tuple[str, str]] = []
    for leaf in sorted(loader.graph.leaf_nodes(APP_LABEL)):
        plan += [key for key in loader.graph.forwards_plan(leaf) if key[0] == APP_LABEL and key not in plan]
    return plan


def _check_migrated() -> None:
    """Replaying a migration that ``migrate`` has not recorded would desynchronise the two."""
    loader = MigrationLoader(connection)
    pending = [name for app, name in _ingest_plan(loader) if (app, name) not in loader.applied_migrations]
    if pending:
        raise Conflict(
            f"ingest has unapplied migrations ({', '.join(pending)}).",
            remediation="Run `manage.py migrate` first, then rebuild.",
        )


def _replay_migrations() -> None:
    """Apply ingest's migrations' operations again, skipping those on kept models.

    One schema editor per migration, as ``migrate`` does: an index that a later migration
    removes must exist (its creation is deferred to the end of each editor) before then.
    """
    loader = MigrationLoader(connection)
    for key in _ingest_plan(loader):
        migration = loader.graph.nodes[key]
        state = loader.project_state(key, at_end=False)
        with connection.schema_editor(atomic=False) as editor:  # inside the caller's transaction
            for op in migration.operations:
                new_state = state.clone()
                op.state_forwards(APP_LABEL, new_state)
                if not _concerns_kept_model(op):
                    op.database_forwards(APP_LABEL, editor, state, new_state)
                state = new_state
