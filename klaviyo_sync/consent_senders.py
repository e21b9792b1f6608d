"""How each kind of consent change goes to Klaviyo: its operation and how many addresses one
request takes. The worker (consent_sync.py) is the same for every kind: it sends a change's
unsent addresses in requests of `per_request`, in order, through `send`.

A kind plugs in with one entry in CONSENT_SENDERS. `send(client, change, addresses, attempt)`
gets the change and up to `per_request` of its unsent addresses (dicts: id, email,
phone_number, consented_at, klaviyo_id, profile_id), makes one Klaviyo request (through the
client: KlaviyoError when it fails, mapping.NotSendable when it can't be sent at all) and
returns the id of the job Klaviyo created, if it answered with one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from events.models import ConsentChange, ConsentKind
from klaviyo_client import consent
from klaviyo_client.client import KlaviyoClient
from klaviyo_client.limits import (
    MAX_LIST_MEMBERS,
    MAX_SUBSCRIBE_PROFILES,
    MAX_SUPPRESSION_EMAILS,
    MAX_UNSUBSCRIBE_PROFILES,
)
from klaviyo_sync.list_senders import list_add_send, list_remove_send

Addresses = list[dict[str, Any]]


@dataclass(frozen=True)
class ConsentSender:
    per_request: int
    send: Callable[[KlaviyoClient, ConsentChange, Addresses, int], str | None]


def _subscribe(client: KlaviyoClient, change: ConsentChange, rows: Addresses, attempt: int) -> Any:
    body = consent.subscribe_body(
        addresses=rows,
        channels=change.channels,
        list_id=change.list_id,
        historical_import=change.historical_import,
    )
    return client.profiles_subscribe(body=body, attempt=attempt)


def _unsubscribe(
    client: KlaviyoClient, change: ConsentChange, rows: Addresses, attempt: int
) -> Any:
    body = consent.unsubscribe_body(
        addresses=rows, channels=change.channels, list_id=change.list_id
    )
    return client.profiles_unsubscribe(body=body, attempt=attempt)


def _suppress(client: KlaviyoClient, change: ConsentChange, rows: Addresses, attempt: int) -> Any:
    body = consent.suppression_body(emails=[row["email"] for row in rows], suppress=True)
    return client.profiles_suppress(body=body, attempt=attempt)


def _unsuppress(client: KlaviyoClient, change: ConsentChange, rows: Addresses, attempt: int) -> Any:
    body = consent.suppression_body(emails=[row["email"] for row in rows], suppress=False)
    return client.profiles_unsuppress(body=body, attempt=attempt)


CONSENT_SENDERS: dict[str, ConsentSender] = {
    ConsentKind.SUBSCRIBE: ConsentSender(MAX_SUBSCRIBE_PROFILES, _subscribe),
    ConsentKind.UNSUBSCRIBE: ConsentSender(MAX_UNSUBSCRIBE_PROFILES, _unsubscribe),
    ConsentKind.SUPPRESS: ConsentSender(MAX_SUPPRESSION_EMAILS, _suppress),
    ConsentKind.UNSUPPRESS: ConsentSender(MAX_SUPPRESSION_EMAILS, _unsuppress),
    # Membership of a list by Klaviyo profile id, 1,000 a call (list_senders.py).
    ConsentKind.LIST_ADD: ConsentSender(MAX_LIST_MEMBERS, list_add_send),
    ConsentKind.LIST_REMOVE: ConsentSender(MAX_LIST_MEMBERS, list_remove_send),
}
