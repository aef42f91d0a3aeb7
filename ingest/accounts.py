"""Service accounts: a user, its API token, its webhook secret, in the right group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from rest_framework.authtoken.models import Token

from geoplatform.errors import InvalidInput

from .callbacks import client_secret_new
from .models import ApiClient

SERVICE_GROUP = "service-accounts"
SERVICE_PERMS = ("ingest.submit_job", "ingest.upload_file")


@dataclass
class ServiceAccount:
    username: str
    token: str
    webhook_secret: str
    created: bool


def service_group() -> Group:
    group, _ = Group.objects.get_or_create(name=SERVICE_GROUP)
    for perm in SERVICE_PERMS:
        app_label, codename = perm.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def service_account_ensure(*, name: str, rotate: bool = False, groups: Sequence[str] = ()) -> ServiceAccount:
    """Create (or return) the service account ``name``; ``rotate`` issues a new token and secret.

    ``groups`` are existing groups it joins too (e.g. ``platform-clients`` for DDH).
    """
    user_model = get_user_model()
    extra = list(Group.objects.filter(name__in=groups))
    missing = sorted(set(groups) - {g.name for g in extra})
    if missing:
        known = ", ".join(sorted(Group.objects.values_list("name", flat=True)))
        raise InvalidInput(f"No group {', '.join(missing)}; known groups: {known}.")
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save()
        user.groups.add(service_group(), *extra)
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        client, client_created = ApiClient.objects.get_or_create(
            user=user, defaults={"webhook_secret": client_secret_new()}
        )
        if rotate and not client_created:
            client.webhook_secret = client_secret_new()
            client.save(update_fields=["webhook_secret"])
    return ServiceAccount(username=name, token=token.key, webhook_secret=client.webhook_secret, created=created)
