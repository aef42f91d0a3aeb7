"""Jobs belong to whoever submitted them (or joined them by submitting the same job).

Before: any token read every job's parameters, results and events, and a second client's
identical submit returned the first client's job and silently dropped its callback_url.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ingest import events, services
from ingest.accounts import service_account_ensure
from ingest.callbacks import SIGNATURE_HEADER, sign
from ingest.models import CallbackDelivery, JobSubscriber
from tests.conftest import wait_for_job

from .test_callbacks import Receiver


def _client(name: str) -> tuple[APIClient, Any, Any]:
    account = service_account_ensure(name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {account.token}")
    return client, get_user_model().objects.get(username=name), account


def _with_perms(name: str, *codenames: str) -> APIClient:
    user = get_user_model().objects.create_user(name)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="ingest", codename__in=codenames))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.django_db
def test_a_client_sees_only_its_own_jobs_others_are_404() -> None:
    a, _, _ = _client("client-a")
    b, _, _ = _client("client-b")
    resp = a.post("/api/jobs/submit/hello", {"parameters": {"count": 2, "name": "mine"}}, format="json")
    assert resp.status_code == 202 and resp.json()["joined"] is False
    job_id = resp.json()["job_id"]
    assert services.job_submit(job_type="hello", parameters={"count": 1}).job.submitted_by is None  # a system job

    assert a.get(f"/api/jobs/status/{job_id}").status_code == 200
    assert [j["job_id"] for j in a.get("/api/jobs").json()["results"]] == [job_id]
    for url in (f"/api/jobs/status/{job_id}", f"/api/jobs/{job_id}/events"):
        resp = b.get(url)
        assert resp.status_code == 404, url
        assert resp.json()["code"] == "job_not_found"  # the same answer as for a job that does not exist
    assert b.get("/api/jobs").json()["count"] == 0

    operator = _with_perms("ops-a", "operate_job")  # may retry and cancel, but only what it sees
    assert operator.post(f"/api/jobs/{job_id}/cancel").status_code == 404
    assert operator.post(f"/api/jobs/{job_id}/retry").status_code == 404

    viewer = _with_perms("ops-b", "view_all_jobs", "operate_job")
    assert viewer.get(f"/api/jobs/status/{job_id}").status_code == 200
    assert viewer.get("/api/jobs").json()["count"] == 2
    assert viewer.post(f"/api/jobs/{job_id}/cancel").status_code == 200


@pytest.mark.django_db
def test_a_second_client_joins_the_same_job_and_may_read_it_from_then_on() -> None:
    a, user_a, _ = _client("client-a")
    b, user_b, _ = _client("client-b")
    body = {"parameters": {"count": 2, "name": "shared"}, "callback_url": "http://127.0.0.1:9/a"}
    first = a.post("/api/jobs/submit/hello", body, format="json").json()
    assert b.get(f"/api/jobs/status/{first['job_id']}").status_code == 404

    second = b.post("/api/jobs/submit/hello", {**body, "callback_url": "http://127.0.0.1:9/b"}, format="json")
    assert second.status_code == 202, second.content
    joined = second.json()
    assert joined["job_id"] == first["job_id"]
    assert joined["outcome"] == "in_progress" and joined["joined"] is True
    assert b.get(f"/api/jobs/status/{first['job_id']}").status_code == 200
    assert b.get("/api/jobs").json()["count"] == 1
    # Each client's callback is kept, none replaced; the first submitter stays the submitter.
    subscribers = {s.user_id: s for s in JobSubscriber.objects.filter(job_id=first["job_id"])}
    assert subscribers[user_a.pk].callback_url.endswith("/a") and not subscribers[user_a.pk].joined
    assert subscribers[user_b.pk].callback_url.endswith("/b") and subscribers[user_b.pk].joined
    # Submitting again is still "joined" for b, never for a.
    assert a.post("/api/jobs/submit/hello", body, format="json").json()["joined"] is False
    assert b.post("/api/jobs/submit/hello", body, format="json").json()["joined"] is True


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_every_subscriber_gets_its_own_signed_callback(live_worker: Any) -> None:
    _, user_a, account_a = _client("client-a")
    _, user_b, account_b = _client("client-b")
    receiver_a, receiver_b = Receiver(fail_first=0), Receiver(fail_first=0)
    try:
        params = {"count": 1, "name": "two-subscribers"}
        # One transaction: both clients are subscribed before the first task can run.
        with transaction.atomic():
            first = services.job_submit(job_type="hello", parameters=params, user=user_a, callback_url=receiver_a.url)
            second = services.job_submit(job_type="hello", parameters=params, user=user_b, callback_url=receiver_b.url)
        assert second.job.id == first.job.id and second.joined and not first.joined
        assert wait_for_job(first.job.id).status == "completed"
        deadline = time.monotonic() + 30
        while CallbackDelivery.objects.filter(job_id=first.job.id, ok=True).count() < 2:
            assert time.monotonic() < deadline, list(CallbackDelivery.objects.filter(job_id=first.job.id).values())
            time.sleep(0.1)
        for receiver, account in ((receiver_a, account_a), (receiver_b, account_b)):
            assert len(receiver.calls) == 1
            headers, raw = receiver.calls[0]
            assert headers[SIGNATURE_HEADER] == sign(account.webhook_secret, raw)  # its own secret
            assert json.loads(raw)["job_id"] == first.job.id
        deliveries = CallbackDelivery.objects.filter(job_id=first.job.id).select_related("subscriber")
        assert {(d.subscriber.user_id, d.url) for d in deliveries} == {
            (user_a.pk, receiver_a.url),
            (user_b.pk, receiver_b.url),
        }
    finally:
        receiver_a.server.shutdown()
        receiver_b.server.shutdown()


@pytest.mark.django_db
def test_a_callback_event_is_shown_only_to_the_client_it_went_to() -> None:
    a, user_a, _ = _client("client-a")
    b, user_b, _ = _client("client-b")
    job = services.job_submit(job_type="hello", parameters={"count": 1, "name": "ev"}, user=user_a).job
    services.job_submit(job_type="hello", parameters={"count": 1, "name": "ev"}, user=user_b)
    events.event_record(job.id, "callback", "job.completed -> http://a.example/secret-path", user_id=user_a.pk)
    events.event_record(job.id, "callback", "job.completed -> http://b.example/hook", user_id=user_b.pk)

    def callbacks(client: APIClient) -> list[str]:
        return [e["message"] for e in client.get(f"/api/jobs/{job.id}/events").json() if e["kind"] == "callback"]

    assert callbacks(a) == ["job.completed -> http://a.example/secret-path"]
    assert callbacks(b) == ["job.completed -> http://b.example/hook"]
    assert len(callbacks(_with_perms("ops-c", "view_all_jobs"))) == 2
