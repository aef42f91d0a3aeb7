"""Job state lives here; only :mod:`ingest.services` changes it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Job(models.Model):
    """One run of a job type. The id is SHA-256 of the type and canonical parameters."""

    id = models.CharField(primary_key=True, max_length=64)
    job_type = models.CharField(max_length=100, db_index=True)
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    stage_index = models.IntegerField(default=0, help_text="Index of the current (or last) stage.")
    stage_count = models.IntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    error_history = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    runs = models.IntegerField(default=1, help_text="How many times the job was (re)started.")
    # The first submitter's; every client's own is on its JobSubscriber row.
    callback_url = models.URLField(max_length=2000, blank=True, default="")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The X-Request-Id and W3C traceparent of the request that (re)started the job: its tasks,
    # callbacks and log lines carry them (geoplatform/tracing.py).
    request_id = models.CharField(max_length=128, blank=True, default="", db_default="")
    traceparent = models.CharField(max_length=128, blank=True, default="", db_default="")
    # The verbose pre-flight report of the submission that created it (every check that ran).
    preflight = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The retention purge's scan: finished jobs by age (queued/running never match).
            models.Index(
                fields=["finished_at"],
                name="job_finished_retention_idx",
                condition=models.Q(status__in=["completed", "failed", "cancelled"]),
            ),
        ]
        permissions = [
            ("submit_job", "Can submit jobs"),
            ("operate_job", "Can retry and cancel jobs"),
            ("upload_file", "Can upload files to bronze storage"),
            # Through /api/jobs: replace or delete outputs a submit guard protects (e.g. an
            # approved release's data) without going through /api/platform/*.
            ("override_submit_guards", "Can submit jobs that replace or delete protected outputs"),
            ("view_all_jobs", "Can see every client's jobs (others see their own)"),
            # Through /api/jobs: make data public at once (e.g. process_vector with
            # publish=true) instead of through a reviewed release (/api/platform/submit).
            ("publish_without_review", "Can submit jobs that make data public without a review"),
        ]

    def __str__(self) -> str:
        return f"{self.job_type} {self.id[:12]} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}


class JobSubscriber(models.Model):
    """A client of a job: the one that submitted it, or one that submitted the same job
    (same type and parameters, hence the same id) later and joined it. Each may read the
    job, and each gets its own callback, signed with its own webhook secret."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="subscribers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    callback_url = models.URLField(max_length=2000, blank=True, default="")
    joined = models.BooleanField(default=False, help_text="Joined a job that another client had started.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "user"], name="job_subscriber_unique")]

    def __str__(self) -> str:
        return f"{self.user} on {self.job_id[:12]}"


class Stage(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="stages")
    index = models.IntegerField()
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    tasks_total = models.IntegerField(default=0)
    # Decremented in the same transaction as a task's completion: the task that takes it
    # to zero is the one (and only one) that advances the job.
    tasks_remaining = models.IntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="stage_unique_index")]

    def __str__(self) -> str:
        return f"{self.job_id[:12]}#{self.index} {self.name}"


class Task(models.Model):
    """One unit of work; its id is deterministic from job, stage and logical unit."""

    id = models.CharField(primary_key=True, max_length=64)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="tasks")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="tasks")
    unit = models.IntegerField(help_text="Position of the task in its stage.")
    params = models.JSONField(default=dict)
    queue = models.CharField(max_length=32, default="default")
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.QUEUED)
    attempts = models.IntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When its message was (re)sent, or is due for a delayed retry: the janitor re-sends
    # messages that no worker took for a long time (lost with a dead worker's prefetch).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["stage__index", "unit"]
        # Only the primary key and the foreign keys are indexed: claim, heartbeat and
        # completion then change no indexed column, so PostgreSQL updates the row in place
        # (HOT, see the fillfactor in migration 0003). Queries by status go through the
        # job (few are queued or running at a time).

    def __str__(self) -> str:
        return f"task {self.id[:12]} ({self.status})"


class JobEvent(models.Model):
    """Checkpoints and history of a job: stage changes, retries, failures, callbacks."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=50)
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"


class ApiClient(models.Model):
    """A service account's client settings: the secret that signs its callbacks."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_client")
    webhook_secret = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"client {self.user}"


class CallbackDelivery(models.Model):
    """One attempt to POST a job event to a client's callback URL."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="callback_deliveries")
    subscriber = models.ForeignKey(
        JobSubscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    event = models.CharField(max_length=50)
    url = models.URLField(max_length=2000)
    attempt = models.IntegerField()
    delivery_id = models.CharField(max_length=64, db_index=True)
    status_code = models.IntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.event} -> {self.url} #{self.attempt} ({'ok' if self.ok else 'failed'})"


class WorkerHeartbeat(models.Model):
    """A live worker process, refreshed by a Dramatiq middleware thread."""

    worker_id = models.CharField(primary_key=True, max_length=200)
    hostname = models.CharField(max_length=200)
    pid = models.IntegerField()
    queues = models.JSONField(default=list)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    # The pool it serves (scripts/pool.sh) and its memory: resident now and at its peak, tasks
    # run, and the ceilings that make it leave (0: none); see ingest/workers.py.
    pool = models.CharField(max_length=50, default="main")
    rss_bytes = models.BigIntegerField(default=0)
    peak_rss_bytes = models.BigIntegerField(default=0)
    tasks_done = models.IntegerField(default=0)
    max_rss_mb = models.IntegerField(default=0)
    max_tasks = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.worker_id
