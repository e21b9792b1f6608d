"""Consent changes as Klaviyo's job requests: subscribe and unsubscribe (email and SMS
marketing), suppress and unsuppress (email). Pure functions building the bodies, and the calls
(`ConsentCalls`, a part of KlaviyoClient kept apart as JobCalls is; every call goes through the
client's one `_call`).

Facts relied on (the spec's operations, klaviyo_emulator/openapi/stable.json, and
https://developers.klaviyo.com/en/docs/collect_email_and_sms_consent_via_api):
- consent is given per channel: `subscriptions.email.marketing.consent = "SUBSCRIBED"`, the same
  under `sms`; an unsubscribe says "UNSUBSCRIBED";
- `consented_at` "should only be used when syncing over historical consent info to Klaviyo; if
  the historical_import flag is not included, providing any value for this field will raise an
  error", and with `historical_import` true it "is required and must be in the past";
- with a list (`relationships.list`), a subscribe adds the profiles to it (double opt-in where
  the list has it); an unsubscribe with a list removes them from it, and "profiles not in the
  specified list will be globally unsubscribed";
- subscription jobs answer 202 with no body; suppression jobs answer 202 with the job resource.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from klaviyo_client import operations as ops

if TYPE_CHECKING:
    import requests

CHANNELS = ("email", "sms")  # the channels this project subscribes and unsubscribes
SUBSCRIBED = "SUBSCRIBED"
UNSUBSCRIBED = "UNSUBSCRIBED"


def consent_time(value: datetime) -> str:
    """A consented_at as the spec's date-time (RFC 3339): UTC, with a `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _subscription_profile(
    address: dict[str, Any], *, channels: Iterable[str], consent: str
) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if address.get("email"):
        attributes["email"] = address["email"]
    if address.get("phone_number"):
        attributes["phone_number"] = address["phone_number"]
    subscriptions: dict[str, Any] = {}
    for channel in channels:
        marketing: dict[str, Any] = {"consent": consent}
        if consent == SUBSCRIBED and address.get("consented_at") is not None:
            marketing["consented_at"] = consent_time(address["consented_at"])
        subscriptions[channel] = {"marketing": marketing}
    attributes["subscriptions"] = subscriptions
    return {"type": "profile", "attributes": attributes}


def _list_relationship(list_id: str | None) -> dict[str, Any]:
    if not list_id:
        return {}
    return {"relationships": {"list": {"data": {"type": "list", "id": list_id}}}}


def subscribe_body(
    *,
    addresses: list[dict[str, Any]],
    channels: Iterable[str],
    list_id: str | None,
    historical_import: bool,
) -> dict[str, Any]:
    """POST /api/profile-subscription-bulk-create-jobs: each address (email, phone_number,
    consented_at) subscribed to marketing on `channels`."""
    channels = list(channels)
    attributes: dict[str, Any] = {
        "profiles": {
            "data": [
                _subscription_profile(address, channels=channels, consent=SUBSCRIBED)
                for address in addresses
            ]
        }
    }
    if historical_import:
        attributes["historical_import"] = True
    return {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": attributes,
            **_list_relationship(list_id),
        }
    }


def unsubscribe_body(
    *, addresses: list[dict[str, Any]], channels: Iterable[str], list_id: str | None
) -> dict[str, Any]:
    """POST /api/profile-subscription-bulk-delete-jobs: each address (email, phone_number)
    unsubscribed from marketing on `channels` (and removed from the list, when one is given)."""
    channels = list(channels)
    return {
        "data": {
            "type": "profile-subscription-bulk-delete-job",
            "attributes": {
                "profiles": {
                    "data": [
                        _subscription_profile(address, channels=channels, consent=UNSUBSCRIBED)
                        for address in addresses
                    ]
                }
            },
            **_list_relationship(list_id),
        }
    }


def suppression_body(*, emails: list[str], suppress: bool) -> dict[str, Any]:
    """POST /api/profile-suppression-bulk-create-jobs (suppress) or -delete-jobs (unsuppress)."""
    kind = "create" if suppress else "delete"
    return {
        "data": {
            "type": f"profile-suppression-bulk-{kind}-job",
            "attributes": {
                "profiles": {
                    "data": [{"type": "profile", "attributes": {"email": e}} for e in emails]
                }
            },
        }
    }


class ConsentCalls:
    def _call(self, operation: ops.Operation, **kwargs: Any) -> requests.Response:
        raise NotImplementedError  # KlaviyoClient's

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        raise NotImplementedError  # KlaviyoClient's

    def _job(self, operation: ops.Operation, body: dict[str, Any], attempt: int) -> str | None:
        """Sends one job request; the id of the job Klaviyo answered with, if any."""
        response = self._call(operation, body=body, attempt=attempt)
        if not response.content:
            return None
        job_id = (self._json(response).get("data") or {}).get("id")
        return job_id if isinstance(job_id, str) and job_id else None

    def profiles_subscribe(self, *, body: dict[str, Any], attempt: int = 1) -> str | None:
        """POST /api/profile-subscription-bulk-create-jobs (subscribe_body); 202, no job id."""
        return self._job(ops.SUBSCRIBE_PROFILES, body, attempt)

    def profiles_unsubscribe(self, *, body: dict[str, Any], attempt: int = 1) -> str | None:
        """POST /api/profile-subscription-bulk-delete-jobs (unsubscribe_body)."""
        return self._job(ops.UNSUBSCRIBE_PROFILES, body, attempt)

    def profiles_suppress(self, *, body: dict[str, Any], attempt: int = 1) -> str | None:
        """POST /api/profile-suppression-bulk-create-jobs (suppression_body); the job's id."""
        return self._job(ops.SUPPRESS_PROFILES, body, attempt)

    def profiles_unsuppress(self, *, body: dict[str, Any], attempt: int = 1) -> str | None:
        """POST /api/profile-suppression-bulk-delete-jobs (suppression_body); the job's id."""
        return self._job(ops.UNSUPPRESS_PROFILES, body, attempt)
