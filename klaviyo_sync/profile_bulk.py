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
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.db import rows_as_stored, rows_with_json_last, time_as_text
from core.id_runs import IdRuns
from events.merge_patch import holds_null, json_patches_combine
from events.models import Profile, ProfileChange, SyncStatus
from klaviyo_client import mapping, profiles
from klaviyo_client.client import KlaviyoClient, klaviyo_client
from klaviyo_client.errors import KlaviyoError
from klaviyo_client.jobs import JOB_BODY_END, JOB_BODY_START, JOB_ENDED
from klaviyo_client.limits import MAX_BULK_PROFILE_BYTES, MAX_BULK_PROFILES, MAX_BULK_PROFILES_BYTES
from klaviyo_sync.lease import claimable
from klaviyo_sync.profile_sync import KLAVIYO_IDENTIFIERS
from klaviyo_sync.sending import PROFILE_FIELDS
from klaviyo_sync.services import NO_KEY_MESSAGE, retry_delay

# A row's identifiers (PROFILE_FIELDS without the attributes).
IDENTIFIER_FIELDS = tuple(name for name in PROFILE_FIELDS if name != "attributes")
# The envelope of a job around its profiles, as klaviyo_client.jobs builds it.
JOB_ENVELOPE_BYTES = len(JOB_BODY_START) + len(JOB_BODY_END)


@dataclass
class JobCarried:
    """What one import job carried: its profiles, and the changes of theirs it sent (read
    when the job was built; deleted once Klaviyo has them, while a change stored since stays
    to be sent). Both as runs of ids (core.id_runs): a bulk request's rows are consecutive."""

    profiles: IdRuns
    changes: IdRuns

    def as_task_argument(self) -> dict[str, list[list[int]]]:
        return {"profiles": self.profiles.as_list(), "changes": self.changes.as_list()}

    @classmethod
    def from_task_argument(cls, value: Any) -> JobCarried:
        if isinstance(value, dict):
            return cls(IdRuns.from_list(value["profiles"]), IdRuns.from_list(value["changes"]))
        # Queued before this form: [profile id, the last of its changes carried] pairs. A
        # profile's changes are stored in id order (its row is locked while one is added), so
        # those carried are its changes up to that one.
        last = {int(profile_id): int(change_id) for profile_id, change_id in value}
        waiting = ProfileChange.objects.filter(profile_id__among=last).values_list(
            "id", "profile_id"
        )
        return cls(IdRuns(last), IdRuns(cid for cid, pid in waiting if cid <= last[pid]))


@dataclass
class JobFollowed:
    """A read of an import job: its status while it runs (`running`), else None and the
    profiles it carried that still have a change to send (`waiting`: one stored while it ran,
    found busy then, or every one of a job Klaviyo cancelled), to queue now, not for the
    sweeper minutes later."""

    running: str | None
    waiting: list[int] = field(default_factory=list)


@dataclass
class BulkPlan:
    """What the task does next: follow these jobs, sync these profiles one by one, retry these."""

    jobs: list[tuple[str, JobCarried]] = field(default_factory=list)
    one_by_one: list[int] = field(default_factory=list)
    retry: list[tuple[list[int], float]] = field(default_factory=list)


def _claim(profile_ids: list[int], now: datetime) -> IdRuns:
    hold = now + timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS)
    unique = IdRuns(profile_ids)
    claimed = (
        Profile.objects.filter(id__among=unique)
        .filter(claimable(now))
        .update(attempts=F("attempts") + 1, next_attempt_at=hold)
    )
    if claimed == len(unique):  # every one (the usual backlog): no need to ask which
        return unique
    return IdRuns(
        Profile.objects.filter(id__among=unique, next_attempt_at=hold).values_list("id", flat=True)
    )


def _release(profile_ids: list[int] | IdRuns, **also: Any) -> None:
    """Gives a claim back untried, for profile_changes_sync to take (`also`: more columns to
    set in the same UPDATE)."""
    Profile.objects.filter(id__among=profile_ids).update(
        attempts=F("attempts") - 1, next_attempt_at=None, **also
    )


def _clears(resource: dict[str, Any], body: bytes) -> bool:
    # No `null` anywhere in its JSON (a C-speed search): none in its attributes either.
    return "meta" in resource or (b"null" in body and holds_null(resource["attributes"]))


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
    changes, change_ids, rows = _waiting(claimed)
    items: list[Item] = []
    for profile_id, combined in changes.items():
        try:
            resource, body = profiles.profile_import_resource_encoded(
                profile_row=rows[profile_id], changes=combined
            )
        except mapping.NotSendable as problem:
            Profile.objects.filter(id=profile_id).update(
                sync_status=SyncStatus.FAILED,
                last_error=f"Not sent: {problem}",
                next_attempt_at=None,
            )
            continue
        if _clears(resource, body) or len(body) > MAX_BULK_PROFILE_BYTES:
            plan.one_by_one.append(profile_id)
        else:
            items.append((profile_id, body))
    by_one = set(plan.one_by_one)
    if untried := [pid for pid in claimed if pid not in changes or pid in by_one]:
        _release(untried)
    for job in _pack(items):
        _job_send(client, job, change_ids, plan)
    return plan


def _waiting(
    claimed: IdRuns,
) -> tuple[dict[int, dict[str, Any]], dict[int, list[int]], dict[int, dict[str, Any]]]:
    """The claimed profiles' changes, each profile's combined in order, their ids, and the
    profiles' rows, read after the changes (a row then holds every change read, and the
    identifiers they set): profile_resource sends each key a change touched as the row now
    holds it. A row's attributes are read only where they may hold a key otherwise than the
    changes do: a change holding an object (sent whole as it now stands), and a row written
    after its last change (an event's attributes, a change since): else they hold each key as
    the changes left it, and the JSON of 10,000 rows decoded for nothing took 40-130 ms a job."""
    changes: dict[int, dict[str, Any]] = {}
    change_ids: dict[int, list[int]] = {}
    last_stored: dict[int, str] = {}
    # Their ids first, from the profile_id index alone, then the rows by id: runs of
    # consecutive ids, ranges of the primary key. Asked by profile_id for the rows, MariaDB
    # chose to scan the whole table for each job (100,000 changes waiting: 44 ms, against
    # 5 + 11 ms for these two).
    ids = IdRuns(
        ProfileChange.objects.filter(profile_id__among=claimed)
        .order_by()
        .values_list("id", flat=True)
    )
    waiting = ProfileChange.objects.filter(id__among=ids).order_by("id")
    for profile_id, change_id, stored, patch in rows_with_json_last(
        waiting.annotate(stored=time_as_text("created_at")).values_list(
            "profile_id", "id", "stored", "attributes"
        )
    ):
        last_stored[profile_id] = stored
        if profile_id in changes:
            changes[profile_id] = json_patches_combine(changes[profile_id], patch)
            change_ids[profile_id].append(change_id)
        else:  # a patch alone is its own combination (a fresh dict, decoded for this read)
            changes[profile_id] = patch
            change_ids[profile_id] = [change_id]
    rows: dict[int, dict[str, Any]] = {}
    whole = [pid for pid, combined in changes.items() if _holds_object(combined)]
    plain = (
        Profile.objects.filter(id__among=IdRuns(changes))
        .annotate(written=time_as_text("updated_at"))
        .values_list(*IDENTIFIER_FIELDS, "written")
    )
    for *identifiers, written in rows_as_stored(plain):
        profile_id = identifiers[0]
        if written > last_stored[profile_id]:
            whole.append(profile_id)
        else:  # it holds each key as its changes left it
            values = (*identifiers, changes[profile_id])
            rows[profile_id] = dict(zip(PROFILE_FIELDS, values, strict=True))
    # PROFILE_FIELDS ends with the attributes: decoded all at once (rows_with_json_last).
    found = Profile.objects.filter(id__among=IdRuns(whole)).values_list(*PROFILE_FIELDS)
    rows.update(
        (row[0], dict(zip(PROFILE_FIELDS, row, strict=True))) for row in rows_with_json_last(found)
    )
    for profile_id in [pid for pid in changes if pid not in rows]:  # erased meanwhile
        del changes[profile_id]
    return changes, change_ids, rows


def _holds_object(patch: dict[str, Any]) -> bool:
    for value in patch.values():  # noqa: SIM110 - per profile sent: any() over a generator is slower
        if isinstance(value, dict):
            return True
    return False


def _job_send(
    client: KlaviyoClient, job: list[Item], change_ids: dict[int, list[int]], plan: BulkPlan
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
    carried = JobCarried(IdRuns(ids), IdRuns(c for pid in ids for c in change_ids[pid]))
    plan.jobs.append((str(answer.get("id")), carried))


def _retry(profile_ids: list[int], error: KlaviyoError | str, plan: BulkPlan) -> None:
    summary = error.summary if isinstance(error, KlaviyoError) else error
    rows = Profile.objects.filter(id__among=profile_ids)
    worst = max(rows.values_list("attempts", flat=True), default=1)
    if worst >= settings.KLAVIYO_MAX_ATTEMPTS:
        rows.update(
            sync_status=SyncStatus.FAILED,
            last_error=f"{summary} (gave up after {worst} attempts)"[:5000],
            next_attempt_at=None,
        )
        return
    delay = retry_delay(
        attempt=worst, retry_after=error.retry_after if isinstance(error, KlaviyoError) else None
    )
    rows.update(
        last_error=summary[:5000], next_attempt_at=timezone.now() + timedelta(seconds=delay)
    )
    plan.retry.append((profile_ids, delay))


def _identifiers(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, str(payload[name])) for name in KLAVIYO_IDENTIFIERS if payload.get(name)]


def profile_import_job_settle(*, job_id: str, carried: JobCarried) -> JobFollowed:
    """Once the job has ended: the profiles its import errors name failed with the error, the
    others sent (the changes it carried gone)."""
    client = klaviyo_client()
    if client is None:
        return JobFollowed(None)
    job = client.profile_bulk_import_job_get(job_id=job_id)
    attributes = job.get("attributes") or {}
    status = attributes.get("status")
    if status not in JOB_ENDED:
        return JobFollowed(status or "processing")
    if status == "cancelled":  # the claim given back untried, to send again
        _release(carried.profiles, last_error=f"Klaviyo cancelled import job {job_id}")
        return JobFollowed(None, list(carried.profiles))
    # `failed_count`: "the total number of operations that have failed as part of the job"
    # (spec); at 0 there is no import error to read (a missing count is read all the same).
    failed = {}
    if attributes.get("failed_count") != 0:
        failed = _import_errors(client, job_id, carried.profiles)
    # All or nothing: a worker that dies between deleting the changes and marking the profiles
    # would leave them pending with nothing to send, where the sweeper never looks again.
    with transaction.atomic():
        newer = _job_outcome_record(carried, failed)
    return JobFollowed(None, newer)


def _job_outcome_record(carried: JobCarried, failed: dict[int, str]) -> list[int]:
    """The profiles `failed` names failed with their error, the others sent (the changes the
    job carried gone), but for those with a change stored since the job was built: returned."""
    by_error: dict[str, list[int]] = {}
    for profile_id, text in failed.items():
        by_error.setdefault(text[:5000], []).append(profile_id)
    for text, profile_ids in by_error.items():
        Profile.objects.filter(id__among=profile_ids).update(
            sync_status=SyncStatus.FAILED, last_error=text, next_attempt_at=None
        )
    sent = carried.profiles
    done = ProfileChange.objects.filter(id__among=carried.changes)
    if failed:  # their changes stay, to be sent again once fixed
        sent = IdRuns(pid for pid in sent if pid not in failed)
        done = done.exclude(profile_id__among=failed)
    if not sent:
        return []
    done.delete()
    # A change stored after the job was built still has to go: its profile is not sent yet.
    newer = set(
        ProfileChange.objects.filter(profile_id__among=sent)
        .order_by()
        .values_list("profile_id", flat=True)
        .distinct()
    )
    if newer:
        Profile.objects.filter(id__among=newer).update(
            last_error="", attempts=0, next_attempt_at=None
        )
        sent = IdRuns(pid for pid in sent if pid not in newer)
    Profile.objects.filter(id__among=sent).update(
        sync_status=SyncStatus.SENT,
        synced_at=timezone.now(),
        last_error="",
        attempts=0,
        next_attempt_at=None,
    )
    return sorted(newer)


def _import_errors(client: KlaviyoClient, job_id: str, ids: IdRuns) -> dict[int, str]:
    """The job's profiles its import errors name, each with the first error about it: the
    profile whose identifiers are those the error's payload holds (what the job sent: a row's
    own identifiers), else the one profile of the job holding one of them. Two profiles may
    share an identifier (an email profile that also gave a phone number, and a profile known
    by that number): pinned by one identifier, the error of one landed on the other."""
    exact: dict[tuple[tuple[str, str], ...], int] = {}
    alone: dict[tuple[str, str], int | None] = {}  # None: held by several of the job's profiles
    for row in Profile.objects.filter(id__among=ids).values("id", *KLAVIYO_IDENTIFIERS):
        sent = _identifiers(row)
        exact[tuple(sent)] = row["id"]
        for key in sent:
            alone[key] = None if key in alone else row["id"]
    failed: dict[int, str] = {}
    for error in client.profile_bulk_import_errors(job_id=job_id):
        named = _identifiers(error.get("original_payload") or {})
        profile_id = exact.get(tuple(named))
        if profile_id is None:
            profile_id = next((alone[key] for key in named if alone.get(key)), None)
        if profile_id is not None:
            failed.setdefault(
                profile_id, f"Klaviyo import error: {error.get('detail') or error.get('title')}"
            )
    return failed


def profile_import_job_hold(*, profile_ids: IdRuns) -> None:
    """The claim on a job's profiles held on while Klaviyo still runs it: past the claim's
    hold (SYNC_STALE_PENDING_SECONDS) a later change of one of them would go by profile-import
    before the job lands, which then puts the older value back in Klaviyo."""
    hold = timezone.now() + timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS)
    Profile.objects.filter(id__among=profile_ids).update(next_attempt_at=hold)


def profile_import_job_abandon(
    *, job_id: str, profile_ids: IdRuns, why: str = "it did not end in time"
) -> None:
    """The job's profiles left to the sweeper, which sends their changes again."""
    Profile.objects.filter(id__among=profile_ids).update(
        last_error=f"Klaviyo import job {job_id} not followed to its end: {why}",
        next_attempt_at=None,
    )
