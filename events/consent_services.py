"""Writes of consent changes (subscribe, unsubscribe, suppress, unsuppress, and the list kinds
of POST/DELETE /lists/{listId}/profiles): each request stored as one ConsentChange with one
ConsentChangeProfile per address, in one transaction; its send is queued on commit by the
ConsentChange post_save receiver (klaviyo_sync/receivers.py) and done by the worker
(klaviyo_sync/consent_sync.py), in order per address."""

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F

from core.db import run_retrying
from events.models import (
    ConsentChange,
    ConsentChangeProfile,
    ConsentKind,
    ConsentStatus,
    Profile,
)

# Addresses per INSERT statement: well under SQLite's parameter limit.
INSERT_CHUNK = 500


def _local_profiles(addresses: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """The local profile of each address where one is known: ("email", address) or, for an
    address without email, ("phone", number) -> profile id."""
    emails = {a["email"] for a in addresses if a.get("email")}
    phones = {a["phone_number"] for a in addresses if a.get("phone_number") and not a.get("email")}
    found: dict[tuple[str, str], int] = {}
    if emails:
        for email, pk in Profile.objects.filter(email__in=emails).values_list("email", "id"):
            found[("email", email)] = pk
    if phones:
        rows = Profile.objects.filter(phone_number__in=phones).order_by("id")
        for phone, pk in rows.values_list("phone_number", "id"):
            found.setdefault(("phone", phone), pk)
    return found


def consent_change_create(
    *,
    kind: str,
    addresses: list[dict[str, Any]],
    channels: Iterable[str] = (),
    list_id: str | None = None,
    historical_import: bool = False,
) -> ConsentChange:
    """Stores one change asked of Klaviyo and its addresses (each a dict of email,
    phone_number, consented_at and, where a sender needs it, klaviyo_id), validated; returns it
    pending. The order of `addresses` is the order they are sent in."""
    if kind not in ConsentKind.values:
        raise ValueError(f"unknown consent change kind {kind!r}")

    def store() -> ConsentChange:
        with transaction.atomic():
            local = _local_profiles(addresses)
            change = ConsentChange(
                kind=kind,
                channels=list(channels),
                list_id=list_id,
                historical_import=historical_import,
                profile_count=len(addresses),
            )
            change.save(force_insert=True)  # post_save: its send is queued on commit
            rows = [
                ConsentChangeProfile(
                    change=change,
                    email=address.get("email"),
                    phone_number=address.get("phone_number"),
                    consented_at=address.get("consented_at"),
                    klaviyo_id=address.get("klaviyo_id"),
                    profile_id=(
                        local.get(("email", address["email"]))
                        if address.get("email")
                        else local.get(("phone", address.get("phone_number") or ""))
                    ),
                )
                for address in addresses
            ]
            ConsentChangeProfile.objects.bulk_create(rows, batch_size=INSERT_CHUNK)
            return change

    return run_retrying(store, what="Consent change")


def consent_changes_drop_pending(*, email: str | None, phone_number: str | None = None) -> int:
    """A person's addresses taken out of every pending change (the erasure of their profile):
    every pending address carrying this email, or this phone number (with whatever email
    beside it: the number is the erased person's), so that nothing more of theirs is sent. A
    change left without addresses is deleted. Returns the addresses dropped. Call it inside
    the erasure's transaction."""
    if not email and not phone_number:
        return 0
    pending = ConsentChangeProfile.objects.filter(change__status=ConsentStatus.PENDING)
    rows = pending.filter(email=email) if email else pending.filter(phone_number=phone_number)
    with transaction.atomic():
        counts: dict[int, int] = {}
        for change_id in rows.values_list("change_id", flat=True):
            counts[change_id] = counts.get(change_id, 0) + 1
        dropped, _ = rows.delete()
        for change_id, count in counts.items():
            ConsentChange.objects.filter(id=change_id).update(
                profile_count=F("profile_count") - count
            )
        ConsentChange.objects.filter(id__in=list(counts), profile_count=0).delete()
    return dropped
