"""Styles of vector collections (canonical CartoSym-JSON) and every change made to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Style(models.Model):
    # The collection is named, not a foreign key: styles sit above features and outlive nothing
    # (the features hook removes a collection's styles when the collection goes).
    collection_id = models.CharField(max_length=63, db_index=True)
    style_id = models.SlugField(max_length=63)
    title = models.CharField(max_length=300, blank=True, default="")
    description = models.TextField(blank=True, default="")
    cartosym = models.JSONField(help_text="The style in CartoSym-JSON (OGC Cartographic Symbology 1.0).")
    is_default = models.BooleanField(default=False)
    # Made by the platform on load (replaced on each overwrite); False once a person edits it.
    generated = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["collection_id", "style_id"]
        constraints = [
            models.UniqueConstraint(fields=["collection_id", "style_id"], name="styles_style_unique_id"),
            models.UniqueConstraint(
                fields=["collection_id"], condition=models.Q(is_default=True), name="styles_style_one_default"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.collection_id}/{self.style_id}"


class StyleRevision(models.Model):
    """One change to a style: who, when, what (the whole CartoSym document after the change)."""

    class Action(models.TextChoices):
        CREATE = "create"
        REPLACE = "replace"
        DELETE = "delete"
        GENERATE = "generate"

    collection_id = models.CharField(max_length=63, db_index=True)
    style_id = models.CharField(max_length=63)
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=16, choices=Action.choices)
    cartosym = models.JSONField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["collection_id", "style_id", "-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.collection_id}/{self.style_id} v{self.version} {self.action}"
