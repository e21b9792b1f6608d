"""The order in which consent and list changes landed, per profile: every subscribe,
unsubscribe, suppress, unsuppress, list add and list remove the emulator applies gets the next
sequence number of one account-wide counter.

Klaviyo applies its jobs asynchronously, but a client's guarantee of order per profile rests on
sending one change only after the previous one was accepted; the emulator applies each request
at once, in the order it receives them, so the sequence numbers are that order. Tests read the
log through the control API (`GET /_emulator/history`) to assert what landed and in which order.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    seq: int
    profile_id: str
    # subscribe | subscribe_requested (double opt-in) | unsubscribe | suppress | unsuppress |
    # list_add | list_remove
    operation: str
    channel: str | None  # email | sms | whatsapp | push, with the message type: "email.marketing"
    list_id: str | None
    endpoint: str  # the Klaviyo operation that made the change, e.g. bulk_subscribe_profiles
    at: datetime
    email: str | None  # the profile's identifiers when the change landed
    phone_number: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "profile_id": self.profile_id,
            "email": self.email,
            "phone_number": self.phone_number,
            "operation": self.operation,
            "channel": self.channel,
            "list_id": self.list_id,
            "endpoint": self.endpoint,
            "at": self.at.isoformat(),
        }


class History:
    """Append-only; callers hold the store's lock."""

    def __init__(self) -> None:
        self.entries: list[HistoryEntry] = []

    def record(
        self,
        *,
        profile_id: str,
        operation: str,
        endpoint: str,
        at: datetime,
        identifiers: dict[str, Any],
        channel: str | None = None,
        list_id: str | None = None,
    ) -> HistoryEntry:
        entry = HistoryEntry(
            seq=len(self.entries) + 1,
            profile_id=profile_id,
            operation=operation,
            channel=channel,
            list_id=list_id,
            endpoint=endpoint,
            at=at,
            email=identifiers.get("email"),
            phone_number=identifiers.get("phone_number"),
        )
        self.entries.append(entry)
        return entry
