"""The core has no tables; this unmanaged model only anchors the core's permissions.

Django permissions hang off a content type, so ``geoplatform.view_health`` needs a model
to belong to. ``managed = False``: migrations create no table for it.
"""

from django.db import models


class Health(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_health", "Can see the detailed health report (versions, errors)")]

    def __str__(self) -> str:
        return "health"


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
