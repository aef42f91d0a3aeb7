"""Query filters of the job list (``GET /api/jobs``), as django-filter FilterSets."""

from __future__ import annotations

import django_filters

from geoplatform.api import StrictFilterSet

from .models import Job, JobStatus


class JobFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=JobStatus.choices, help_text="Only jobs in this state.")
    job_type = django_filters.CharFilter(help_text="Only jobs of this type (see GET /api/jobs/types).")
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after this ISO 8601 time."
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before this ISO 8601 time."
    )

    class Meta:
        model = Job
        fields: list[str] = []
