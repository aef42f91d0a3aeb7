"""E7: public approvals are copied to the external zone (verified, audited, idempotent);
revoking removes the copies. Review events reach the submitter as signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from geoplatform.storage import zone_storage
from publishing import externalize, services, webhooks
from publishing.models import ReleaseAudit

from .conftest import run_job
from .helpers import submitted

pytestmark = pytest.mark.django_db


def test_public_approval_copies_artifacts_and_revoke_removes_them(ddh_user: Any, ddh_client: Any) -> None:
    release = submitted(ddh_user, file_name="export.geojson")
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="public")
    release.refresh_from_db()
    assert release.external["status"] == "copy_pending"
    job = run_job(release.external["job_id"])
    assert job.status == "completed", job.error
    release.refresh_from_db()
    assert release.external["status"] == "copied"
    (copy,) = release.external["copies"]
    external, silver = zone_storage("external"), zone_storage("silver")
    assert copy["blob"] == "exports/ds_1_res_1_v1.parquet" and external.exists(copy["blob"])
    with silver.open(copy["blob"], "rb") as fh:
        assert copy["sha256"] == hashlib.sha256(fh.read()).hexdigest()
    assert copy["size"] == external.size(copy["blob"])
    assert externalize.blob_copy(name=copy["blob"])["copied"] is False  # idempotent
    assert (
        ReleaseAudit.objects.filter(release=release, event="externalized", reason__contains=copy["sha256"]).count() == 1
    )
    status = ddh_client.get(f"/api/platform/status/{release.id}").json()
    assert status["external"]["copies"][0]["url"] == copy["url"]

    services.release_revoke(release_id=release.id, user=ddh_user, reviewer="a", reason="withdrawn")
    release.refresh_from_db()
    run_job(release.external["job_id"])
    release.refresh_from_db()
    assert release.external == {"status": "removed", "job_id": release.external["job_id"], "copies": []}
    assert not external.exists(copy["blob"])
    assert ReleaseAudit.objects.filter(release=release, event="external_removed").count() == 1


def test_ouo_approval_is_not_externalized(ddh_user: Any) -> None:
    release = submitted(ddh_user, file_name="export.geojson")
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="a", clearance_state="ouo")
    release.refresh_from_db()
    assert release.external == {}


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_review_events_are_signed_webhooks(
    ddh_user: Any, receiver: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from ingest.models import ApiClient

    url, received = receiver
    release = submitted(ddh_user, callback_url=url)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.release_approve(release_id=release.id, user=ddh_user, reviewer="alice", clearance_state="ouo")
    assert len(callbacks) == 1  # the webhook is scheduled only once the approval committed
    assert (
        webhooks.webhook_deliver(release_id=release.id, event="release.approved", attempt=1, delivery_id="d1") is None
    )
    headers, body = received[0]
    secret = ApiClient.objects.get(user=ddh_user).webhook_secret
    assert headers["X-GeoPlatform-Signature"] == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    assert payload["event"] == "release.approved" and payload["approval_state"] == "approved"
    assert payload["reviewer"] == "alice" and payload["release_id"] == release.id
    assert ReleaseAudit.objects.filter(release=release, event="webhook", reason__contains="delivered").exists()
