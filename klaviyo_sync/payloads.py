"""What the sync sends to Klaviyo for one event or profile, shown on its admin page for
debugging: built now by the functions the sync itself calls (profiles.profile_resource and
sending.event_create_data, which the sender uses for every POST /api/events), from the columns
the sync reads (EVENT_FIELDS, PROFILE_FIELDS).

An event's profile part holds the profile attributes the event carried (its changes), which is
what a send of it alone carries; sent with other events of its profile, their changes are merged
in (sending.profile_changes). A batch of KLAVIYO_BULK_MIN_EVENTS or more goes as an
event-bulk-create job instead: the same profile and event attributes, grouped by profile.
A profile's body is what the admin's profile sync sends (profile_sync).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings

from events.models import Event, Profile
from klaviyo_client import mapping, profiles
from klaviyo_sync.profile_sync import profile_sync_changes
from klaviyo_sync.sending import PROFILE_FIELDS, event_create_data, profile_changes
from klaviyo_sync.services import EVENT_FIELDS


@dataclass(frozen=True)
class Payload:
    request: str  # method and path, e.g. POST /api/events
    body: dict[str, Any] | None  # None when the sync would not send it
    problem: str | None  # why not: what Klaviyo would reject, as the sync records it

    @property
    def pretty(self) -> str:
        return json.dumps(self.body, indent=2, ensure_ascii=False) if self.body is not None else ""


def event_payload(*, event_id: UUID | str) -> Payload:
    """The body of POST /api/events for this event."""
    row = Event.objects.filter(id=event_id).values(*EVENT_FIELDS).get()
    profile_row = Profile.objects.filter(id=row["profile_id"]).values(*PROFILE_FIELDS).get()
    try:
        profile = profiles.profile_resource(
            profile_row=profile_row, changes=profile_changes([row]).get(row["profile_id"], {})
        )
        body = {"data": event_create_data(row, profile, revision=settings.KLAVIYO_REVISION)}
    except mapping.NotSendable as problem:
        return Payload("POST /api/events", None, f"Not sent: {problem}")
    return Payload("POST /api/events", body, None)


def profile_payload(*, profile_id: int) -> Payload:
    """The body of POST /api/profile-import for this profile."""
    profile_row = Profile.objects.filter(id=profile_id).values(*PROFILE_FIELDS).get()
    changes = profile_sync_changes(profile_id=profile_id, attributes=profile_row["attributes"])
    try:
        body = {
            "data": profiles.profile_resource(
                profile_row=profile_row, changes=changes, in_event=False
            )
        }
    except mapping.NotSendable as problem:
        return Payload("POST /api/profile-import", None, f"Not sent: {problem}")
    return Payload("POST /api/profile-import", body, None)
