"""Lists: `GET/POST /api/lists`, `GET /api/lists/{id}`, members by id
(`GET/POST/DELETE /api/lists/{id}/relationships/profiles`) and as profiles
(`GET /api/lists/{id}/profiles`). Filters, sorts and page sizes are each operation's in the spec
(GET /api/lists: 10 a page at most; members: 20 by default, 100 at most). Membership changes
land in the history (history.py) and never touch consent (lists_store.py)."""

from typing import Any

from werkzeug.wrappers import Response

from klaviyo_emulator.consent_resources import list_resource, subscriptions_object
from klaviyo_emulator.consent_writes import list_not_found, over_cap
from klaviyo_emulator.context import HandlerContext
from klaviyo_emulator.filters import Check, compare, filter_checks
from klaviyo_emulator.jsonapi import ApiError, document, empty, error_item
from klaviyo_emulator.lists_store import StoredList
from klaviyo_emulator.profile_reads import additional_fields, sparse_fields
from klaviyo_emulator.reads import page_of
from klaviyo_emulator.resources import iso, profile_resource
from klaviyo_emulator.store import StoredProfile, now_utc

# "This endpoint accepts a maximum of 1000 profiles per call" (add/remove_profiles_from_list).
MAX_LIST_MEMBERS = 1000
LIST_FILTERS = {
    "name": {"any", "equals"},
    "id": {"any", "equals"},
    "created": {"greater-than"},
    "updated": {"greater-than"},
}
RANGE = {"greater-or-equal", "greater-than", "less-or-equal", "less-than"}
DATETIME_FIELDS = {"created", "updated", "joined_group_at"}
MEMBER_FILTERS = {
    "email": {"any", "equals"},
    "phone_number": {"any", "equals"},
    "push_token": {"any", "equals"},
    "_kx": {"equals"},
    "joined_group_at": RANGE,
}


def _list(ctx: HandlerContext) -> StoredList:
    stored = ctx.store.lists.lists.get(ctx.args["id"])
    if stored is None:
        raise ApiError.one(404, f"A list with id {ctx.args['id']} does not exist.", parameter="id")
    return stored


def _checks(ctx: HandlerContext, allowed: dict[str, set[str]]) -> list[Check]:
    return filter_checks(
        ctx.request.args.get("filter"), allowed=allowed, datetime_fields=DATETIME_FIELDS
    )


def create_list(ctx: HandlerContext) -> Response:
    attributes = ctx.body["data"]["attributes"]
    name = attributes["name"]
    if not name.strip():
        raise ApiError.one(400, "A list needs a name.", pointer="/data/attributes/name")
    with ctx.store.lock:
        stored = ctx.store.lists.create(
            name=name, at=now_utc(), opt_in_process=attributes.get("opt_in_process")
        )
        resource = list_resource(ctx.request, stored)
    return document({"data": resource, "links": {"self": resource["links"]["self"]}}, 201)


def get_lists(ctx: HandlerContext) -> Response:
    checks = _checks(ctx, LIST_FILTERS)
    sort = ctx.request.args.get("sort") or "id"
    key = sort.lstrip("-")
    with ctx.store.lock:
        lists = [
            stored
            for stored in ctx.store.lists.lists.values()
            if all(compare(op, getattr(stored, field), v) for op, field, v in checks)
        ]
    lists.sort(key=lambda stored: (getattr(stored, key), stored.id), reverse=sort[0] == "-")
    page, links = page_of(ctx, lists, default=10, maximum=10)
    return document({"data": [list_resource(ctx.request, s) for s in page], "links": links})


def get_list(ctx: HandlerContext) -> Response:
    count = "profile_count" in additional_fields(ctx, "list")
    with ctx.store.lock:
        resource = list_resource(ctx.request, _list(ctx), profile_count=count)
    return document({"data": resource, "links": {"self": f"{ctx.request.base_url}"}})


def _member_value(profile: StoredProfile, joined: Any, field: str) -> Any:
    if field == "joined_group_at":
        return joined
    if field == "push_token":
        return None  # the emulated account keeps no push tokens
    value = profile.attributes.get(field)
    return value.lower() if field == "email" and isinstance(value, str) else value


def _members(ctx: HandlerContext) -> list[tuple[StoredProfile, Any]]:
    checks = _checks(ctx, MEMBER_FILTERS)
    sort = ctx.request.args.get("sort") or "joined_group_at"
    with ctx.store.lock:
        members = [
            (ctx.store.profiles[profile_id], joined)
            for profile_id, joined in _list(ctx).members.items()
        ]
    members = [
        (profile, joined)
        for profile, joined in members
        if all(compare(op, _member_value(profile, joined, f), v) for op, f, v in checks)
    ]
    members.sort(key=lambda member: (member[1], member[0].id), reverse=sort.startswith("-"))
    return members


def get_profile_ids_for_list(ctx: HandlerContext) -> Response:
    page, links = page_of(ctx, _members(ctx), default=20, maximum=100)
    data = [{"type": "profile", "id": profile.id} for profile, _ in page]
    return document({"data": data, "links": links})


def get_profiles_for_list(ctx: HandlerContext) -> Response:
    page, links = page_of(ctx, _members(ctx), default=20, maximum=100)
    with_subscriptions = "subscriptions" in additional_fields(ctx, "profile")
    fields = sparse_fields(ctx, "profile")
    data = []
    with ctx.store.lock:
        for profile, joined in page:
            resource = profile_resource(ctx.request, profile)
            resource["attributes"]["joined_group_at"] = iso(joined)
            if with_subscriptions:
                consent = ctx.store.consent.of(profile.id)
                resource["attributes"]["subscriptions"] = subscriptions_object(consent)
            if fields:
                resource["attributes"] = {
                    k: v for k, v in resource["attributes"].items() if k in fields
                }
            data.append(resource)
    return document({"data": data, "links": links})


def _membership_change(ctx: HandlerContext, *, add: bool) -> Response:
    references = ctx.body["data"]
    pointer = "/data"
    if len(references) > MAX_LIST_MEMBERS:
        raise over_cap(len(references), MAX_LIST_MEMBERS, pointer)
    now = now_utc()
    endpoint = "add_profiles_to_list" if add else "remove_profiles_from_list"
    with ctx.store.lock:
        stored = ctx.store.lists.lists.get(ctx.args["id"])
        if stored is None:
            raise list_not_found(ctx.args["id"], "/data")
        # JSON:API: a reference to a resource that does not exist is a 404 (jsonapi.org,
        # "Updating Relationships"); none of the request is applied then.
        missing = [
            error_item(
                404, f"A profile with id {ref['id']} does not exist.", pointer=f"/data/{i}/id"
            )
            for i, ref in enumerate(references)
            if ref["id"] not in ctx.store.profiles
        ]
        if missing:
            raise ApiError(404, missing)
        change = ctx.store.lists.add if add else ctx.store.lists.remove
        for reference in references:
            profile = ctx.store.profiles[reference["id"]]
            change(stored.id, profile.id, at=now, endpoint=endpoint, identifiers=profile.attributes)
    return empty(204)


def add_profiles_to_list(ctx: HandlerContext) -> Response:
    return _membership_change(ctx, add=True)


def remove_profiles_from_list(ctx: HandlerContext) -> Response:
    return _membership_change(ctx, add=False)
