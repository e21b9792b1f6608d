"""The order of consent changes per address, kept in the database.

A change is sent only when no earlier pending change (lower id) shares one of its addresses
(email or phone number). The claim that starts a send locks the change's row and then reads the
earlier ones (READ COMMITTED on MySQL: the newest committed state), so two workers never both
send it and a change never overtakes an earlier one still pending, whether that one is waiting
for a retry after a 429 or 5xx or is being sent right now.

An earlier change that *failed* (Klaviyo refused it, or the retries ran out) no longer holds the
later ones: it is terminal, and the later change is the person's newer wish, which should reach
Klaviyo rather than wait forever behind a request that will never go. The failure stays recorded
on its row and in admin.

Retrying a failed change (admin) must not invert the order silently: sent after a newer change
for the same address, the old wish would overwrite the new one in Klaviyo. So a retry is refused
(with the reason) when a later change sharing an address has been sent or attempted (status sent,
or attempts > 0: Klaviyo may hold part of it). A later change still waiting, never attempted, is
no obstacle: the retried change is earlier, so it goes first and the later one waits behind it.
The retry locks the failed change and those later changes before it checks them, and a claim
locks its change before it reads the earlier ones: the two can't interleave.

Changes stored by concurrent requests (both in flight at once) have no order between them but
their ids; a request made after another was answered always has the higher id.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet

from events.models import ConsentChange, ConsentChangeProfile, ConsentStatus


def _sharing(change_id: int) -> Q:
    """Addresses (rows of ConsentChangeProfile) sharing an email or phone with the change's."""
    own = ConsentChangeProfile.objects.filter(change_id=change_id)
    return Q(email__in=own.exclude(email=None).values("email")) | Q(
        phone_number__in=own.exclude(phone_number=None).values("phone_number")
    )


def earlier_pending_exists(change_id: int) -> bool:
    """Whether an earlier pending change shares an address with this one."""
    return (
        ConsentChangeProfile.objects.filter(
            _sharing(change_id), change_id__lt=change_id, change__status=ConsentStatus.PENDING
        )
        .exclude(change_id=change_id)
        .exists()
    )


def later_changes(change_id: int, *, status: str | None = None) -> QuerySet[ConsentChange]:
    """The later changes sharing an address with this one (of `status`), in id order."""
    ids = ConsentChangeProfile.objects.filter(_sharing(change_id), change_id__gt=change_id)
    if status is not None:
        ids = ids.filter(change__status=status)
    return ConsentChange.objects.filter(id__in=ids.values("change_id")).order_by("id")


def consent_change_retry(*, change_id: int) -> str | None:
    """A failed change back to pending (attempts 0, to be queued by the caller); None when
    done, else why not (not failed, or a later change for one of its addresses already went
    to Klaviyo: a retry now would put the older wish after the newer one)."""
    with transaction.atomic():
        change = ConsentChange.objects.select_for_update().filter(id=change_id).first()
        if change is None or change.status != ConsentStatus.FAILED:
            return "not failed"
        later = list(
            later_changes(change_id).select_for_update().values_list("id", "status", "attempts")
        )
        overtaken = [pk for pk, status, attempts in later if status == "sent" or attempts]
        if overtaken:
            shown = ", ".join(f"#{pk}" for pk in overtaken[:5])
            return (
                f"a later change for one of its addresses already went to Klaviyo ({shown}): "
                "retrying would put the older wish after the newer one"
            )
        ConsentChange.objects.filter(id=change_id).update(
            status=ConsentStatus.PENDING, attempts=0, next_attempt_at=None
        )
    return None
