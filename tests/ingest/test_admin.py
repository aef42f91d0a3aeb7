"""Jobs in the Django admin: list, search, detail, and actions that call the services."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from ingest import services
from ingest.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(client: Any) -> Any:
    get_user_model().objects.create_superuser("admin", "a@example.org", "pw-for-tests-only")
    client.login(username="admin", password="pw-for-tests-only")
    return client


def test_job_list_search_and_detail(admin_browser: Any) -> None:
    job = services.job_submit(job_type="hello", parameters={"count": 2}).job
    page = admin_browser.get("/admin/ingest/job/", {"q": job.id[:20]}).content.decode()
    assert job.id[:12] in page
    page = admin_browser.get("/admin/ingest/job/", {"status__exact": "failed"}).content.decode()
    assert job.id[:12] not in page
    detail = admin_browser.get(f"/admin/ingest/job/{job.id}/change/").content.decode()
    assert "stage greet" in detail and "submitted" in detail


def test_cancel_and_retry_actions(admin_browser: Any) -> None:
    job = services.job_submit(job_type="hello", parameters={"count": 2, "name": "adm"}).job
    resp = admin_browser.post(
        "/admin/ingest/job/", {"action": "cancel_jobs", "_selected_action": [job.id]}, follow=True
    )
    assert "Cancelled 1 job(s)." in resp.content.decode()
    assert Job.objects.get(pk=job.id).status == "cancelled"
    resp = admin_browser.post("/admin/ingest/job/", {"action": "retry_jobs", "_selected_action": [job.id]}, follow=True)
    assert "Restarted 1 job(s)." in resp.content.decode()
    assert Job.objects.get(pk=job.id).status == "queued"
    resp = admin_browser.post("/admin/ingest/job/", {"action": "retry_jobs", "_selected_action": [job.id]}, follow=True)
    assert "only a failed or cancelled job can be retried" in resp.content.decode()


def test_job_shows_its_submitter_and_the_clients_that_joined(admin_browser: Any) -> None:
    from ingest.accounts import service_account_ensure

    users = []
    for name in ("first-client", "second-client"):
        service_account_ensure(name=name)
        users.append(get_user_model().objects.get(username=name))
    job = services.job_submit(job_type="hello", parameters={"count": 1, "name": "two"}, user=users[0]).job
    services.job_submit(
        job_type="hello", parameters={"count": 1, "name": "two"}, user=users[1], callback_url="http://127.0.0.1:9/b"
    )
    page = admin_browser.get("/admin/ingest/job/", {"q": "first-client"}).content.decode()
    assert job.id[:12] in page and "first-client" in page
    detail = admin_browser.get(f"/admin/ingest/job/{job.id}/change/").content.decode()
    assert "second-client" in detail and "http://127.0.0.1:9/b" in detail
