"""Signed callbacks to a real HTTP server on loopback, delivered by the real worker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ingest.callbacks import SIGNATURE_HEADER, sign
from ingest.models import CallbackDelivery, JobEvent
from tests.conftest import wait_for_job


class Receiver:
    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(500 if len(receiver.calls) <= receiver.fail_first else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=1)
    yield r
    r.server.shutdown()


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_completion_callback_is_signed_retried_and_recorded(
    live_worker: Any, auth_client: Any, service_account: Any, receiver: Receiver
) -> None:
    resp = auth_client.post(
        "/api/jobs/submit/hello",
        {"parameters": {"count": 2, "name": "cb"}, "callback_url": receiver.url},
        format="json",
    )
    assert resp.status_code == 202, resp.content
    job_id = resp.json()["job_id"]
    assert wait_for_job(job_id).status == "completed"
    deadline = time.monotonic() + 30
    while CallbackDelivery.objects.filter(job_id=job_id, ok=True).count() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    deliveries = list(CallbackDelivery.objects.filter(job_id=job_id).order_by("attempt"))
    assert [(d.attempt, d.status_code, d.ok) for d in deliveries] == [(1, 500, False), (2, 204, True)]
    headers, body = receiver.calls[-1]
    assert headers[SIGNATURE_HEADER] == sign(service_account.webhook_secret, body)
    payload = json.loads(body)
    assert payload["event"] == "job.completed" and payload["job_id"] == job_id
    assert payload["result"]["total"] == 1
    assert JobEvent.objects.filter(job_id=job_id, kind="callback").count() == 2


@pytest.mark.django_db
def test_callback_hosts_must_be_allowed(auth_client: Any, settings: Any) -> None:
    settings.GEOPLATFORM_CALLBACK_ALLOWED_HOSTS = ["*.example.org"]
    resp = auth_client.post(
        "/api/jobs/submit/hello",
        {"parameters": {"count": 1}, "callback_url": "http://10.0.0.1/hook"},
        format="json",
    )
    assert resp.status_code == 400 and resp.json()["code"] == "callback_host_not_allowed"


@pytest.mark.django_db
def test_callbacks_need_a_client_secret(staff_client: Any) -> None:
    resp = staff_client.post(
        "/api/jobs/submit/hello",
        {"parameters": {"count": 1}, "callback_url": "http://127.0.0.1:9/hook"},
        format="json",
    )
    assert resp.status_code == 400 and resp.json()["code"] == "callback_needs_client"
