"""Query filters of the platform's release lists (``GET /api/platform/approvals``)."""

from __future__ import annotations

import django_filters

from geoplatform.api import StrictFilterSet

from .models import ApprovalState, Release


class ApprovalFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(
        field_name="approval_state", choices=ApprovalState.choices, help_text="Only releases in this approval state."
    )

    class Meta:
        model = Release
        fields: list[str] = []
