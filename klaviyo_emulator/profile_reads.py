"""Reading profiles: `GET /api/profiles` (filters from the operation's `x-klaviyo-filters`,
e.g. `any(email,[...])` to find many profiles' ids in one request) and
`GET /api/profiles/{id}`. With `additional-fields[profile]=subscriptions` each profile carries
its `subscriptions` object (consent per channel, suppressions: consent_resources.py);
`fields[profile]` keeps only the named attributes (sparse fieldsets)."""

from typing import Any

from werkzeug.wrappers import Response

from klaviyo_emulator.consent_resources import list_resource, subscriptions_object
from klaviyo_emulator.context import HandlerContext
from klaviyo_emulator.filters import compare, filter_checks
from klaviyo_emulator.jsonapi import ApiError, collection_links, decode_cursor, document, page_size
from klaviyo_emulator.reads import written_before
from klaviyo_emulator.resources import profile_resource
from klaviyo_emulator.store import StoredProfile

PROFILE_FILTERS = {
    "id": {"any", "equals"},
    "email": {"any", "equals"},
    "phone_number": {"any", "equals"},
    "external_id": {"any", "equals"},
    "_kx": {"equals"},
    "created": {"greater-than", "less-than"},
    "updated": {"greater-than", "less-than"},
    "subscriptions.email.marketing.suppression.reason": {"equals"},
}
SUPPRESSION_REASON = "subscriptions.email.marketing.suppression.reason"


def _names(ctx: HandlerContext, parameter: str) -> list[str]:
    raw = ctx.request.args.get(parameter) or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def additional_fields(ctx: HandlerContext, resource: str) -> list[str]:
    return _names(ctx, f"additional-fields[{resource}]")


def sparse_fields(ctx: HandlerContext, resource: str) -> list[str]:
    return _names(ctx, f"fields[{resource}]")


def rendered(ctx: HandlerContext, profile: StoredProfile) -> dict[str, Any]:
    """The profile resource as asked: with subscriptions if requested, only the fields named."""
    resource = profile_resource(ctx.request, profile)
    if "subscriptions" in additional_fields(ctx, "profile"):
        resource["attributes"]["subscriptions"] = subscriptions_object(
            ctx.store.consent.of(profile.id)
        )
    if fields := sparse_fields(ctx, "profile"):
        keep = {name.split(".")[0] for name in fields} | {"subscriptions"}
        resource["attributes"] = {k: v for k, v in resource["attributes"].items() if k in keep}
    return resource


def _profile_value(ctx: HandlerContext, profile: StoredProfile, field: str) -> Any:
    if field == "id":
        return profile.id
    if field in ("created", "updated"):
        return getattr(profile, field)
    if field == SUPPRESSION_REASON:
        return [s.reason for s in ctx.store.consent.of(profile.id).suppressions]
    value = profile.attributes.get(field)
    return value.lower() if field == "email" and isinstance(value, str) else value


def _matches(ctx: HandlerContext, profile: StoredProfile, op: str, field: str, value: Any) -> bool:
    actual = _profile_value(ctx, profile, field)
    if field == SUPPRESSION_REASON:
        return value in actual
    return compare(op, actual, value)


def get_profiles(ctx: HandlerContext) -> Response:
    checks = filter_checks(
        ctx.request.args.get("filter"),
        allowed=PROFILE_FILTERS,
        datetime_fields={"created", "updated"},
    )
    sort = ctx.request.args.get("sort") or "id"
    if sort.lstrip("-") not in ("id", "created", "updated", "email"):
        raise ApiError.one(400, f"'{sort}' is not a supported sort field.", parameter="sort")
    before = written_before(ctx)
    with ctx.store.lock:
        profiles = [
            p
            for p in ctx.store.profiles.values()
            if all(_matches(ctx, p, op, field, v) for op, field, v in checks)
            and (before is None or p.created <= before)
        ]
    key = sort.lstrip("-")
    profiles.sort(key=lambda p: (_profile_value(ctx, p, key) or "", p.id), reverse=sort[0] == "-")
    offset = decode_cursor(ctx.request.args.get("page[cursor]"))
    size = page_size(ctx.request, default=20, maximum=100)
    links = collection_links(ctx.request, offset=offset, size=size, total=len(profiles))
    with ctx.store.lock:
        data = [rendered(ctx, p) for p in profiles[offset : offset + size]]
    return document({"data": data, "links": links})


def get_profile(ctx: HandlerContext) -> Response:
    """`include=lists` adds the profile's lists as included resources."""
    with ctx.store.lock:
        profile = ctx.store.profiles.get(ctx.args["id"])
        before = written_before(ctx)
        if profile is None or (before is not None and profile.created > before):
            raise ApiError.one(
                404, f"A profile with id {ctx.args['id']} does not exist.", parameter="id"
            )
        payload: dict[str, Any] = {
            "data": rendered(ctx, profile),
            "links": {"self": f"{ctx.request.base_url}"},
        }
        if "lists" in _names(ctx, "include"):
            payload["included"] = [
                list_resource(ctx.request, ctx.store.lists.lists[list_id])
                for list_id in ctx.store.lists.lists_of(profile.id)
            ]
    return document(payload)
