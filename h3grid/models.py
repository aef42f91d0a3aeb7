"""The H3 app's registry. Cells and statistics live in the ``h3`` schema (see the 0001 migration):
plain tables loaded with COPY, never touched by the rebuilds of application tables.

Cell tables (one row per land cell of the pyramid, cells as 64-bit integers):
- ``h3.cell(cell bigint PRIMARY KEY, res smallint, parent bigint)``: the land pyramid.
- ``h3.cell_country(cell bigint, iso3 char(3), share real, PRIMARY KEY (cell, iso3))``: every
  country a cell touches, with the share of the cell's area in it.

Statistics: one wide table per registered dataset, ``h3.stat_<id>`` with ``res smallint, cell
bigint`` and one double precision column per entry of :attr:`StatDataset.columns`,
PRIMARY KEY (res, cell).
"""

from __future__ import annotations

from django.db import models


class SourceKind(models.TextChoices):
    RASTER = "raster", "Raster (STAC item)"
    VECTOR = "vector", "Vector collection"


class StatDataset(models.Model):
    """One set of per-cell statistics: what it was computed from, at which resolutions, how."""

    slug = models.SlugField(max_length=63, unique=True)
    title = models.CharField(max_length=255, blank=True)
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices)
    # The STAC "collection/item" of a raster, or the features collection id of a vector.
    source_ref = models.CharField(max_length=255)
    resolutions = models.JSONField(default=list)  # [5, 6, 7]
    # [{"name": "mean", "stat": "mean", "band": 1, "category": null, "units": "m", "approximate": false}]
    columns = models.JSONField(default=list)
    units = models.CharField(max_length=64, blank=True)
    # Where each resolution lives: {"5": "postgres", "7": "parquet:<blob prefix>"}
    storage = models.JSONField(default=dict)
    provenance = models.JSONField(default=dict)  # job id, source version/checksum, method, library versions
    job_id = models.CharField(max_length=64, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def table(self) -> str:
        return f"stat_{self.pk}"
