"""How a list change (POST/DELETE /lists/{listId}/profiles) goes to Klaviyo: the senders of the
list_add and list_remove kinds of consent change (consent_senders.py), sent by the consent
worker like every kind (in order per address, retried, failed with Klaviyo's detail).

Klaviyo's list membership endpoints take profile ids, at most 1,000 a call
(https://developers.klaviyo.com/en/reference/add_profiles_to_list). An address's id is found
without one request per address:
1. known ids first: the address's own (found by an earlier attempt), else its local profile's
   (Profile.klaviyo_id);
2. the rest in bulk: `GET /api/profiles?filter=any(email,[...])`, 100 addresses a request;
3. for list_add, the addresses Klaviyo has no profile for yet are created and added to the list
   in one profile bulk import job (`relationships.lists`,
   https://developers.klaviyo.com/en/docs/use_klaviyos_bulk_profile_import_api), which is
   followed to its end before the change counts as sent: a later change of the same address
   (a removal) must not reach Klaviyo before it. A job still running after IMPORT_WAIT_SECONDS
   is a retryable failure: the next attempt finds the profiles it made (step 2). Until it ended
   the job is listed (events.ProfileImportJob), as profile bulk imports are: an erasure waits
   for the profiles it may still make. A send whose lease ends while it follows the job
   (lease.LeaseOver) leaves it on the change; the next claim follows it first.
The ids found are written back: on the change's addresses and on local profiles without one.
An id Klaviyo no longer has (the profile was merged or deleted there) is forgotten and its
address looked up again, once per send.
For list_remove, an address Klaviyo has no profile for is in no list: nothing to send for it
(when that is every address, the list itself is looked up, so that an unknown one still fails).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from django.db.models import Case, CharField, Value, When

from events.models import ConsentChange, ConsentChangeProfile, Profile, ProfileImportJob
from klaviyo_client.errors import KlaviyoError
from klaviyo_client.jobs import JOB_ENDED
from klaviyo_client.limits import MAX_PROFILES_PAGE
from klaviyo_sync.erasure_sync import import_job_ended, import_job_listed
from klaviyo_sync.read_services import profile_klaviyo_ids_store

if TYPE_CHECKING:
    from klaviyo_client.client import KlaviyoClient

Addresses = list[dict[str, Any]]
# How long a send follows the import job that creates a list's new profiles (polls with
# growing pauses); no poll starts that would end after the send's lease (lease.SendClock).
IMPORT_WAIT_SECONDS = 12.0
FIRST_POLL_PAUSE = 0.5
STALE_POINTER = re.compile(r"/data/(\d+)/id")


def _ids_known(rows: Addresses) -> dict[str, str]:
    """email -> Klaviyo id, from the addresses themselves or their local profiles."""
    known = {row["email"]: row["klaviyo_id"] for row in rows if row.get("klaviyo_id")}
    profile_ids = [row["profile_id"] for row in rows if row.get("profile_id")]
    if profile_ids:
        local = Profile.objects.filter(id__in=profile_ids, klaviyo_id__isnull=False)
        for email, klaviyo_id in local.values_list("email", "klaviyo_id"):
            if email:
                known.setdefault(email, klaviyo_id)
    return known


def _ids_record(rows: Addresses, ids: dict[str, str]) -> None:
    """Writes the ids found on the change's addresses and on local profiles lacking one."""
    fresh = {row["id"]: ids[row["email"]] for row in rows if row["email"] in ids}
    changed = [
        row["id"]
        for row in rows
        if row["id"] in fresh and row.get("klaviyo_id") != fresh[row["id"]]
    ]
    if changed:
        whens = [When(id=pk, then=Value(fresh[pk])) for pk in changed]
        ConsentChangeProfile.objects.filter(id__in=changed).update(
            klaviyo_id=Case(*whens, output_field=CharField())
        )
    profile_klaviyo_ids_store(ids_by_email=ids)


def _ids_stale(error: KlaviyoError, sent: list[str]) -> list[str]:
    """The ids of a membership call Klaviyo said no profile has (a 404 pointing at
    `/data/<n>/id`: a profile merged or deleted in Klaviyo since its id was recorded), as
    JSON:API answers a reference to a resource that does not exist
    (https://jsonapi.org/format/#crud-updating-relationships)."""
    if error.status != 404:
        return []
    stale = []
    for item in error.errors:
        match = STALE_POINTER.fullmatch(str((item.get("source") or {}).get("pointer") or ""))
        if match and int(match.group(1)) < len(sent):
            stale.append(sent[int(match.group(1))])
    return stale


def _members_change(
    client: KlaviyoClient,
    *,
    add: bool,
    list_id: str,
    rows: Addresses,
    ids: dict[str, str],
    attempt: int,
) -> dict[str, str]:
    """Adds or removes the profiles of `ids` (email -> id) to or from the list; the ids used.
    Ids Klaviyo no longer has are forgotten (on the addresses and local profiles), their
    addresses looked up again by email, and the call made once more with what was found."""
    call = client.list_profiles_add if add else client.list_profiles_remove
    for last_try in (False, True):
        found = list(dict.fromkeys(ids[row["email"]] for row in rows if row["email"] in ids))
        if not found:
            return ids
        try:
            call(list_id=list_id, profile_ids=found, attempt=attempt)
            return ids
        except KlaviyoError as error:
            stale = set(_ids_stale(error, found))
            if last_try or not stale:
                raise
        ConsentChangeProfile.objects.filter(
            id__in=[row["id"] for row in rows], klaviyo_id__in=stale
        ).update(klaviyo_id=None)
        Profile.objects.filter(klaviyo_id__in=stale).update(klaviyo_id=None)
        again = [email for email, klaviyo_id in ids.items() if klaviyo_id in stale]
        ids = {email: klaviyo_id for email, klaviyo_id in ids.items() if klaviyo_id not in stale}
        fresh = client.profile_ids_by_email(emails=again, attempt=attempt)
        rows = [{**row, "klaviyo_id": None} if row["email"] in again else row for row in rows]
        _ids_record(rows, fresh)
        ids.update(fresh)
    return ids


def _ids_resolve(client: KlaviyoClient, rows: Addresses, attempt: int) -> dict[str, str]:
    """email -> Klaviyo id of every address Klaviyo has a profile for (known ones first).
    Each page of lookups is written at once: a send whose lease ends among them (LeaseOver)
    keeps what it found for the next claim."""
    ids = _ids_known(rows)
    _ids_record(rows, ids)
    unknown = [row["email"] for row in rows if row["email"] not in ids]
    for start in range(0, len(unknown), MAX_PROFILES_PAGE):
        found = client.profile_ids_by_email(
            emails=unknown[start : start + MAX_PROFILES_PAGE], attempt=attempt
        )
        _ids_record(rows, found)
        ids.update(found)
    return ids


def _import_job_follow(client: KlaviyoClient, job_id: str) -> dict[str, Any]:
    """The job's attributes once Klaviyo is done with it; KlaviyoError (retryable) if it is not
    within IMPORT_WAIT_SECONDS."""
    deadline = time.monotonic() + IMPORT_WAIT_SECONDS
    pause = FIRST_POLL_PAUSE
    while True:
        attributes = client.profile_bulk_import_job_get(job_id=job_id).get("attributes") or {}
        status = attributes.get("status")
        if status in JOB_ENDED:
            import_job_ended(job_id=job_id)
            return attributes
        if time.monotonic() + pause > deadline:
            raise KlaviyoError(
                status=None,
                retryable=True,
                retry_after=IMPORT_WAIT_SECONDS,
                detail=f"Klaviyo's profile import job {job_id} (creating profiles for the "
                f"list) is still {status or 'running'}: checked again on the next attempt",
            )
        time.sleep(pause)
        pause *= 2


def _job_record(change_id: int, job_id: str) -> None:
    """A job Klaviyo accepted: listed until it ended (an erasure waits for the profiles it
    may still make) and on the change, whose next claim follows it if this one can't."""
    import_job_listed(job_id=job_id)
    rows = ConsentChange.objects.filter(id=change_id)
    job_ids = rows.values_list("klaviyo_job_ids", flat=True).first() or []
    rows.update(klaviyo_job_ids=[*job_ids, job_id])


def _jobs_left_follow(client: KlaviyoClient, change: ConsentChange) -> None:
    """Follows to their end the change's jobs an earlier claim left running (its lease
    ended while it polled), so that their profiles are found rather than made again."""
    job_ids = change.klaviyo_job_ids or []
    if not job_ids:
        return
    listed = ProfileImportJob.objects.filter(job_id__in=job_ids).values_list("job_id", flat=True)
    for job_id in list(listed):
        _import_job_follow(client, job_id)


def _profiles_create_in_list(
    client: KlaviyoClient, change: ConsentChange, emails: list[str], attempt: int
) -> str:
    """Creates Klaviyo profiles for the emails and adds them to the change's list, in one
    import job followed to its end; the job's id. Profiles it could not import fail the
    change."""
    list_id = change.list_id or ""
    profiles = [{"type": "profile", "attributes": {"email": email}} for email in emails]
    job = client.profile_bulk_import_job(profiles=profiles, list_ids=[list_id], attempt=attempt)
    job_id = job.get("id") or ""
    _job_record(change.id, job_id)
    attributes = _import_job_follow(client, job_id)
    if attributes.get("status") != "complete" or attributes.get("failed_count"):
        errors = client.profile_bulk_import_errors(job_id=job_id)
        details = "; ".join(
            f"{(error.get('original_payload') or {}).get('email', '?')}: {error.get('detail')}"
            for error in errors[:20]
        )
        raise KlaviyoError(
            status=None,
            retryable=False,
            detail=f"Klaviyo's profile import job {job_id} ended {attributes.get('status')}"
            + (f" and refused {details}" if details else ""),
        )
    return job_id


def list_add_send(
    client: KlaviyoClient, change: ConsentChange, rows: Addresses, attempt: int
) -> str | None:
    """Adds the addresses to the change's list: known profiles by id, new ones through an
    import job (whose id is returned)."""
    list_id = change.list_id or ""
    _jobs_left_follow(client, change)
    ids = _ids_resolve(client, rows, attempt)
    # First: a list Klaviyo doesn't know fails here (404), before any profile is made.
    ids = _members_change(client, add=True, list_id=list_id, rows=rows, ids=ids, attempt=attempt)
    missing = [row["email"] for row in rows if row["email"] not in ids]
    if not missing:
        return None
    job_id = _profiles_create_in_list(client, change, missing, attempt)
    created = client.profile_ids_by_email(emails=missing, attempt=attempt)
    _ids_record(rows, created)
    return job_id


def list_remove_send(
    client: KlaviyoClient, change: ConsentChange, rows: Addresses, attempt: int
) -> str | None:
    """Removes the addresses Klaviyo has a profile for from the change's list."""
    list_id = change.list_id or ""
    ids = _ids_resolve(client, rows, attempt)
    ids = _members_change(client, add=False, list_id=list_id, rows=rows, ids=ids, attempt=attempt)
    if ids:
        return None
    # Nobody to remove: Klaviyo is not asked about the list then, so ask whether it has it (a
    # removal from a list that isn't there fails, as an add to it does).
    lists, _ = client.lists_page(page_size=1, list_id=list_id)
    if not any(item.get("id") == list_id for item in lists):
        raise KlaviyoError(
            status=None, retryable=False, detail=f"Klaviyo has no list {list_id} (GET /api/lists)"
        )
    return None
