"""Clients holding the diagnostics groups (created by the geoplatform migration)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

# As the migration geoplatform/0002 makes them (a transactional test's flush empties the table).
GROUPS = {
    "diagnostics-viewers": ["view_diagnostics"],
    "maintenance-operators": ["view_diagnostics", "run_maintenance", "view_maintenancerecord"],
}


def group_ensure(group: str) -> Group:
    found, created = Group.objects.get_or_create(name=group)
    if created:
        found.permissions.add(
            *Permission.objects.filter(content_type__app_label="geoplatform", codename__in=GROUPS[group])
        )
    return found


def _client_in(group: str, username: str) -> APIClient:
    user = get_user_model().objects.create_user(username)
    user.groups.add(group_ensure(group))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def viewer_client(db: Any) -> APIClient:
    """geoplatform.view_diagnostics only (no maintenance)."""
    return _client_in("diagnostics-viewers", "diag-viewer")


@pytest.fixture
def maintainer_client(db: Any) -> APIClient:
    """geoplatform.view_diagnostics + geoplatform.run_maintenance."""
    return _client_in("maintenance-operators", "diag-maintainer")
