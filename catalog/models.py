"""The audit log of the STAC Transactions API (the only catalogue table outside pgSTAC).

One row per change made through /api/stac transactions: who, when, what (collection or
item, created/replaced/updated/deleted) and the document before and after. The platform's
own pipelines (features, rasters, publishing) are audited by their jobs and releases.
Which collections the transactions API may change is read from this log too (see
:func:`catalog.services.transaction_owned`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from .errors import AuditImmutable


class StacTransaction(models.Model):
    """One change through the transactions API. The database refuses UPDATE and DELETE (trigger)."""

    class Action(models.TextChoices):
        CREATE = "create"
        REPLACE = "replace"
        UPDATE = "update"  # PATCH: a JSON merge patch
        DELETE = "delete"

    class Kind(models.TextChoices):
        COLLECTION = "collection"
        ITEM = "item"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # the log outlives accounts
        related_name="+",
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    collection_id = models.CharField(max_length=255)
    item_id = models.CharField(max_length=255, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["kind", "collection_id", "-id"], name="catalog_txn_owner_idx")]
        permissions = [
            ("manage_stac", "Can create, replace, update and delete STAC collections and items (transactions API)")
        ]

    def __str__(self) -> str:
        target = f"{self.collection_id}/{self.item_id}" if self.item_id else self.collection_id
        return f"{self.action} {self.kind} {target} by {self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AuditImmutable("The STAC transactions log is append-only: rows cannot be changed.")
        super().save(*args, **kwargs)
