"""Access rules shared by every API app."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


class ReadPublicWriteAuthenticated(BasePermission):
    """Reads follow ``GEOPLATFORM_PUBLIC_READ``; writes need an authenticated account."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS and settings.GEOPLATFORM_PUBLIC_READ:
            return True
        return bool(request.user and request.user.is_authenticated)


class Authenticated(BasePermission):
    """Operator endpoints: always authenticated, whatever the public-read setting."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated)


def has_perm(perm: str) -> type[BasePermission]:
    """Authenticated and holding the model permission ``perm`` (401 vs 403 kept apart)."""

    class _HasPerm(BasePermission):
        message = f"Your account lacks the permission {perm!r}."

        def has_permission(self, request: Request, view: Any) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perm(perm))

    _HasPerm.__name__ = f"HasPerm_{perm.replace('.', '_')}"
    return _HasPerm
