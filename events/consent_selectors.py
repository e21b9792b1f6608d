"""Reads of consent changes: one change with its progress, and a profile's consent and lists
as last sent to Klaviyo, derived from the addresses of sent requests (any kind, the list kinds
included), newest first."""

from typing import Any

from django.db.models import Count, Q

from events.models import ConsentChange, ConsentChangeProfile, ConsentKind, Profile

CHANNEL_KINDS = {ConsentKind.SUBSCRIBE: "subscribed", ConsentKind.UNSUBSCRIBE: "unsubscribed"}
SUPPRESSION_KINDS = {ConsentKind.SUPPRESS: "suppressed", ConsentKind.UNSUPPRESS: "unsuppressed"}
# What each kind does to the membership of its change's list: in it (True) or out (False).
# Klaviyo: a subscribe with a list adds to it; an unsubscribe with a list removes from it.
LIST_MEMBERSHIP = {
    ConsentKind.SUBSCRIBE: True,
    ConsentKind.LIST_ADD: True,
    ConsentKind.UNSUBSCRIBE: False,
    ConsentKind.LIST_REMOVE: False,
}


def consent_change_get(*, change_id: int) -> ConsentChange | None:
    """The change with `sent_count` (its addresses Klaviyo has accepted)."""
    return (
        ConsentChange.objects.annotate(
            sent_count=Count("profiles", filter=Q(profiles__sent_at__isnull=False))
        )
        .filter(id=change_id)
        .first()
    )


def _state(row: ConsentChangeProfile, status: str) -> dict[str, Any]:
    return {"status": status, "changeId": row.change_id, "sentAt": row.sent_at}


def profile_consent(*, profile: Profile) -> dict[str, Any]:
    """{"consent": {"email", "sms", "suppression"}, "lists": [...]}: for each channel the last
    subscribe or unsubscribe Klaviyo accepted for this person (their local profile, email or
    phone number), the last suppress or unsuppress, and the lists whose last accepted change
    put them in (a subscribe with that list or a list_add), oldest membership first."""
    person = Q(profile_id=profile.id)
    if profile.email:
        person |= Q(email=profile.email)
    if profile.phone_number:
        person |= Q(phone_number=profile.phone_number)
    rows = (
        ConsentChangeProfile.objects.filter(person, sent_at__isnull=False)
        .select_related("change")
        .order_by("-sent_at", "-change_id")
    )
    consent: dict[str, Any] = {"email": None, "sms": None, "suppression": None}
    lists: dict[str, dict[str, Any] | None] = {}
    for row in rows.iterator(chunk_size=500):
        change = row.change
        if change.kind in CHANNEL_KINDS:
            for channel in change.channels:
                if consent.get(channel, False) is None:
                    consent[channel] = _state(row, CHANNEL_KINDS[change.kind])
        elif change.kind in SUPPRESSION_KINDS and consent["suppression"] is None:
            consent["suppression"] = _state(row, SUPPRESSION_KINDS[change.kind])
        if change.list_id and change.list_id not in lists and change.kind in LIST_MEMBERSHIP:
            member = LIST_MEMBERSHIP[ConsentKind(change.kind)]
            lists[change.list_id] = (
                {"listId": change.list_id, "changeId": row.change_id, "sentAt": row.sent_at}
                if member
                else None
            )
    memberships = [item for item in lists.values() if item is not None]
    memberships.sort(key=lambda item: (item["sentAt"], item["changeId"]))
    return {"consent": consent, "lists": memberships}
