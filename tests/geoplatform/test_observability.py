"""Metrics, request ids, traces and debug mode against the real stack (issue 12).

The worker test proves the multiprocess exposition: task counters written by the worker's
processes and HTTP counters written by this one come back summed in one scrape, parsed
with prometheus-client's own parser.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from geoplatform import tracing
from ingest.models import Job
from tests.conftest import wait_for_job
from tests.ingest.inline import run_inline

METRICS_TOKEN = "scrape-secret-for-tests"


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def _value(text: str, name: str, **labels: str) -> float:
    return sum(v for n, lab, v in _samples(text) if n == name and all(lab.get(k) == x for k, x in labels.items()))


def _scrape(client: APIClient) -> str:
    resp = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"].startswith("text/plain")
    return resp.content.decode()


def _user_client(codenames: list[str], name: str) -> APIClient:
    user = get_user_model().objects.create_user(name)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="geoplatform", codename__in=codenames))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def metrics_token(settings: Any) -> str:
    settings.GEOPLATFORM_METRICS_TOKEN = METRICS_TOKEN
    return METRICS_TOKEN


@pytest.mark.django_db
def test_metrics_need_the_token_or_the_permission(api_client: Any, plain_user_client: Any, metrics_token: str) -> None:
    assert api_client.get("/metrics").status_code == 401
    assert api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert api_client.get("/metrics", HTTP_AUTHORIZATION="Token not-a-token").status_code == 401
    assert plain_user_client.get("/metrics").status_code == 403
    assert _user_client(["view_metrics"], "scraper").get("/metrics").status_code == 200
    assert api_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").status_code == 200


@pytest.mark.django_db
def test_metrics_off(api_client: Any, metrics_token: str, settings: Any) -> None:
    settings.GEOPLATFORM_METRICS_ENABLED = False
    assert api_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").status_code == 404


@pytest.mark.django_db
def test_http_metrics_are_labelled_by_route_pattern(api_client: Any, auth_client: Any, metrics_token: str) -> None:
    route = "/api/jobs/status/<str:job_id>"
    before = _scrape(api_client)
    for job_id in ("a" * 64, "b" * 64):
        assert auth_client.get(f"/api/jobs/status/{job_id}").status_code == 404
    text = _scrape(api_client)
    count = "geoplatform_http_requests_total"
    assert _value(text, count, route=route, status="404") - _value(before, count, route=route, status="404") == 2
    assert not any("aaaa" in str(lab) for _, lab, _ in _samples(text))  # never a raw path
    assert _value(text, "geoplatform_http_request_duration_seconds_count", route=route) >= 2
    assert _value(text, "geoplatform_http_db_duration_seconds_count", route=route) >= 2
    assert _value(text, "geoplatform_http_db_queries_total", route=route) >= 2  # token + job lookup
    assert any(n == "geoplatform_queue_depth" for n, _, _ in _samples(text))


class Receiver:
    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.headers.append(dict(self.headers))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_request_id_follows_the_job_and_worker_metrics_are_summed(
    live_worker: Any, auth_client: Any, api_client: Any, metrics_token: str, receiver: Receiver
) -> None:
    request_id = f"req-obs-{time.time_ns()}"
    resp = auth_client.post(
        "/api/jobs/submit/hello",
        {
            "parameters": {"count": 2, "fail_mode": "transient", "fail_times": 1, "queue_tag": request_id},
            "callback_url": receiver.url,
        },
        format="json",
        HTTP_X_REQUEST_ID=request_id,
    )
    assert resp.status_code == 202, resp.content
    job_id = resp.json()["job_id"]
    assert wait_for_job(job_id).status == "completed"
    assert Job.objects.get(pk=job_id).request_id == request_id
    deadline = time.monotonic() + 30
    while not receiver.headers and time.monotonic() < deadline:
        time.sleep(0.1)
    assert receiver.headers and receiver.headers[0]["X-Request-Id"] == request_id
    # The worker's retry warnings (text log format) end with [request_id job_id task_id]; the
    # worker processes' output reaches the log through the dramatiq parent's pipe, a little later.
    retried: list[str] = []
    while len(retried) < 2 and time.monotonic() < deadline:
        retried = [line for line in live_worker.tail(200_000).splitlines() if "will retry" in line and job_id in line]
        time.sleep(0.1)
    assert len(retried) == 2 and all(f"[{request_id} {job_id} " in line for line in retried)

    text = _scrape(api_client)  # this process: HTTP; the worker's processes: jobs and tasks
    assert _value(text, "geoplatform_tasks_total", job_type="hello", stage="square", event="retried") >= 2
    assert _value(text, "geoplatform_tasks_total", job_type="hello", stage="square", event="completed") >= 2
    assert _value(text, "geoplatform_task_duration_seconds_count", job_type="hello", stage="sum") >= 1
    assert _value(text, "geoplatform_stages_total", job_type="hello", stage="square", event="completed") >= 1
    assert _value(text, "geoplatform_jobs_total", job_type="hello", event="completed") >= 1
    assert _value(text, "geoplatform_callback_deliveries_total", event="job.completed", outcome="delivered") >= 1
    assert _value(text, "geoplatform_http_requests_total", route="/api/jobs/submit/<str:job_type>") >= 1


@pytest.fixture
def spans(settings: Any) -> Iterator[InMemorySpanExporter]:
    """The OpenTelemetry SDK with an in-memory exporter in place of OTLP."""
    settings.GEOPLATFORM_OTEL_ENABLED = True
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)


@pytest.mark.django_db(transaction=True)
def test_traceparent_is_kept_on_the_job_and_parents_its_tasks(
    auth_client: Any, spans: InMemorySpanExporter, settings: Any
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    resp = auth_client.post(
        "/api/jobs/submit/hello",
        {"parameters": {"count": 2, "queue_tag": "traced"}},
        format="json",
        HTTP_TRACEPARENT=f"00-{trace_id}-00f067aa0ba902b7-01",
    )
    assert resp.status_code == 202, resp.content
    job = Job.objects.get(pk=resp.json()["job_id"])
    assert job.traceparent.startswith(f"00-{trace_id}-")
    assert run_inline(job.id).status == "completed"
    finished = spans.get_finished_spans()
    server = [s for s in finished if s.kind.name == "SERVER"]
    tasks = [s for s in finished if s.name.startswith("task hello/")]
    assert server and server[0].name == "HTTP POST /api/jobs/submit/<str:job_type>"
    assert int(str((server[0].attributes or {})["geoplatform.db.statements"])) > 0
    assert len(tasks) == 4  # greet, 2 x square, sum
    assert all(format(s.context.trace_id, "032x") == trace_id for s in [*server, *tasks])


@pytest.mark.django_db
def test_verbose_submit_reports_every_check_and_keeps_it(auth_client: Any) -> None:
    resp = auth_client.post(
        "/api/jobs/submit/hello", {"parameters": {"count": 1, "queue_tag": "verbose"}, "verbose": True}, format="json"
    )
    assert resp.status_code == 202, resp.content
    report = resp.json()["preflight"]
    assert report[0]["name"] == "parameters" and report[0]["ok"] is True
    assert set(report[0]) == {"name", "ok", "level", "took_ms", "saw", "problems"}
    status = auth_client.get(f"/api/jobs/status/{resp.json()['job_id']}").json()
    assert status["preflight"] == report
    quiet = auth_client.post(
        "/api/jobs/submit/hello", {"parameters": {"count": 1, "queue_tag": "quiet"}}, format="json"
    )
    assert "preflight" not in quiet.json()


@pytest.mark.django_db
def test_registered_checks_run_report_what_they_saw_and_refuse(auth_client: Any) -> None:
    from ingest import preflight, registry

    def looks_at_count(params: dict[str, Any]) -> list[str]:
        preflight.saw(count=params["count"])
        return ["count 13 is unlucky"] if params["count"] == 13 else []

    def advisory(params: dict[str, Any]) -> list[str]:
        return ["just so you know"]

    registry.register_check("hello", looks_at_count)
    registry.register_check("hello", advisory, level="warning")
    try:
        ok = auth_client.post(
            "/api/jobs/submit/hello", {"parameters": {"count": 2, "queue_tag": "chk"}, "verbose": True}, format="json"
        )
        assert ok.status_code == 202, ok.content
        by_name = {c["name"]: c for c in ok.json()["preflight"]}
        assert by_name["looks_at_count"] == {**by_name["looks_at_count"], "ok": True, "saw": {"count": 2}}
        assert by_name["advisory"]["ok"] is False and by_name["advisory"]["level"] == "warning"
        refused = auth_client.post("/api/jobs/submit/hello", {"parameters": {"count": 13}}, format="json")
        assert refused.status_code == 400
        body = refused.json()
        assert body["code"] == "preflight_failed" and body["details"]["problems"] == ["count 13 is unlucky"]
        failed = {c["name"]: c for c in body["details"]["preflight"]}["looks_at_count"]
        assert failed["ok"] is False and failed["saw"] == {"count": 13} and failed["took_ms"] >= 0
    finally:
        registry._checks.pop("hello", None)


@pytest.mark.django_db
def test_invalid_parameters_carry_the_report(auth_client: Any) -> None:
    resp = auth_client.post("/api/jobs/submit/hello", {"parameters": {"count": -1}, "verbose": True}, format="json")
    assert resp.status_code == 400
    [check] = resp.json()["details"]["preflight"]
    assert check["name"] == "parameters" and check["ok"] is False and check["problems"]


def _broken(client: APIClient) -> Any:
    """A 404 from a job route: an error body, with the SQL that looked for the job."""
    return client.get("/api/jobs/status/" + "f" * 64).json()


@pytest.mark.django_db
def test_debug_mode_shows_internals_to_operators_only(
    api_client: Any, plain_user_client: Any, staff_client: Any, settings: Any
) -> None:
    assert "debug" not in _broken(staff_client)  # off by default
    settings.GEOPLATFORM_DEBUG_MODE = True
    assert "debug" not in _broken(plain_user_client)
    assert "debug" not in api_client.post("/api/jobs/submit/hello", {}, format="json").json()  # anonymous: 401
    debug = _broken(_user_client(["view_debug"], "debugger"))["debug"]
    assert "NotFound" in debug["exception"]
    assert debug["stack"] and any("ingest" in line for line in debug["stack"])
    assert any("ingest_job" in q["sql"] for q in debug["sql"])
    assert debug["context"]["request_id"]
    assert debug["tasks"] == []
    assert "debug" in _broken(staff_client)


def test_production_settings_refuse_debug_mode() -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
        "GEOPLATFORM_DEBUG_MODE": "true",
        "GEOPLATFORM_SECRET_KEY": "x" * 50,
        "GEOPLATFORM_DATABASE_URL": "postgresql://nobody@127.0.0.1:5432/none",
    }
    code = "import django; django.setup()"
    refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "GEOPLATFORM_ALLOW_DEBUG_MODE" in refused.stderr
    allowed = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "GEOPLATFORM_ALLOW_DEBUG_MODE": "true"},
        capture_output=True,
        text=True,
    )
    assert allowed.returncode == 0, allowed.stderr


def test_text_log_lines_end_with_the_ids() -> None:
    import logging

    from geoplatform.logging import ContextFilter, TextFormatter, log_context

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    with log_context(request_id="r1", job_id="j1"):
        ContextFilter().filter(record)
    assert TextFormatter().format(record).endswith("hello [r1 j1 -]")
