"""Subscribing to a list with double opt-in: "If the provided list has double opt-in enabled,
profiles will receive a message requiring their confirmation before subscribing" (spec of
bulk_subscribe_profiles), unless the job is a `historical_import`, which "bypass[es] double
opt-in emails and [subscribes] immediately". Until the person confirms, Klaviyo neither
subscribes the email nor adds the profile to the list ("The profile would have to confirm their
subscription in order for the profile to [...] be added to the list", community.klaviyo.com
developer group, topic 18229).

The emulator keeps such a request pending on the list (history: `subscribe_requested`) and a
test plays the person clicking the link with the control API
(`POST /_emulator/lists/{id}/confirm {"email": ...}`): the email is then subscribed
(`double_optin: true`) and the profile joins the list. SMS consent named in the same job is
applied at once (SMS confirmation is a separate, reply-based flow the emulator does not model).
"""

from dataclasses import dataclass
from datetime import datetime

from klaviyo_emulator.lists_store import StoredList
from klaviyo_emulator.store import Store, StoredProfile, now_utc

ENDPOINT = "bulk_subscribe_profiles"


@dataclass(frozen=True, slots=True)
class PendingOptIn:
    channels: tuple[str, ...]  # the email channels waiting, e.g. ("email.marketing",)
    custom_source: str | None
    requested_at: datetime


def confirmation_request(
    store: Store,
    stored_list: StoredList,
    profile: StoredProfile,
    channels: list[str],
    *,
    custom_source: str | None,
    at: datetime,
) -> None:
    """Keeps the email subscription pending on the list (a repeat replaces it)."""
    stored_list.pending[profile.id] = PendingOptIn(tuple(channels), custom_source, at)
    for channel in channels:
        store.history.record(
            profile_id=profile.id,
            operation="subscribe_requested",
            channel=channel,
            list_id=stored_list.id,
            endpoint=ENDPOINT,
            at=at,
            identifiers=profile.attributes,
        )


def confirm(store: Store, list_id: str, email: str) -> StoredProfile:
    """The person with this email confirms; KeyError when nothing is pending for them."""
    with store.lock:
        stored_list = store.lists.lists[list_id]
        profile = store.profile_find(attributes={"email": email})
        if profile is None or profile.id not in stored_list.pending:
            raise KeyError(f"no confirmation pending for {email} on list {list_id}")
        pending = stored_list.pending.pop(profile.id)
        now = now_utc()
        for channel in pending.channels:
            store.consent.subscribe(
                profile.id,
                channel,
                at=now,
                consented_at=None,
                custom_source=pending.custom_source,
                endpoint="double_opt_in_confirmation",
                identifiers=profile.attributes,
                list_id=list_id,
                double_optin=True,
            )
        store.lists.add(
            list_id,
            profile.id,
            at=now,
            endpoint="double_opt_in_confirmation",
            identifiers=profile.attributes,
        )
        return profile
