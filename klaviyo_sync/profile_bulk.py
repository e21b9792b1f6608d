"""Sending a backlog of profile changes (a POST /profiles/bulk, the sweeper) as Klaviyo's
profile-bulk-import-jobs: up to 10,000 profiles and 5 MB a job, 100 KB a profile (spec). Each
job is followed to its end by a task of its own (klaviyo_sync.tasks.follow_profile_import_job);
then the profiles Klaviyo's import errors name are failed with that error, the others sent.

A bulk import can't clear anything (no null attribute, no meta.patch_properties.unset in its
profiles), so a profile whose changes clear a field goes through profile-import, one by one
(profile_changes.profile_changes_sync), as do the profiles of a job Klaviyo refused whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from events.merge_patch import json_patches_combine
from events.models import Profile, ProfileChange, SyncStatus
from klaviyo_client import mapping, profiles
from klaviyo_client.client import KlaviyoClient, klaviyo_client
from klaviyo_client.errors import KlaviyoError
from klaviyo_client.jobs import JOB_BODY_END, JOB_BODY_START, JOB_ENDED
from klaviyo_client.limits import MAX_BULK_PROFILE_BYTES, MAX_BULK_PROFILES, MAX_BULK_PROFILES_BYTES
from klaviyo_sync.sending import PROFILE_FIELDS
from klaviyo_sync.services import NO_KEY_MESSAGE, retry_delay

# The envelope of a job around its profiles, as klaviyo_client.jobs builds it.
JOB_ENVELOPE_BYTES = len(JOB_BODY_START) + len(JOB_BODY_END)
SETTLE_CHUNK = 1000  # profiles whose sent changes one SELECT and one DELETE handle


@dataclass
class BulkPlan:
    """What the task does next: follow these jobs, sync these profiles one by one, retry these."""

    jobs: list[tuple[str, dict[int, int]]] = field(default_factory=list)  # id, profile -> change
    one_by_one: list[int] = field(default_factory=list)
    retry: list[tuple[list[int], float]] = field(default_factory=list)


def _claim(profile_ids: list[int], now: datetime) -> list[int]:
    hold = now + timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS)
    unique = list(dict.fromkeys(profile_ids))
    claimed = (
        Profile.objects.filter(id__in=unique)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(attempts=F("attempts") + 1, next_attempt_at=hold)
    )
    if claimed == len(unique):  # every one (the usual backlog): no need to ask which
        return unique
    return list(
        Profile.objects.filter(id__in=profile_ids, next_attempt_at=hold).values_list(
            "id", flat=True
        )
    )


def _release(profile_ids: list[int]) -> None:
    """Gives a claim back untried, for profile_changes_sync to take."""
    Profile.objects.filter(id__in=profile_ids).update(
        attempts=F("attempts") - 1, next_attempt_at=None
    )


def _clears(resource: dict[str, Any]) -> bool:
    def holds_null(value: dict[str, Any]) -> bool:
        return any(v is None or (isinstance(v, dict) and holds_null(v)) for v in value.values())

    return "meta" in resource or holds_null(resource["attributes"])


Item = tuple[int, bytes]  # profile id, its resource's JSON (encoded once: measured, then sent)


def _pack(items: list[Item]) -> list[list[Item]]:
    """Jobs of at most MAX_BULK_PROFILES profiles and MAX_BULK_PROFILES_BYTES of JSON."""
    jobs: list[list[Item]] = [[]]
    size = JOB_ENVELOPE_BYTES
    for item in items:
        if jobs[-1] and (
            len(jobs[-1]) >= MAX_BULK_PROFILES or size + len(item[1]) + 1 > MAX_BULK_PROFILES_BYTES
        ):
            jobs.append([])
            size = JOB_ENVELOPE_BYTES
        jobs[-1].append(item)
        size += len(item[1]) + 1
    return [job for job in jobs if job]


def profiles_changes_send_bulk(*, profile_ids: list[int]) -> BulkPlan:
    """Claims the profiles, sends their waiting changes in bulk import jobs, and says what is
    left to do."""
    plan = BulkPlan()
    client = klaviyo_client()
    if client is None:
        Profile.objects.filter(id__in=profile_ids, sync_status=SyncStatus.PENDING).update(
            sync_status=SyncStatus.SKIPPED, last_error=NO_KEY_MESSAGE
        )
        return plan
    claimed = _claim(profile_ids, timezone.now())
    rows = {
        row["id"]: row for row in Profile.objects.filter(id__in=claimed).values(*PROFILE_FIELDS)
    }
    changes: dict[int, dict[str, Any]] = {}
    last_change: dict[int, int] = {}
    waiting = ProfileChange.objects.filter(profile_id__in=claimed).order_by("id")
    for profile_id, change_id, patch in waiting.values_list("profile_id", "id", "attributes"):
        changes[profile_id] = json_patches_combine(changes.get(profile_id, {}), patch)
        last_change[profile_id] = change_id
    items: list[Item] = []
    for profile_id, combined in changes.items():
        try:
            resource = profiles.profile_resource(
                profile_row=rows[profile_id], changes=combined, in_event=False
            )
            body = mapping.dumps(resource)
        except mapping.NotSendable as problem:
            Profile.objects.filter(id=profile_id).update(
                sync_status=SyncStatus.FAILED,
                last_error=f"Not sent: {problem}",
                next_attempt_at=None,
            )
            continue
        if _clears(resource) or len(body) > MAX_BULK_PROFILE_BYTES:
            plan.one_by_one.append(profile_id)
        else:
            items.append((profile_id, body))
    by_one = set(plan.one_by_one)
    _release([pid for pid in claimed if pid not in changes or pid in by_one])
    for job in _pack(items):
        _job_send(client, job, last_change, plan)
    return plan


def _job_send(
    client: KlaviyoClient, job: list[Item], last_change: dict[int, int], plan: BulkPlan
) -> None:
    ids = [profile_id for profile_id, _ in job]
    try:
        answer = client.profile_bulk_import_job(profiles=[body for _, body in job])
    except KlaviyoError as error:
        if error.retryable:
            _retry(ids, error, plan)
        else:  # refused whole: profile-import pins the refusal on the profiles it is about
            _release(ids)
            plan.one_by_one += ids
        return
    plan.jobs.append((str(answer.get("id")), {pid: last_change[pid] for pid in ids}))


def _retry(profile_ids: list[int], error: KlaviyoError | str, plan: BulkPlan) -> None:
    summary = error.summary if isinstance(error, KlaviyoError) else error
    attempts = dict(Profile.objects.filter(id__in=profile_ids).values_list("id", "attempts"))
    worst = max(attempts.values(), default=1)
    if worst >= settings.KLAVIYO_MAX_ATTEMPTS:
        Profile.objects.filter(id__in=profile_ids).update(
            sync_status=SyncStatus.FAILED,
            last_error=f"{summary} (gave up after {worst} attempts)"[:5000],
            next_attempt_at=None,
        )
        return
    delay = retry_delay(
        attempt=worst, retry_after=error.retry_after if isinstance(error, KlaviyoError) else None
    )
    Profile.objects.filter(id__in=profile_ids).update(
        last_error=summary[:5000], next_attempt_at=timezone.now() + timedelta(seconds=delay)
    )
    plan.retry.append((profile_ids, delay))


def _identifiers(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (name, str(payload[name]))
        for name in ("email", "phone_number", "external_id")
        if payload.get(name)
    ]


def profile_import_job_settle(*, job_id: str, covered: dict[int, int]) -> str | None:
    """Once the job has ended: the profiles its import errors name failed with the error, the
    others sent (their changes up to the job's gone). Returns the job's status while it runs
    (None once settled)."""
    client = klaviyo_client()
    if client is None:
        return None
    job = client.profile_bulk_import_job_get(job_id=job_id)
    attributes = job.get("attributes") or {}
    status = attributes.get("status")
    if status not in JOB_ENDED:
        return status or "processing"
    ids = list(covered)
    if status == "cancelled":
        _release(ids)
        Profile.objects.filter(id__in=ids).update(
            last_error=f"Klaviyo cancelled import job {job_id}"
        )
        return None  # the sweeper sends them again
    # `failed_count`: "the total number of operations that have failed as part of the job"
    # (spec); at 0 there is no import error to read (a missing count is read all the same).
    failed = {} if attributes.get("failed_count") == 0 else _import_errors(client, job_id, ids)
    by_error: dict[str, list[int]] = {}
    for profile_id, text in failed.items():
        by_error.setdefault(text[:5000], []).append(profile_id)
    for text, profile_ids in by_error.items():
        Profile.objects.filter(id__in=profile_ids).update(
            sync_status=SyncStatus.FAILED, last_error=text, next_attempt_at=None
        )
    sent = [pid for pid in ids if pid not in failed]
    newer = _carried_changes_delete(sent, covered)
    Profile.objects.filter(id__in=[pid for pid in sent if pid not in newer]).update(
        sync_status=SyncStatus.SENT,
        synced_at=timezone.now(),
        last_error="",
        attempts=0,
        next_attempt_at=None,
    )
    Profile.objects.filter(id__in=[pid for pid in sent if pid in newer]).update(
        last_error="", attempts=0, next_attempt_at=None
    )
    return None


def _import_errors(client: KlaviyoClient, job_id: str, ids: list[int]) -> dict[int, str]:
    """The job's profiles its import errors name, each with the first error about it."""
    rows = Profile.objects.filter(id__in=ids).values("id", *PROFILE_FIELDS)
    by_identifier = {
        (name, str(row[column])): row["id"]
        for row in rows
        for name, column in (
            ("email", "email"),
            ("phone_number", "phone_number"),
            ("external_id", "external_id"),
        )
        if row[column]
    }
    failed: dict[int, str] = {}
    for error in client.profile_bulk_import_errors(job_id=job_id):
        for key in _identifiers(error.get("original_payload") or {}):
            if key in by_identifier:
                failed.setdefault(
                    by_identifier[key],
                    f"Klaviyo import error: {error.get('detail') or error.get('title')}",
                )
                break
    return failed


def _carried_changes_delete(sent: list[int], covered: dict[int, int]) -> set[int]:
    """Deletes the changes the job carried (each profile's up to the last one read for it),
    with one SELECT and one DELETE by id per SETTLE_CHUNK profiles; returns the profiles that
    have newer changes (stored after the job's were read: they still have to go)."""
    newer: set[int] = set()
    for start in range(0, len(sent), SETTLE_CHUNK):
        chunk = sent[start : start + SETTLE_CHUNK]
        carried = []
        waiting = ProfileChange.objects.filter(profile_id__in=chunk)
        for change_id, profile_id in waiting.values_list("id", "profile_id"):
            if change_id <= covered[profile_id]:
                carried.append(change_id)
            else:
                newer.add(profile_id)
        if carried:
            ProfileChange.objects.filter(id__in=carried).delete()
    return newer


def profile_import_job_abandon(
    *, job_id: str, profile_ids: list[int], why: str = "it did not end in time"
) -> None:
    """The job's profiles left to the sweeper, which sends their changes again."""
    Profile.objects.filter(id__in=profile_ids).update(
        last_error=f"Klaviyo import job {job_id} not followed to its end: {why}",
        next_attempt_at=None,
    )
