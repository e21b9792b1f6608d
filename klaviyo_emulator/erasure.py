"""POST /api/data-privacy-deletion-jobs: deletes every profile the one identifier names (email,
phone_number or the profile id) with its events, so that they disappear from every read
(profiles, events, metric aggregates). Klaviyo deletes asynchronously; the emulator at once,
before answering 202 (https://developers.klaviyo.com/en/reference/request_profile_deletion:
"Request a deletion for the profiles corresponding to one of the following identifiers: email,
phone_number, or id. If multiple identifiers are provided, we will return an error. All profiles
that match the provided identifier will be deleted.").

Each job is kept in `Store.deletion_jobs` (in order, with the request's sequence number among
everything received) for the control API: tests check what arrived after it.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Response

from klaviyo_emulator import ids
from klaviyo_emulator.context import HandlerContext
from klaviyo_emulator.jsonapi import ApiError, empty
from klaviyo_emulator.store import PROFILE_IDENTIFIERS, Store, now_utc

POINTER = "/data/attributes/profile/data"


@dataclass
class DeletionJob:
    id: str
    identifier: dict[str, str]  # the one identifier, as sent: {"email": ...}
    profiles_deleted: list[str]
    events_deleted: int
    events_received_before: int  # the store's events_received when the job came
    received_at: datetime = field(default_factory=now_utc)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "identifier": self.identifier,
            "profiles_deleted": self.profiles_deleted,
            "events_deleted": self.events_deleted,
            "events_received_before": self.events_received_before,
            "received_at": self.received_at.isoformat(),
        }


def _identifier(profile: dict[str, Any]) -> dict[str, str]:
    attributes = profile.get("attributes") or {}
    given = {name: value for name, value in attributes.items() if value is not None}
    if profile.get("id"):
        given["id"] = profile["id"]
    if len(given) != 1:
        raise ApiError.one(
            400,
            "Exactly one of email, phone_number or id must identify the profile to delete.",
            pointer=POINTER,
        )
    ((name, value),) = given.items()
    if not isinstance(value, str) or not value:
        raise ApiError.one(400, f"{name} must be a non-empty string.", pointer=POINTER)
    return {name: value}


def profiles_delete(store: Store, profile_ids: list[str]) -> int:
    """Removes the profiles, their identifiers from the index and their events from every
    list and key; the number of events removed. The caller holds the store's lock."""
    doomed = set(profile_ids)
    for profile_id in profile_ids:
        profile = store.profiles.pop(profile_id, None)
        if profile is None:
            continue
        for name in PROFILE_IDENTIFIERS:
            if value := profile.attributes.get(name):
                store._profile_index.pop(store._index_key(name, value), None)
    removed = [event for event in store.events if event.profile_id in doomed]
    if not removed:
        return 0
    store.events = [event for event in store.events if event.profile_id not in doomed]
    for profile_id in doomed:
        store.events_by_profile.pop(profile_id, None)
    for metric_id in {event.metric_id for event in removed}:
        store.events_by_metric[metric_id] = [
            event for event in store.events_by_metric[metric_id] if event.profile_id not in doomed
        ]
    for event in removed:
        store._event_keys.pop(event.key, None)
    return len(removed)


def request_profile_deletion(ctx: HandlerContext) -> Response:
    profile = ctx.body["data"]["attributes"]["profile"]["data"]
    identifier = _identifier(profile)
    store = ctx.store
    with store.lock:
        if "id" in identifier:
            named = [identifier["id"]] if identifier["id"] in store.profiles else []
        else:
            named = store.profiles_named(identifier)
        job = DeletionJob(
            id=ids.job_id(),
            identifier=identifier,
            profiles_deleted=named,
            events_deleted=profiles_delete(store, named),
            events_received_before=store.events_received,
        )
        store.deletion_jobs.append(job)
    return empty(202)
