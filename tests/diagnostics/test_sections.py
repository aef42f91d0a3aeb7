"""Jobs, workers, queues, catalog and deliveries sections against the live stack."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import uuid
from typing import Any

import dramatiq
import pika
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from catalog import pgstac
from features.models import VectorDataset
from ingest.diagnostics import rabbitmq_queues
from ingest.models import CallbackDelivery, Job, JobStatus, Stage, Task, TaskStatus

pytestmark = pytest.mark.django_db


def _job(status: str, *, job_type: str = "hello", ago: float = 0, **fields: Any) -> Job:
    job = Job.objects.create(id=uuid.uuid4().hex, job_type=job_type, status=status, stage_count=1, **fields)
    if ago:
        Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(seconds=ago))
    return job


def _stage(job: Job, *, status: str, started_ago: float, finished_ago: float | None = None) -> Stage:
    now = timezone.now()
    return Stage.objects.create(
        job=job,
        index=0,
        name="work",
        status=status,
        tasks_total=2,
        tasks_remaining=1,
        started_at=now - dt.timedelta(seconds=started_ago),
        finished_at=None if finished_ago is None else now - dt.timedelta(seconds=finished_ago),
    )


def test_jobs_counts_stuck_failures_retries_and_slowest_stages(viewer_client: Any) -> None:
    running = _job(JobStatus.RUNNING)
    _stage(running, status=JobStatus.RUNNING, started_ago=7200)
    error = {"code": "bad_crs", "message": "no CRS", "category": "data", "user_fixable": True}
    failed = _job(JobStatus.FAILED, error=error, finished_at=timezone.now(), runs=2)
    stage = _stage(failed, status=JobStatus.FAILED, started_ago=300, finished_ago=0)
    Task.objects.create(id=uuid.uuid4().hex, job=failed, stage=stage, unit=0, status=TaskStatus.FAILED, attempts=4)
    done = _job(JobStatus.COMPLETED, job_type="other", finished_at=timezone.now())
    _stage(done, status=JobStatus.COMPLETED, started_ago=20, finished_ago=10)
    _job(JobStatus.COMPLETED, ago=3 * 86400)  # outside the window

    body = viewer_client.get("/api/diagnostics/jobs/?window_hours=24&stuck_minutes=60").json()
    jobs = body["sources"]["ingest"]
    assert jobs["status"] == "ok", jobs
    assert jobs["counts"] == {"hello": {"running": 1, "failed": 1}, "other": {"completed": 1}}
    assert [s["job_id"] for s in jobs["stuck"]] == [running.id] and jobs["stuck"][0]["seconds_in_stage"] >= 7200
    assert jobs["failures"][0]["job_id"] == failed.id and jobs["failures"][0]["error"]["code"] == "bad_crs"
    assert jobs["retries"]["tasks_retried"] == 1 and jobs["retries"]["extra_attempts"] == 3
    assert jobs["retries"]["jobs_rerun"] == 1
    slowest = jobs["slowest_stages"][0]
    assert (slowest["job_type"], slowest["stage"]) == ("hello", "work") and 299 < slowest["max_seconds"] < 302


@pytest.mark.broker
def test_workers_show_queues_heartbeat_current_task_and_memory(viewer_client: Any, live_worker: Any) -> None:
    from ingest.selectors import workers_live

    worker_id = workers_live().first().worker_id
    job = _job(JobStatus.RUNNING)
    stage = _stage(job, status=JobStatus.RUNNING, started_ago=5)
    Task.objects.create(
        id="t-current",
        job=job,
        stage=stage,
        unit=0,
        status=TaskStatus.RUNNING,
        worker=worker_id,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    body = viewer_client.get("/api/diagnostics/workers/").json()["sources"]["ingest"]
    assert body["status"] == "ok" and body["live"] >= 1
    assert "default" in body["per_queue"] and body["per_queue"]["default"]["workers"] >= 1
    mine = next(w for w in body["workers"] if w["worker_id"] == worker_id)
    assert 0 <= mine["heartbeat_age_seconds"] < 60
    assert mine["rss_bytes"] > 10 * 1024**2  # a Django + GDAL process (same host: read from /proc)
    assert mine["current_tasks"][0]["task_id"] == "t-current" and mine["current_tasks"][0]["stage"] == "work"
    assert body["total_rss_bytes"] >= mine["rss_bytes"]


def test_redis_queues_depth_age_and_dead_letters(viewer_client: Any) -> None:
    broker = dramatiq.get_broker()
    queue = f"diag{secrets.token_hex(3)}"
    broker.declare_queue(queue)
    try:
        old = dramatiq.Message(queue_name=queue, actor_name="x", args=(), kwargs={}, options={})
        old = old.copy(message_timestamp=int(time.time() * 1000) - 90_000)
        broker.enqueue(old)
        broker.enqueue(dramatiq.Message(queue_name=queue, actor_name="x", args=(), kwargs={}, options={}))
        key = f"{broker.namespace}:{queue}.XQ"
        broker.client.zadd(key, {"dead-1": time.time()})
        body = viewer_client.get("/api/diagnostics/queues/").json()["sources"]["ingest"]
        assert body["status"] == "ok" and body["broker"] == "redis"
        found = body["queues"][queue]
        assert found["depth"] == 2 and found["dead_lettered"] == 1
        assert 89 < found["oldest_age_seconds"] < 200
        assert body["queues"]["default"]["depth"] >= 0
    finally:
        broker.flush(queue)
        broker.client.delete(f"{broker.namespace}:{queue}.XQ")
        broker.queues.pop(queue, None) if isinstance(broker.queues, dict) else broker.queues.discard(queue)


def test_rabbitmq_queues_depth_age_dead_letters_without_consuming() -> None:
    url = "amqp://guest:guest@127.0.0.1:5672/%2F"
    queue = f"diag-{secrets.token_hex(4)}"
    conn = pika.BlockingConnection(pika.URLParameters(url))
    channel = conn.channel()
    for name in (queue, f"{queue}.XQ"):
        channel.queue_declare(name, durable=False, auto_delete=False)
    stamp = int(time.time() * 1000) - 30_000
    for n in range(3):
        channel.basic_publish("", queue, json.dumps({"message_timestamp": stamp + n}).encode())
    channel.basic_publish("", f"{queue}.XQ", b"{}")
    time.sleep(0.2)
    try:
        found = rabbitmq_queues(url, [queue])[queue]
        assert found["depth"] == 3 and found["dead_lettered"] == 1 and found["delayed"] is None
        assert 29 < found["oldest_age_seconds"] < 120
        again = rabbitmq_queues(url, [queue])[queue]  # the peeked message went back
        assert again["depth"] == 3
    finally:
        channel.queue_delete(queue)
        channel.queue_delete(f"{queue}.XQ")
        conn.close()


def test_catalog_collections_searches_and_vector_disagreements(viewer_client: Any) -> None:
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": "diag-col",
        "description": "d",
        "license": "proprietary",
        "extent": {"spatial": {"bbox": [[0, 0, 1, 1]]}, "temporal": {"interval": [[None, None]]}},
        "links": [],
    }
    pgstac.collection_upsert(collection)
    pgstac.items_upsert(
        [
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "id": f"i{n}",
                "collection": "diag-col",
                "geometry": {"type": "Point", "coordinates": [0.5, 0.5]},
                "bbox": [0.5, 0.5, 0.5, 0.5],
                "properties": {"datetime": "2024-01-01T00:00:00Z"},
                "links": [],
                "assets": {},
            }
            for n in range(3)
        ]
    )
    pgstac.search_register({"collections": ["diag-col"]}, {"name": "diag"})
    with connection.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS geo")
        cur.execute("CREATE TABLE geo.diag_pts (id int PRIMARY KEY, geom geometry, name text, extra text)")
        cur.execute("INSERT INTO geo.diag_pts SELECT g, NULL, 'x', 'y' FROM generate_series(1, 5) g")
        cur.execute("CREATE TABLE geo.diag_orphan (id int)")
    VectorDataset.objects.create(
        collection_id="diag_pts",
        geometry_type="Point",
        feature_count=4,
        attributes=[{"name": "name"}, {"name": "gone"}],
    )
    VectorDataset.objects.create(collection_id="diag_missing", geometry_type="Point", feature_count=1)

    sources = viewer_client.get("/api/diagnostics/catalog/").json()["sources"]
    stac = sources["catalog"]
    assert stac["status"] == "ok", stac
    assert {"id": "diag-col", "items": 3} == {
        k: v for k, v in next(c for c in stac["collections"] if c["id"] == "diag-col").items() if k in ("id", "items")
    }
    assert stac["searches"]["total"] >= 1
    vector = sources["features"]
    assert vector["status"] == "ok", vector
    pts = next(t for t in vector["tables"] if t["table"] == "geo.diag_pts")
    assert pts["rows"] == 5 and pts["counted"] == "exact" and pts["bytes"] > 0
    problems = {(d.get("dataset"), d["problem"]) for d in vector["disagreements"]}
    assert {
        ("diag_pts", "feature_count"),
        ("diag_pts", "columns"),
        ("diag_missing", "missing_table"),
        (None, "no_metadata"),
    } <= problems
    columns = next(d for d in vector["disagreements"] if d["problem"] == "columns")["detail"]
    assert columns == {"in_metadata_not_table": ["gone"], "in_table_not_metadata": ["extra"]}


def test_deliveries_failing_and_retrying_callbacks(viewer_client: Any) -> None:
    job = _job(JobStatus.COMPLETED, finished_at=timezone.now())
    max_attempts = settings.GEOPLATFORM_CALLBACK_MAX_ATTEMPTS

    def attempt(delivery: str, n: int, ok: bool) -> None:
        CallbackDelivery.objects.create(
            job=job,
            event="completed",
            url="http://client.test/cb",
            attempt=n,
            delivery_id=delivery,
            status_code=200 if ok else 503,
            ok=ok,
            error="" if ok else "HTTP 503",
        )

    attempt("d-retrying", 1, False)
    for n in range(1, max_attempts + 1):
        attempt("d-failed", n, False)
    attempt("d-fine", 1, False)
    attempt("d-fine", 2, True)
    body = viewer_client.get("/api/diagnostics/deliveries/").json()["sources"]
    failing = {d["delivery_id"]: d for d in body["ingest"]["failing"]}
    assert set(failing) == {"d-retrying", "d-failed"}
    assert failing["d-retrying"]["state"] == "retrying" and failing["d-failed"]["state"] == "failed"
    assert failing["d-failed"]["error"] == "HTTP 503"
    assert body["publishing"]["status"] == "ok"


def test_deliveries_failing_review_webhooks_and_their_resend(viewer_client: Any, maintainer_client: Any) -> None:
    from publishing.models import Asset, Platform, Release
    from publishing.webhooks import webhook_deliver

    platform, _ = Platform.objects.get_or_create(code="diag", defaults={"name": "Diag"})
    asset = Asset.objects.create(id="diag-asset", platform=platform, dataset_id="ds", resource_id="res")
    release = Release.objects.create(
        id="diag-release",
        asset=asset,
        version_ordinal=1,
        request_id="diag-req",
        data_type="vector",
        job_type="process_vector",
        callback_url="http://not-allowed.test/hook",
    )
    # The real delivery path: the host is not allow-listed, so the attempt fails without any network.
    webhook_deliver(release_id=release.id, event="approved", attempt=1, delivery_id="wh-1")
    body = viewer_client.get("/api/diagnostics/deliveries/").json()["sources"]["publishing"]
    assert body["status"] == "ok" and body["attempts"] == 1
    (failing,) = body["failing"]
    assert failing["delivery_id"] == "wh-1" and failing["release_id"] == release.id and failing["state"] == "retrying"
    assert "GEOPLATFORM_CALLBACK_ALLOWED_HOSTS" in failing["error"]
    dry = maintainer_client.post(
        "/api/diagnostics/actions/resend_webhook/", {"release_id": release.id, "event": "approved"}, format="json"
    ).json()
    assert (
        dry["dry_run"] is True and dry["result"]["url"] == "http://not-allowed.test/hook" and not dry["result"]["sent"]
    )
