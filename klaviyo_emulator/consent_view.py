"""The account's consent, suppressions, lists and change history as plain JSON, for tests:
served by the control API (control.py) and read in process by testkit/klaviyo_state.py.

    profile_states(store, email="a@example.com") ->
      [{"id": "01J...", "email": "a@example.com", "phone_number": null,
        "email_marketing": {"consent": "SUBSCRIBED", "consent_timestamp": "...",
                            "can_receive": true, "custom_source": null,
                            "suppressions": [{"reason": "USER_SUPPRESSED", "timestamp": "..."}]},
        "sms_marketing": {"consent": "NEVER_SUBSCRIBED", "consent_timestamp": null,
                          "can_receive": false},
        "lists": ["Y6nRLr"]}]
    history_entries(store, email=...) -> [{"seq": 1, "profile_id", "email", "phone_number",
        "operation": "subscribe" | "subscribe_requested" | "unsubscribe" | "suppress" |
                     "unsuppress" | "list_add" | "list_remove",
        "channel": "email.marketing" | "sms.marketing" | null, "list_id", "endpoint", "at"}]
    list_states(store) -> [{"id", "name", "opt_in_process", "created",
                            "members": [{"profile_id", "email", "joined_group_at"}],
                            "pending": [{"profile_id", "email", "channels", "requested_at"}]}]
      (pending: double opt-in subscriptions waiting for confirmation, double_opt_in.py)
"""

from typing import Any

from klaviyo_emulator.consent_store import EMAIL_MARKETING, SMS_MARKETING, SUBSCRIBED
from klaviyo_emulator.lists_store import StoredList
from klaviyo_emulator.resources import iso
from klaviyo_emulator.store import Store, StoredProfile


def _matches(profile: StoredProfile, email: str | None, phone_number: str | None) -> bool:
    if email is not None and (profile.attributes.get("email") or "").lower() != email.lower():
        return False
    return phone_number is None or profile.attributes.get("phone_number") == phone_number


def profile_state(store: Store, profile: StoredProfile) -> dict[str, Any]:
    consent = store.consent.of(profile.id)
    email, sms = consent.channel(EMAIL_MARKETING), consent.channel(SMS_MARKETING)
    return {
        "id": profile.id,
        "email": profile.attributes.get("email"),
        "phone_number": profile.attributes.get("phone_number"),
        "email_marketing": {
            "consent": email.consent,
            "consent_timestamp": iso(email.consent_timestamp),
            "can_receive": consent.can_receive_email_marketing,
            "custom_source": email.custom_method_detail,
            "suppressions": [
                {"reason": s.reason, "timestamp": iso(s.timestamp)} for s in consent.suppressions
            ],
        },
        "sms_marketing": {
            "consent": sms.consent,
            "consent_timestamp": iso(sms.consent_timestamp),
            "can_receive": sms.consent == SUBSCRIBED,
        },
        "lists": store.lists.lists_of(profile.id),
    }


def profile_states(
    store: Store, *, email: str | None = None, phone_number: str | None = None
) -> list[dict[str, Any]]:
    with store.lock:
        return [
            profile_state(store, profile)
            for profile in store.profiles.values()
            if _matches(profile, email, phone_number)
        ]


def history_entries(
    store: Store, *, email: str | None = None, profile_id: str | None = None
) -> list[dict[str, Any]]:
    """In the order the changes landed; `email` selects the entries of the profile that has
    that email now (and of any entry made under it)."""
    with store.lock:
        ids = {profile_id} if profile_id else None
        if email is not None:
            ids = (ids or set()) | {
                p.id for p in store.profiles.values() if _matches(p, email, None)
            }
        return [
            entry.as_json()
            for entry in store.history.entries
            if ids is None
            or entry.profile_id in ids
            or (email is not None and (entry.email or "").lower() == email.lower())
        ]


def list_state(store: Store, stored: StoredList) -> dict[str, Any]:
    return {
        "id": stored.id,
        "name": stored.name,
        "opt_in_process": stored.opt_in_process,
        "created": iso(stored.created),
        "members": [
            {
                "profile_id": profile_id,
                "email": store.profiles[profile_id].attributes.get("email"),
                "joined_group_at": iso(joined),
            }
            for profile_id, joined in stored.members.items()
        ],
        "pending": [
            {
                "profile_id": profile_id,
                "email": store.profiles[profile_id].attributes.get("email"),
                "channels": list(pending.channels),
                "requested_at": iso(pending.requested_at),
            }
            for profile_id, pending in stored.pending.items()
        ],
    }


def list_states(store: Store) -> list[dict[str, Any]]:
    with store.lock:
        return [list_state(store, stored) for stored in store.lists.lists.values()]
