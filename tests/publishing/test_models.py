"""The audit log is append-only: the ORM refuses, and so does the database itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from publishing.models import AuditImmutable, Platform, ReleaseAudit, asset_id_for, request_id_for

from .helpers import submitted

pytestmark = pytest.mark.django_db


def test_identities_are_deterministic() -> None:
    import hashlib

    assert asset_id_for("d", "r") == hashlib.sha256(b"ddh|d|r").hexdigest()[:32]
    assert request_id_for("d", "r", "v1") == hashlib.sha256(b"d|r|v1").hexdigest()[:32]
    assert request_id_for("d", "r", None) == hashlib.sha256(b"d|r").hexdigest()[:32]


def test_ddh_platform_is_seeded() -> None:
    assert Platform.objects.filter(code="ddh", active=True).exists()


def test_audit_rows_cannot_change_through_the_orm(ddh_user: Any) -> None:
    release = submitted(ddh_user)
    row = ReleaseAudit.objects.filter(release=release).first()
    assert row is not None and row.event == "submitted"
    row.reason = "tampered"
    with pytest.raises(AuditImmutable):
        row.save()
    with pytest.raises(AuditImmutable):
        row.delete()
    with pytest.raises(AuditImmutable):
        ReleaseAudit.objects.filter(pk=row.pk).update(reason="tampered")
    with pytest.raises(AuditImmutable):
        ReleaseAudit.objects.all().delete()
    assert ReleaseAudit.objects.get(pk=row.pk).reason != "tampered"


def test_database_refuses_update_and_delete_on_audit(ddh_user: Any) -> None:
    release = submitted(ddh_user)
    row = ReleaseAudit.objects.filter(release=release).first()
    assert row is not None
    table = ReleaseAudit._meta.db_table
    for sql in (f"UPDATE {table} SET reason = 'x' WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [row.pk])
    assert ReleaseAudit.objects.filter(pk=row.pk, reason=row.reason).exists()
