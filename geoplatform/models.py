"""The core has no tables; this unmanaged model only anchors the core's permissions.

Django permissions hang off a content type, so ``geoplatform.view_health`` needs a model
to belong to. ``managed = False``: migrations create no table for it.
"""

from django.conf import settings
from django.db import models


class Health(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_health", "Can see the detailed health report (versions, errors)")]

    def __str__(self) -> str:
        return "health"


class MaintenanceRecord(models.Model):
    """One maintenance action called through the diagnostics API (dry runs included): who,
    when, with which parameters, and what it did. Also anchors the diagnostics permissions."""

    action = models.CharField(max_length=100, db_index=True)
    params = models.JSONField(default=dict)
    dry_run = models.BooleanField(default=True)
    ok = models.BooleanField(default=True)
    result = models.JSONField(default=dict)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, default="", help_text="Kept if the user is deleted.")
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("view_diagnostics", "Can read the diagnostics API and the operator page"),
            ("run_maintenance", "Can run maintenance actions (re-queue, purge, re-send)"),
        ]

    def __str__(self) -> str:
        return f"{self.action}{' (dry run)' if self.dry_run else ''} by {self.username or 'system'}"


class Observability(models.Model):
    """Anchors the operators' observability permissions (no table, like :class:`Health`)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_metrics", "Can read the Prometheus metrics (/metrics)"),
            ("view_debug", "Can see internals (stack, SQL, task ids) in error bodies when debug mode is on"),
        ]

    def __str__(self) -> str:
        return "observability"
