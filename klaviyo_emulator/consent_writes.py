"""Consent jobs: subscribe, unsubscribe (`profile-subscription-bulk-*-jobs`: 202, no body, no
job to poll: the spec gives them no GET route) and suppress, unsuppress
(`profile-suppression-bulk-*-jobs`: 202 with a job to poll, consent_reads.py). A job that
breaks one of Klaviyo's rules is refused whole with a 400 naming each problem; an accepted one
is applied at once, in the order received (history.py). State rules: consent_store.py.
"""

from typing import Any

from werkzeug.wrappers import Response

from klaviyo_emulator import ids
from klaviyo_emulator.consent_resources import suppression_job_resource
from klaviyo_emulator.consent_rules import (
    channel_requests,
    consented_at_errors,
    identifier_errors,
)
from klaviyo_emulator.context import HandlerContext
from klaviyo_emulator.double_opt_in import confirmation_request
from klaviyo_emulator.jsonapi import ApiError, document, empty, error_item
from klaviyo_emulator.lists_store import DOUBLE_OPT_IN
from klaviyo_emulator.rules import EMAIL
from klaviyo_emulator.store import StoredProfile, now_utc
from klaviyo_emulator.suppression_jobs import SuppressionJob

# Per request, from each operation's description in the spec: "Maximum number of profiles can
# be submitted for subscription: 1000"; unsubscribe "Maximum number of profiles per call: 100";
# (un)suppress "Email address per request limit: 100".
MAX_SUBSCRIBE_PROFILES = 1000
MAX_UNSUBSCRIBE_PROFILES = 100
MAX_SUPPRESSION_EMAILS = 100
PROFILES = "/data/attributes/profiles/data"
LIST_POINTER = "/data/relationships/list/data/id"
Errors = list[dict[str, Any]]


def over_cap(count: int, cap: int, pointer: str) -> ApiError:
    return ApiError.one(
        400,
        f"At most {cap} profiles are allowed per request; this one has {count}.",
        pointer=pointer,
    )


def list_not_found(list_id: str, pointer: str) -> ApiError:
    return ApiError.one(404, f"A list with id {list_id} does not exist.", pointer=pointer)


def _related_id(data: dict[str, Any], name: str) -> str | None:
    related = ((data.get("relationships") or {}).get(name) or {}).get("data")
    return related["id"] if related else None


def _list_of(ctx: HandlerContext, data: dict[str, Any]) -> str | None:
    list_id = _related_id(data, "list")
    if list_id is not None and list_id not in ctx.store.lists.lists:
        raise list_not_found(list_id, LIST_POINTER)
    return list_id


def _profile_for(ctx: HandlerContext, profile_data: dict[str, Any]) -> StoredProfile:
    """Finds the profile by id or identifiers, or creates it ("If a profile cannot be found
    matching the given identifier(s), a new profile will be created", spec)."""
    attributes = profile_data.get("attributes") or {}
    identifiers = {k: attributes[k] for k in ("email", "phone_number") if attributes.get(k)}
    profile, _ = ctx.store.profile_upsert(attributes=identifiers, profile_id=profile_data.get("id"))
    return profile


def _unknown_id_errors(ctx: HandlerContext, profile_data: dict[str, Any], pointer: str) -> Errors:
    profile_id = profile_data.get("id")
    if profile_id and profile_id not in ctx.store.profiles:
        return [error_item(404, f"A profile with id {profile_id} does not exist.", pointer=pointer)]
    return []


def _refuse(errors: Errors) -> None:
    if errors:
        # A missing profile is a 404 (JSON:API: a reference to a resource that does not
        # exist); any other problem makes the answer a 400.
        raise ApiError(400 if any(e["status"] == 400 for e in errors) else 404, errors)


def bulk_subscribe_profiles(ctx: HandlerContext) -> Response:
    data = ctx.body["data"]
    attributes = data["attributes"]
    profiles = attributes["profiles"]["data"]
    if len(profiles) > MAX_SUBSCRIBE_PROFILES:
        raise over_cap(len(profiles), MAX_SUBSCRIBE_PROFILES, PROFILES)
    historical = bool(attributes.get("historical_import"))
    list_id = _list_of(ctx, data)
    now = now_utc()
    errors: Errors = []
    for index, profile_data in enumerate(profiles):
        pointer = f"{PROFILES}/{index}/attributes"
        profile_attributes = profile_data["attributes"]
        subscriptions = profile_attributes["subscriptions"]
        channels = channel_requests(subscriptions, f"{pointer}/subscriptions")
        errors += identifier_errors(
            profile_attributes,
            channels,
            pointer,
            has_id=bool(profile_data.get("id")),
            faults=ctx.faults,
        )
        errors += consented_at_errors(
            subscriptions, f"{pointer}/subscriptions", historical_import=historical, now=now
        )
        errors += _unknown_id_errors(ctx, profile_data, f"{PROFILES}/{index}/id")
    _refuse(errors)
    stored_list = ctx.store.lists.lists.get(list_id) if list_id is not None else None
    # A double opt-in list holds email subscriptions until confirmed (double_opt_in.py).
    double = stored_list is not None and stored_list.opt_in_process == DOUBLE_OPT_IN
    double = double and not historical
    custom_source = attributes.get("custom_source")
    with ctx.store.lock:
        for profile_data in profiles:
            profile = _profile_for(ctx, profile_data)
            channels = channel_requests(profile_data["attributes"]["subscriptions"], "")
            waiting = [c.key for c in channels if double and c.key.startswith("email.")]
            for channel in channels:
                if channel.key in waiting:
                    continue
                ctx.store.consent.subscribe(
                    profile.id,
                    channel.key,
                    at=now,
                    consented_at=channel.consented_at,
                    custom_source=custom_source,
                    endpoint="bulk_subscribe_profiles",
                    identifiers=profile.attributes,
                    list_id=list_id,
                )
            if waiting and stored_list is not None:
                confirmation_request(
                    ctx.store, stored_list, profile, waiting, custom_source=custom_source, at=now
                )
            elif list_id is not None:
                # "All profiles will be added to the provided list" (spec).
                ctx.store.lists.add(
                    list_id,
                    profile.id,
                    at=now,
                    endpoint="bulk_subscribe_profiles",
                    identifiers=profile.attributes,
                )
    return empty(202)


def bulk_unsubscribe_profiles(ctx: HandlerContext) -> Response:
    """A global unsubscribe of each channel named (the account's global unsubscribe,
    consent_store.py); with a list, its members also leave that list."""
    data = ctx.body["data"]
    profiles = data["attributes"]["profiles"]["data"]
    if len(profiles) > MAX_UNSUBSCRIBE_PROFILES:
        raise over_cap(len(profiles), MAX_UNSUBSCRIBE_PROFILES, PROFILES)
    list_id = _list_of(ctx, data)
    errors: Errors = []
    for index, profile_data in enumerate(profiles):
        pointer = f"{PROFILES}/{index}/attributes"
        profile_attributes = profile_data["attributes"]
        channels = channel_requests(profile_attributes["subscriptions"], f"{pointer}/subscriptions")
        errors += identifier_errors(
            profile_attributes, channels, pointer, has_id=False, faults=ctx.faults
        )
    _refuse(errors)
    now = now_utc()
    endpoint = "bulk_unsubscribe_profiles"
    with ctx.store.lock:
        for profile_data in profiles:
            profile = _profile_for(ctx, profile_data)
            for channel in channel_requests(profile_data["attributes"]["subscriptions"], ""):
                ctx.store.consent.unsubscribe(
                    profile.id,
                    channel.key,
                    at=now,
                    endpoint=endpoint,
                    identifiers=profile.attributes,
                )
            if list_id is not None:
                ctx.store.lists.remove(
                    list_id, profile.id, at=now, endpoint=endpoint, identifiers=profile.attributes
                )
    return empty(202)


def _suppression_targets(ctx: HandlerContext) -> tuple[list[str], list[str]]:
    """The emails a suppression job names (its profiles, or every member of its list), and
    the list ids it names."""
    data = ctx.body["data"]
    profiles = (data["attributes"].get("profiles") or {}).get("data")
    list_id, segment_id = _related_id(data, "list"), _related_id(data, "segment")
    if sum(source is not None for source in (profiles, list_id, segment_id)) != 1:
        raise ApiError.one(
            400, "Provide exactly one of profiles, a list or a segment.", pointer="/data"
        )
    if segment_id is not None:  # the emulated account has no segments
        raise ApiError.one(
            404,
            f"A segment with id {segment_id} does not exist.",
            pointer="/data/relationships/segment/data/id",
        )
    if list_id is not None:
        if list_id not in ctx.store.lists.lists:
            raise list_not_found(list_id, LIST_POINTER)
        with ctx.store.lock:
            members = ctx.store.lists.lists[list_id].members
            emails = [ctx.store.profiles[p].attributes.get("email") for p in members]
        return [email for email in emails if email], [list_id]
    if len(profiles) > MAX_SUPPRESSION_EMAILS:
        raise over_cap(len(profiles), MAX_SUPPRESSION_EMAILS, PROFILES)
    errors = [
        error_item(
            400, f"Invalid email address: {email}", pointer=f"{PROFILES}/{i}/attributes/email"
        )
        for i, email in enumerate(p["attributes"]["email"] for p in profiles)
        if not EMAIL.fullmatch(email) or ctx.faults.rejects(email)
    ]
    _refuse(errors)
    return [p["attributes"]["email"] for p in profiles], []


def _suppression_job(ctx: HandlerContext, *, suppress: bool) -> Response:
    job_type = (
        "profile-suppression-bulk-create-job" if suppress else "profile-suppression-bulk-delete-job"
    )
    emails, list_ids = _suppression_targets(ctx)
    endpoint = "bulk_suppress_profiles" if suppress else "bulk_unsuppress_profiles"
    now = now_utc()
    job = SuppressionJob(
        id=ids.job_id(),
        type=job_type,
        total_count=len(emails),
        completed_count=0,
        skipped_count=0,
        created_at=now,
        list_ids=list_ids,
    )
    with ctx.store.lock:
        for email in emails:
            if suppress:
                # "If a profile is not found with the given email, one will be created and
                # immediately suppressed" (spec).
                profile, _ = ctx.store.profile_upsert(attributes={"email": email})
            else:
                # "If a profile is not found with the given email, no action will be taken."
                profile = ctx.store.profile_find(attributes={"email": email})
                if profile is None:
                    job.skipped_count += 1
                    continue
            change = ctx.store.consent.suppress if suppress else ctx.store.consent.unsuppress
            change(profile.id, at=now, endpoint=endpoint, identifiers=profile.attributes)
            job.completed_count += 1
        ctx.store.suppression_jobs[job.id] = job
    return document({"data": suppression_job_resource(ctx.request, job)}, 202)


def bulk_suppress_profiles(ctx: HandlerContext) -> Response:
    return _suppression_job(ctx, suppress=True)


def bulk_unsuppress_profiles(ctx: HandlerContext) -> Response:
    return _suppression_job(ctx, suppress=False)
