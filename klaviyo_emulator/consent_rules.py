"""What Klaviyo refuses in a subscribe or unsubscribe job that the OpenAPI schema lets through
(spec descriptions, revision 2026-07-15):

- "Either email or phone number is required" for each profile (or its `id`, "used to perform
  the lookup"); the email channel needs the email, SMS and WhatsApp the phone number, which
  "must be in E.164 format".
- `consented_at`: "if the `historical_import` flag is not included, providing any value for
  this field will raise an error"; with `historical_import` "the consented_at field is required
  and must be in the past" (Klaviyo's answer when it is not: "Historical email subscription does
  not have a valid consented at timestamp", community.klaviyo.com developer group, topic 17405).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from klaviyo_emulator.faults import Faults
from klaviyo_emulator.jsonapi import error_item
from klaviyo_emulator.rules import address_errors
from klaviyo_emulator.store import parse_time

Errors = list[dict[str, Any]]
NEEDS_PHONE = ("sms", "whatsapp")


@dataclass(frozen=True)
class ChannelRequest:
    key: str  # "email.marketing", "sms.marketing", ...
    consented_at: datetime | None
    pointer: str


def channel_requests(subscriptions: dict[str, Any], pointer: str) -> list[ChannelRequest]:
    """Each channel and message type a profile's `subscriptions` names (null ones left out)."""
    found: list[ChannelRequest] = []
    for channel, types in (subscriptions or {}).items():
        if not isinstance(types, dict):
            continue
        for kind, parameters in types.items():
            if not isinstance(parameters, dict) or "consent" not in parameters:
                continue
            found.append(
                ChannelRequest(
                    key=f"{channel}.{kind}",
                    consented_at=_moment(parameters.get("consented_at")),
                    pointer=f"{pointer}/{channel}/{kind}",
                )
            )
    return found


def identifier_errors(
    attributes: dict[str, Any],
    channels: list[ChannelRequest],
    pointer: str,
    *,
    has_id: bool,
    faults: Faults,
) -> Errors:
    """`pointer` points at the profile's `attributes`."""
    errors: Errors = []
    email, phone = attributes.get("email"), attributes.get("phone_number")
    if not (email or phone or has_id):
        errors.append(error_item(400, "Either email or phone number is required.", pointer=pointer))
    errors += address_errors(attributes, pointer, faults=faults)
    if has_id:
        return errors
    for channel in channels:
        if channel.key.startswith("email.") and not email:
            errors.append(
                error_item(
                    400, "An email address is required for the email channel.", pointer=pointer
                )
            )
        if channel.key.split(".")[0] in NEEDS_PHONE and not phone:
            errors.append(
                error_item(
                    400,
                    f"A phone number in E.164 format is required for the "
                    f"{channel.key.split('.')[0]} channel.",
                    pointer=f"{pointer}/phone_number",
                )
            )
    return errors


def consented_at_errors(
    subscriptions: dict[str, Any], pointer: str, *, historical_import: bool, now: datetime
) -> Errors:
    """`pointer` points at the profile's `subscriptions`."""
    errors: Errors = []
    for channel, types in (subscriptions or {}).items():
        for kind, parameters in (types or {}).items() if isinstance(types, dict) else ():
            if not isinstance(parameters, dict) or "consent" not in parameters:
                continue
            where = f"{pointer}/{channel}/{kind}/consented_at"
            raw = parameters.get("consented_at")
            if not historical_import:
                if raw is not None:
                    errors.append(
                        error_item(
                            400,
                            "consented_at may only be provided when historical_import is true.",
                            pointer=where,
                        )
                    )
                continue
            moment = _moment(raw)
            if moment is None or moment > now:
                errors.append(
                    error_item(
                        400,
                        f"Historical {channel} subscription does not have a valid consented at "
                        "timestamp (required with historical_import, and in the past).",
                        pointer=where,
                    )
                )
    return errors


def _moment(raw: Any) -> datetime | None:
    try:
        return parse_time(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
