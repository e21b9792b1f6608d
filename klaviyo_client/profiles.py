"""Our profiles as Klaviyo's profile resources: what an event or a profile sync tells Klaviyo.

The camelCase keys clients send (or Klaviyo's own snake_case names) become Klaviyo's standard
attributes, location keys (top level or inside `location`) its `location`, and every other key
a custom property. Nothing is dropped.

What is sent is a change, not the whole local profile: an event carries the profile attributes
it was sent with (the changes of a profile's events sent together merged in order), so an edit
made in Klaviyo itself (a signup form, another integration) is not overwritten by the next
unrelated event. Each key goes as it now stands locally, not as the change had it: a change
sent late (a retry) does not undo a later one of the same key that went first. A null clears:
a standard attribute or location key is sent as null (Klaviyo: "null clears a field; leaving
a field out leaves it unchanged", ProfileUpsertQuery); a custom property is removed with
`meta.patch_properties.unset` (ProfileMetaPatchProperties), as a null there would be kept as a
value. A `location` removed or replaced clears every location key the new one lacks.

Where `meta` sits depends on the revision (NOTES.md §4): in an event's profile, inside
`attributes` up to 2026-07-15 and beside them from 2026-10-15; beside them in profile-import,
PATCH /profiles and a bulk entry's profile in every revision.
"""

from __future__ import annotations

from typing import Any

from klaviyo_client.mapping import (
    E164,
    NotSendable,
    _location_value,
    _size_problem,
    _text,
    dumps,
    encoded_size_problem,
)
from klaviyo_client.names import LOCATION_ATTRIBUTES, STANDARD_ATTRIBUTES

# A visitor's id before they are known (Segment's and RudderStack's anonymousId): an identifier
# of the profile in an event, as Klaviyo's EventProfileCreateQueryResourceObject has it.
ANONYMOUS_ID_NAMES = {"anonymousId", "anonymous_id"}
IDENTIFIERS = ("email", "phone_number", "external_id", "anonymous_id")
# A null phone number or external id clears it (the profile's column is cleared too; a column
# still set wins, as every identifier of the row does); an email or a visitor id stays.
UNCLEARABLE_IDENTIFIERS = ("email", "anonymous_id")
# Location keys a null can't clear: the spec makes them `nullable` beside a `oneOf` with no
# `type` (ProfileLocation), where OpenAPI 3.0.3 ignores it, and the emulator's checks refuse
# the null (400, the whole profile failed). Left as Klaviyo holds them instead.
UNCLEARABLE_LOCATION = frozenset({"latitude", "longitude"})
# The first revision whose event profile carries `meta` beside its attributes.
EVENT_PROFILE_META_BESIDE_FROM = "2026-10-15"


def event_profile_meta_inside(revision: str) -> bool:
    """Whether an event's profile carries `meta` inside its attributes in this revision."""
    return revision[:10] < EVENT_PROFILE_META_BESIDE_FROM


def _location(
    value: Any, now: Any, location: dict[str, Any], properties: dict[str, Any], unset: list[str]
) -> None:
    """A change of `location`, as it now stands (`now`): the Klaviyo location keys it touched,
    every one where it removed or replaced the object (null, or an object marked `replaces`:
    events.merge_patch.ReplacedObject, a null then an object folded into one change), null
    where none is left; its custom keys as the custom property `location`, whole (Klaviyo
    replaces a property), unset once none is left."""
    whole = not isinstance(value, dict) or getattr(value, "replaces", False)
    stands = now if isinstance(now, dict) else {}
    touched = LOCATION_ATTRIBUTES if whole else [key for key in value if key in LOCATION_ATTRIBUTES]
    for sub_key in touched:
        if (sub_value := stands.get(sub_key)) is not None:
            location[sub_key] = _location_value(sub_key, sub_value, f"location.{sub_key}")
        elif sub_key not in UNCLEARABLE_LOCATION:
            location[sub_key] = None
    if not whole and len(touched) == len(value):
        return  # no custom key touched
    if now is not None and not isinstance(now, dict):  # a custom `location` that isn't an object
        properties["location"] = now
    elif custom := {
        k: v for k, v in stands.items() if k not in LOCATION_ATTRIBUTES and v is not None
    }:
        properties["location"] = custom
    else:
        unset.append("location")


def profile_parts(
    *,
    email: str | None,
    phone_number: str | None,
    external_id: str | None,
    attributes: dict[str, Any],
    current: dict[str, Any] | None = None,
    in_event: bool = True,
    check_sizes: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """Klaviyo profile `attributes` for our profile columns and the (camelCase) attribute
    changes to send, and the custom properties to unset. Raises NotSendable.

    `current`: the local merged view, whose value of a custom object is sent whole (Klaviyo
    replaces a property's value; our nested merge happened locally). `in_event`: the profile
    of an event, which may be identified by `anonymous_id` alone; profile-import has had no
    anonymous_id since revision 2026-01-15 (NOTES.md §4), so there the visitor id stays ours."""
    current = attributes if current is None else current
    mapped: dict[str, Any] = {}
    location: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    unset: list[str] = []
    for key, value in attributes.items():
        # A key the change touched goes as it now stands here (`current`): where a later change
        # of it went first (an event, while this one waited for its retry), Klaviyo keeps it.
        now = current.get(key)
        if key in ANONYMOUS_ID_NAMES:
            if in_event and value is not None:
                mapped["anonymous_id"] = _text(value, key)
        elif key in STANDARD_ATTRIBUTES:
            if now is not None:
                mapped[STANDARD_ATTRIBUTES[key]] = _text(now, key)
            elif STANDARD_ATTRIBUTES[key] not in UNCLEARABLE_IDENTIFIERS:
                mapped[STANDARD_ATTRIBUTES[key]] = None  # the row's own, below, win
        elif key in LOCATION_ATTRIBUTES:
            if now is not None:
                location[key] = _location_value(key, now, key)
            elif key not in UNCLEARABLE_LOCATION:
                location[key] = None
        elif key == "location" and (
            value is None or isinstance(value, dict) or isinstance(now, dict)
        ):
            _location(value, now, location, properties, unset)
        elif now is None:
            unset.append(key)
        else:
            properties[key] = now
    # The profile's own identifiers win over attributes that disagree with them.
    for name, value in (
        ("email", email),
        ("phone_number", phone_number),
        ("external_id", external_id),
    ):
        if value:
            if mapped.get(name) not in (None, value):
                properties[name] = mapped[name]
            mapped[name] = value
    phone = mapped.get("phone_number")
    if phone is not None and not E164.fullmatch(phone):
        raise NotSendable("profileAttributes.phoneNumber must be in E.164 format (+15005550006)")
    if not any(mapped.get(name) for name in IDENTIFIERS):
        raise NotSendable(
            "the profile has no email, phone number, external id"
            + (" or anonymous id" if in_event else " (an anonymous id is only for events)")
        )
    if location:
        mapped["location"] = location
    if properties:
        mapped["properties"] = properties
    if check_sizes and (problem := _size_problem(mapped, depth=0)):
        raise NotSendable(f"profile: {problem}")
    return mapped, unset


def profile_attributes(**kwargs: Any) -> dict[str, Any]:
    """The `attributes` of `profile_parts`, for callers that unset nothing."""
    return profile_parts(**kwargs)[0]


def profile_resource(
    *,
    profile_row: dict[str, Any],
    changes: dict[str, Any] | None = None,
    in_event: bool = True,
    check_sizes: bool = True,
) -> dict[str, Any]:
    """A JSON:API profile resource from a Profile row's values (email, phone_number,
    external_id, attributes): the attribute `changes` given (default: the whole row's
    attributes), for an event or (`in_event=False`) for profile-import. A custom property
    to remove is in `meta` beside the attributes; see `event_profile` for a single event."""
    current = profile_row.get("attributes") or {}
    attributes, unset = profile_parts(
        email=profile_row.get("email"),
        phone_number=profile_row.get("phone_number"),
        external_id=profile_row.get("external_id"),
        attributes=current if changes is None else changes,
        current=current,
        in_event=in_event,
        check_sizes=check_sizes,
    )
    resource: dict[str, Any] = {"type": "profile", "attributes": attributes}
    if unset:
        resource["meta"] = {"patch_properties": {"unset": unset}}
    return resource


def profile_import_resource_encoded(
    *, profile_row: dict[str, Any], changes: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    """profile_resource for profile-import (or a bulk import job) with its JSON, encoded once,
    Klaviyo's size limits checked on that JSON first (mapping.encoded_size_problem: for a
    bulk import job's 10,000 profiles, the walk of every value was a fifth of their cost)."""
    resource = profile_resource(
        profile_row=profile_row, changes=changes, in_event=False, check_sizes=False
    )
    body = dumps(resource)
    if problem := encoded_size_problem(body, resource["attributes"]):
        raise NotSendable(f"profile: {problem}")
    return resource, body


def event_profile(resource: dict[str, Any], *, revision: str) -> dict[str, Any]:
    """A profile resource as POST /api/events takes it in `revision`: up to 2026-07-15 its
    `meta` goes inside `attributes`."""
    if "meta" not in resource or not event_profile_meta_inside(revision):
        return resource
    moved = {key: value for key, value in resource.items() if key != "meta"}
    moved["attributes"] = {**resource["attributes"], "meta": resource["meta"]}
    return moved
