"""Every change to a release: submit, approve, reject, revoke, unpublish. The state machine.

    pending_review -> approved (ouo | public) | rejected;   approved -> revoked

The API, the admin, management commands and tests all call these functions. Each
transition locks the release row (``SELECT ... FOR UPDATE``), so of two concurrent
approvals exactly one wins and the other sees the new state (409).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from geoplatform.errors import ApplicationError, InvalidInput
from ingest import preflight
from ingest.models import Job
from ingest.services import job_submit

from . import kinds
from .audit import actor_name as _actor
from .audit import audit_record
from .errors import (
    InvalidTransition,
    PublicationFailed,
    ReleaseExistsError,
    ReleaseNotFound,
    ReviewForbidden,
    VersionConflict,
)
from .models import (
    ApprovalState,
    Asset,
    ClearanceState,
    Platform,
    ProcessingStatus,
    Release,
    ReleaseAudit,
    asset_id_for,
    request_id_for,
)
from .signals import PLATFORM_CLIENT_GROUP
from .webhooks import webhook_schedule

logger = logging.getLogger(__name__)

User = AbstractBaseUser


# --- submit --------------------------------------------------------------------------------


@dataclass
class SubmitResult:
    dry_run: bool
    request_id: str
    asset_id: str
    data_type: str
    job_type: str
    release: Release | None = None
    job: Job | None = None
    warnings: list[str] = field(default_factory=list)
    # Every pre-flight check that ran (ingest/preflight.py): answered with ?verbose=true.
    preflight: list[dict[str, Any]] = field(default_factory=list)


def _monitor_url(request_id: str) -> str:
    return f"/api/platform/status/{request_id}"


def _plan(
    *, latest: Release | None, version_id: str, overwrite: bool, previous_version_id: str, asset_releases: Any
) -> tuple[str, Release | None]:
    """The decision matrix: ('create', None) | ('new_version', latest) | ('overwrite', latest)."""
    if previous_version_id:
        approved = asset_releases.filter(approval_state=ApprovalState.APPROVED).order_by("-version_ordinal").first()
        current = approved.version_id if approved is not None else None
        if current != previous_version_id:
            raise VersionConflict(
                f"previous_version_id {previous_version_id!r} is not the latest approved version "
                f"({current or 'none approved'}).",
                remediation="Send the version_id of the latest approved release, or omit previous_version_id.",
            )
    if latest is None:
        return "create", None
    processing = latest.processing_status in {ProcessingStatus.PENDING, ProcessingStatus.PROCESSING}
    is_new_version = bool(version_id) and version_id not in {latest.suggested_version_id, latest.version_id or ""}
    if is_new_version:
        settled = latest.approval_state != ApprovalState.PENDING_REVIEW or (
            latest.processing_status == ProcessingStatus.FAILED
        )
        if settled:
            return "new_version", latest
        raise ReleaseExistsError(
            f"Release {latest.version_ordinal} of this asset is still in progress ({latest.approval_state}, "
            f"{latest.processing_status}); a new version can follow once it is approved, rejected or revoked.",
            details={"existing_release": _existing(latest)},
            remediation="Wait for review, or overwrite the current release instead.",
        )
    if overwrite:
        if latest.approval_state == ApprovalState.APPROVED:
            raise ReleaseExistsError(
                "The current release is approved and cannot be overwritten: revoke first.",
                details={"existing_release": _existing(latest)},
                remediation="Revoke it (POST /api/platform/revoke) or submit a new version_id.",
            )
        if processing:
            raise ReleaseExistsError(
                "The current release is still processing; overwrite once it has finished.",
                details={"existing_release": _existing(latest)},
                remediation=f"Poll {_monitor_url(latest.request_id)} and retry.",
            )
        return "overwrite", latest
    raise ReleaseExistsError(
        "A release of this asset already exists.",
        details={"existing_release": _existing(latest)},
        remediation="Set processing_options.overwrite=true to replace it, or give a new version_id.",
    )


def _existing(release: Release) -> dict[str, Any]:
    return {
        "release_id": release.id,
        "approval_state": release.approval_state,
        "processing_status": release.processing_status,
        "version_id": release.version_id or release.suggested_version_id or None,
        "version_ordinal": release.version_ordinal,
        "monitor_url": _monitor_url(release.request_id),
    }


def release_submit(
    *, data: dict[str, Any], user: Any = None, dry_run: bool = False, platform_code: str = "ddh"
) -> SubmitResult:
    """Validate a DDH submission and (unless ``dry_run``) create/overwrite its release and start the job.

    A dry run writes nothing. A live run writes the asset, the release, its audit row and
    the job in one transaction: a refused job leaves nothing behind.
    """
    kind = kinds.detect(file_name=data.get("file_name"), source_url=data.get("source_url"), fields=data)
    data_type = kind.data_type
    job_type_name = kind.process_job_type
    jt = kinds.job_type_get(kind, job_type_name)
    options = kinds.options_clean(kind, jt, data.get("processing_options"))
    dataset_id, resource_id = data["dataset_id"], data["resource_id"]
    version_id = data.get("version_id") or ""
    asset_id = asset_id_for(dataset_id, resource_id)
    request_id = request_id_for(dataset_id, resource_id, version_id or None)
    # Ids are not known yet: the kind's checks see the request and its options only.
    kind.check(kinds.Submission(data=data, options=options, ordinal=0, release_meta={}))
    warnings: list[str] = []
    if not version_id:
        warnings.append("No version_id given: the approver assigns one (default v{ordinal}).")

    with transaction.atomic():
        platform = Platform.objects.filter(code=platform_code, active=True).first()
        if platform is None:
            raise InvalidInput(f"Unknown or inactive platform {platform_code!r}.")
        asset = Asset.objects.select_for_update().filter(pk=asset_id).first()  # serialises submits per asset
        releases = Release.objects.filter(asset_id=asset_id).select_related("job")
        latest = releases.order_by("-version_ordinal").first()
        action, target = _plan(
            latest=latest,
            version_id=version_id,
            overwrite=bool(options.get("overwrite")),
            previous_version_id=data.get("previous_version_id") or "",
            asset_releases=releases,
        )
        ordinal = (
            target.version_ordinal
            if action == "overwrite" and target
            else ((latest.version_ordinal + 1) if latest else 1)
        )
        release_id = target.id if action == "overwrite" and target else uuid.uuid4().hex
        meta = {
            "dataset_id": dataset_id,
            "resource_id": resource_id,
            "asset_id": asset_id,
            "release_id": release_id,
            "version_ordinal": ordinal,
            "tags": data.get("tags") or [],
            "access_level": data.get("access_level", "OUO"),
        }
        params, where = kind.job_parameters(
            kinds.Submission(data=data, options=options, ordinal=ordinal, release_meta=meta)
        )
        if dry_run:
            cleaned = jt.clean_params(params)
            report, problems = preflight.run(jt, cleaned)
            if problems:
                raise InvalidInput(
                    "Pre-flight checks failed.",
                    code="preflight_failed",
                    details={"problems": problems, "preflight": report},
                )
            transaction.set_rollback(True)  # belt and braces: a dry run writes nothing
            return SubmitResult(
                True, request_id, asset_id, data_type, job_type_name, warnings=warnings, preflight=report
            )

        if asset is None:
            try:
                with transaction.atomic():
                    asset = Asset.objects.create(
                        id=asset_id, platform=platform, dataset_id=dataset_id, resource_id=resource_id
                    )
            except IntegrityError:  # a concurrent first submit of the same asset won
                raise ReleaseExistsError(
                    "Another submission of this asset is being created right now.",
                    remediation=f"Poll {_monitor_url(request_id)} or submit again in a moment.",
                ) from None
        if action == "overwrite" and target is not None:
            release = Release.objects.select_for_update().get(pk=target.pk)
            release.revision += 1
            release.approval_state = ApprovalState.PENDING_REVIEW
            release.clearance_state = ClearanceState.UNCLEARED
            release.version_id = None
            release.reviewer = ""
            release.reviewed_by = None
            release.reviewed_at = None
            release.review_notes = ""
            release.unpublish_job = None
            release.external = {}
        else:
            release = Release(id=release_id, asset=asset, version_ordinal=ordinal)
        release.suggested_version_id = version_id
        release.request_id = request_id
        release.data_type = data_type
        release.job_type = job_type_name
        release.job_parameters = params
        release.request = {k: v for k, v in data.items() if k != "callback_url"}
        release.title = data.get("title") or ""
        release.description = data.get("description") or ""
        release.tags = data.get("tags") or []
        release.access_level = data.get("access_level", "OUO")
        release.table_name = where.get("table_name", "")
        release.stac_collection_id = where.get("stac_collection_id", "")
        release.stac_item_id = where.get("stac_item_id", "")
        release.submitted_by = user if user is not None and user.is_authenticated else None
        release.callback_url = data.get("callback_url") or ""
        outcome = job_submit(
            job_type=job_type_name,
            parameters=params,
            user=user,
            callback_url=data.get("callback_url") or "",
            force=action == "overwrite",
        )
        release.job = outcome.job
        try:
            with transaction.atomic():
                release.save()
        except IntegrityError:  # a concurrent submit took this ordinal
            raise ReleaseExistsError(
                "Another submission of this asset took this version ordinal.",
                remediation=f"Poll {_monitor_url(request_id)} or submit again in a moment.",
            ) from None
        audit_record(
            release=release,
            event="resubmitted" if action == "overwrite" else "submitted",
            user=user,
            reason=f"{action}; job {outcome.job.id} ({outcome.outcome})",
        )
    return SubmitResult(
        False,
        request_id,
        asset_id,
        data_type,
        job_type_name,
        release=release,
        job=outcome.job,
        warnings=warnings,
        preflight=outcome.preflight or list(outcome.job.preflight or []),
    )


# --- review --------------------------------------------------------------------------------


def self_approval_allowed() -> bool:
    return bool(settings.GEOPLATFORM_ALLOW_SELF_APPROVAL)


def review_allowed(*, user: Any, release: Release) -> bool:
    """Reviewers need ``review_release`` and the platform's ``review_platform`` (global or per object)."""
    if user is None or not user.is_authenticated:
        return False
    if not user.has_perm("publishing.review_release"):
        return False
    platform = release.asset.platform
    return bool(user.has_perm("publishing.review_platform") or user.has_perm("publishing.review_platform", platform))


def _is_platform_client(user: Any) -> bool:
    return bool(user.groups.filter(name=PLATFORM_CLIENT_GROUP).exists())


def _review_check(*, user: Any, release: Release, approving: bool) -> None:
    if user is None:  # management commands and system jobs act as the platform itself
        return
    if not review_allowed(user=user, release=release):
        raise ReviewForbidden(
            f"You may not review releases of platform {release.asset.platform.code!r}.",
            remediation="Ask an administrator for the Reviewer group and this platform's review permission.",
        )
    # Four eyes: nobody approves what they submitted. A platform client's service account
    # records its own organisation's reviewers' decisions (named in `reviewer`), so the rule
    # applies to people acting here, not to the B2B account.
    if (
        approving
        and release.submitted_by_id is not None
        and release.submitted_by_id == user.pk
        and not _is_platform_client(user)
        and not self_approval_allowed()
    ):
        raise ReviewForbidden(
            "You submitted this release; another reviewer must approve it (four-eyes rule).",
            code="four_eyes",
            remediation="Ask another reviewer, or set GEOPLATFORM_ALLOW_SELF_APPROVAL=true where that is acceptable.",
        )


def _locked(release_id: str) -> Release:
    release = (
        Release.objects.select_for_update(of=("self",))
        .select_related("asset__platform", "job")
        .filter(pk=release_id)
        .first()
    )
    if release is None:
        raise ReleaseNotFound(f"No release {release_id!r}.")
    return release


def _outputs_publish(release: Release) -> None:
    """Make the release's outputs public, as its kind does (a vector collection is shown, a
    raster's STAC item registered). Runs inside the approval transaction: if it raises,
    the approval rolls back."""
    try:
        kinds.kind_of(release).publish(release)
    except PublicationFailed:
        raise
    except ApplicationError as exc:
        raise PublicationFailed(f"Publishing the outputs failed: {exc.message}; approval rolled back.") from exc
    except Exception as exc:
        logger.exception("publishing the outputs of release %s failed", release.id)
        raise PublicationFailed(f"Publishing the outputs failed ({type(exc).__name__}); approval rolled back.") from exc


def _outputs_withdraw(release: Release) -> None:
    """Hide what approval made public (idempotent: a table already dropped is fine)."""
    try:
        kinds.kind_of(release).withdraw(release)
    except ApplicationError as exc:
        raise PublicationFailed(f"Withdrawing the outputs failed: {exc.message}.") from exc


def release_approve(
    *,
    release_id: str,
    user: Any,
    reviewer: str = "",
    clearance_state: str,
    version_id: str = "",
    notes: str = "",
    dry_run: bool = False,
) -> Release:
    if clearance_state not in {ClearanceState.OUO, ClearanceState.PUBLIC}:
        raise InvalidInput("clearance_state must be 'ouo' or 'public'.")
    with transaction.atomic():
        release = _locked(release_id)
        _review_check(user=user, release=release, approving=True)
        if release.approval_state != ApprovalState.PENDING_REVIEW:
            raise InvalidTransition(
                f"Release {release.id} is {release.approval_state}; only a release pending review can be approved."
            )
        if release.processing_status != ProcessingStatus.COMPLETED:
            raise InvalidTransition(
                f"Release {release.id} is {release.processing_status}; only a completed release can be approved.",
                remediation=f"Wait for processing to complete: {_monitor_url(release.request_id)}.",
            )
        version = version_id or f"v{release.version_ordinal}"
        taken = Release.objects.filter(
            asset_id=release.asset_id, version_id=version, approval_state=ApprovalState.APPROVED
        ).exclude(pk=release.pk)
        if taken.exists():
            raise VersionConflict(
                f"Version {version!r} is already approved for this asset.",
                remediation="Choose another version_id.",
            )
        if dry_run:
            return release
        release.approval_state = ApprovalState.APPROVED
        release.clearance_state = clearance_state
        release.version_id = version
        release.reviewer = reviewer or _actor(user)
        release.reviewed_by = user if user is not None and user.is_authenticated else None
        release.reviewed_at = timezone.now()
        release.review_notes = notes
        try:
            with transaction.atomic():
                release.save()
        except IntegrityError as exc:  # a concurrent approval of another release took the version
            raise VersionConflict(f"Version {version!r} is already approved for this asset.") from exc
        audit_record(release=release, event="approved", user=user, actor=_actor(user, reviewer), reason=notes)
        _outputs_publish(release)  # if it raises, the whole approval rolls back
        if clearance_state == ClearanceState.PUBLIC:
            _externalize_start(release, action="copy", user=user)
        _after_commit_review_hooks(release, "release.approved")
    return release


def release_reject(*, release_id: str, user: Any, reviewer: str = "", reason: str) -> Release:
    if not reason.strip():
        raise InvalidInput("A reason is required to reject a release.")
    with transaction.atomic():
        release = _locked(release_id)
        _review_check(user=user, release=release, approving=False)
        if release.approval_state != ApprovalState.PENDING_REVIEW:
            raise InvalidTransition(
                f"Release {release.id} is {release.approval_state}; only a release pending review can be rejected."
            )
        release.approval_state = ApprovalState.REJECTED
        release.reviewer = reviewer or _actor(user)
        release.reviewed_by = user if user is not None and user.is_authenticated else None
        release.reviewed_at = timezone.now()
        release.review_notes = reason
        release.save()
        audit_record(release=release, event="rejected", user=user, actor=_actor(user, reviewer), reason=reason)
        _after_commit_review_hooks(release, "release.rejected")
    return release


def release_revoke(*, release_id: str, user: Any, reviewer: str = "", reason: str, event: str = "revoked") -> Release:
    if not reason.strip():
        raise InvalidInput("A reason is required to revoke a release.")
    with transaction.atomic():
        release = _locked(release_id)
        _review_check(user=user, release=release, approving=False)
        if release.approval_state != ApprovalState.APPROVED:
            raise InvalidTransition(
                f"Release {release.id} is {release.approval_state}; only an approved release can be revoked."
            )
        release.approval_state = ApprovalState.REVOKED
        release.reviewer = reviewer or _actor(user)
        release.reviewed_at = timezone.now()
        release.review_notes = reason
        release.save()
        audit_record(release=release, event=event, user=user, actor=_actor(user, reviewer), reason=reason)
        _outputs_withdraw(release)
        if release.external:
            _externalize_start(release, action="remove", user=user)
        _after_commit_review_hooks(release, "release.revoked")
    return release


def _after_commit_review_hooks(release: Release, event: str) -> None:
    """Signed webhook to the submitter's callback_url, once the transition committed."""
    if release.callback_url:
        release_id = release.id
        transaction.on_commit(lambda: webhook_schedule(release_id=release_id, event=event))


# --- external zone -------------------------------------------------------------------------


def _on_behalf_of(release: Release, user: Any) -> Any:
    """Whose job a release's follow-up job is: the client that submitted the release (DDH's
    account sees it among its jobs), whoever triggered it (a reviewer in the admin)."""
    return release.submitted_by if release.submitted_by_id is not None else user


def _externalize_start(release: Release, *, action: str, user: Any) -> None:
    """Start (or find) the job copying a public release to the external zone, or removing the copies."""
    outcome = job_submit(
        job_type="externalize_release",
        parameters={"release_id": release.id, "revision": release.revision, "action": action},
        user=_on_behalf_of(release, user),
    )
    release.external = {**(release.external or {}), "status": f"{action}_pending", "job_id": outcome.job.id}
    release.save(update_fields=["external", "updated_at"])


def external_audit(*, release_id: str, event: str, detail: dict[str, Any]) -> None:
    """Record one copy/removal in the audit log (once, even when its task is retried)."""
    reason = ", ".join(f"{k}={detail[k]}" for k in ("blob", "size", "sha256", "removed") if k in detail)
    release = Release.objects.select_related("job").get(pk=release_id)
    if not ReleaseAudit.objects.filter(release=release, event=event, reason=reason).exists():
        audit_record(release=release, event=event, actor="externalize_release", reason=reason)


def release_external_record(*, release_id: str, action: str, job_id: str, results: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release_id)
        if action == "copy":
            copies = [{k: r[k] for k in ("blob", "size", "sha256", "url")} for r in results]
            release.external = {"status": "copied", "job_id": job_id, "copies": copies}
        else:
            release.external = {"status": "removed", "job_id": job_id, "copies": []}
        release.save(update_fields=["external", "updated_at"])


# --- unpublish -----------------------------------------------------------------------------


@dataclass
class UnpublishResult:
    dry_run: bool
    release: Release
    would_delete: dict[str, Any]
    job: Job | None = None
    created: bool = False


def _would_delete(release: Release) -> dict[str, Any]:
    """What a live unpublish removes, from the one listing of the release's kind."""
    kind = kinds.kind_of(release)
    return {**kind.artifacts(release).as_dict(), "job_type": kind.unpublish_job_type}


def release_unpublish(
    *, release_id: str, user: Any, dry_run: bool = True, force_approved: bool = False, reason: str = ""
) -> UnpublishResult:
    """Delete what a release produced (through its app's unpublish job) and revoke it."""
    with transaction.atomic():
        release = _locked(release_id)
        would = _would_delete(release)
        previous = release.unpublish_job
        if previous is not None and (dry_run or previous.status not in {"failed", "cancelled"}):
            return UnpublishResult(dry_run, release, would, job=previous, created=False)  # idempotent repeat
        if release.approval_state == ApprovalState.APPROVED and not force_approved:
            raise InvalidTransition(
                "This release is approved (public or OUO): unpublishing needs force_approved=true.",
                remediation="Send force_approved=true if you really mean to take it down.",
            )
        kind = kinds.kind_of(release)
        name = kind.unpublish_job_type
        jt = kinds.job_type_get(kind, name)
        params = kind.unpublish_parameters(release)
        if dry_run:
            jt.clean_params(params)
            return UnpublishResult(True, release, would)
        outcome = job_submit(job_type=name, parameters=params, user=_on_behalf_of(release, user), force=True)
        was_approved = release.approval_state == ApprovalState.APPROVED
        release.unpublish_job = outcome.job
        release.approval_state = ApprovalState.REVOKED
        release.reviewed_at = timezone.now()
        release.review_notes = reason or "unpublished"
        release.save()
        audit_record(release=release, event="unpublished", user=user, reason=reason or f"job {outcome.job.id}")
        if was_approved:
            _outputs_withdraw(release)
            _after_commit_review_hooks(release, "release.revoked")
        if would["external_blobs"]:  # copies a revoke has not removed (yet): the dry run listed them
            _externalize_start(release, action="remove", user=user)
    return UnpublishResult(False, release, would, job=outcome.job, created=True)
