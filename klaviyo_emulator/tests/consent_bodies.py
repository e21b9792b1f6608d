"""Request bodies of Klaviyo's consent and list endpoints, for the emulator's tests."""

from typing import Any


def channels(*names: str, consented_at: str | None = None, consent: str = "SUBSCRIBED"):
    marketing: dict[str, Any] = {"consent": consent}
    if consented_at is not None:
        marketing["consented_at"] = consented_at
    return {name: {"marketing": dict(marketing)} for name in names}


def subscribe_body(
    profiles: list[dict[str, Any]],
    *,
    list_id: str | None = None,
    historical_import: bool | None = None,
    custom_source: str | None = None,
) -> dict[str, Any]:
    """profiles: attributes with `subscriptions` (default: email marketing)."""
    attributes: dict[str, Any] = {
        "profiles": {
            "data": [
                {
                    "type": "profile",
                    "attributes": {"subscriptions": channels("email"), **profile},
                }
                for profile in profiles
            ]
        }
    }
    if historical_import is not None:
        attributes["historical_import"] = historical_import
    if custom_source is not None:
        attributes["custom_source"] = custom_source
    data: dict[str, Any] = {
        "type": "profile-subscription-bulk-create-job",
        "attributes": attributes,
    }
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def unsubscribe_body(profiles: list[dict[str, Any]], *, list_id: str | None = None):
    body = subscribe_body(
        [
            {"subscriptions": channels("email", consent="UNSUBSCRIBED"), **profile}
            for profile in profiles
        ],
        list_id=list_id,
    )
    body["data"]["type"] = "profile-subscription-bulk-delete-job"
    return body


def suppression_body(
    emails: list[str] | None, *, delete: bool = False, list_id: str | None = None
) -> dict[str, Any]:
    kind = "delete" if delete else "create"
    data: dict[str, Any] = {"type": f"profile-suppression-bulk-{kind}-job", "attributes": {}}
    if emails is not None:
        data["attributes"]["profiles"] = {
            "data": [{"type": "profile", "attributes": {"email": email}} for email in emails]
        }
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def members_body(profile_ids: list[str]) -> dict[str, Any]:
    return {"data": [{"type": "profile", "id": profile_id} for profile_id in profile_ids]}
