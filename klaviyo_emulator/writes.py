"""Endpoints that write: events (single and bulk), profile import, profile bulk import jobs."""

from typing import Any

from werkzeug.wrappers import Response

from klaviyo_emulator import ids
from klaviyo_emulator.context import HandlerContext
from klaviyo_emulator.jsonapi import ApiError, document, empty, error_item
from klaviyo_emulator.resources import import_job_resource, profile_resource
from klaviyo_emulator.rules import (
    MAX_BULK_EVENTS,
    bulk_duplicate_errors,
    event_errors,
    profile_errors,
)
from klaviyo_emulator.store import ImportJob, now_utc

MAX_BULK_PROFILES = 10_000
BULK_POINTER = "/data/attributes/events-bulk-create/data"


def _profile_attributes(profile_data: dict[str, Any]) -> dict[str, Any]:
    # `meta` (patch operations) is not stored as an attribute.
    return {k: v for k, v in (profile_data.get("attributes") or {}).items() if k != "meta"}


def create_event(ctx: HandlerContext) -> Response:
    attributes = ctx.body["data"]["attributes"]
    profile_data = attributes["profile"]["data"]
    profile = _profile_attributes(profile_data)
    errors = profile_errors(
        profile,
        "/data/attributes/profile/data/attributes",
        faults=ctx.faults,
        has_id=bool(profile_data.get("id")),
        allow_anonymous=True,
    )
    now = now_utc()
    errors += event_errors(attributes, "/data/attributes", now=now)
    if errors:
        raise ApiError(400, errors)
    with ctx.store.lock:
        stored, _ = ctx.store.profile_upsert(attributes=profile, profile_id=profile_data.get("id"))
        ctx.store.event_record(profile=stored, profile_sent=profile, event=attributes, now=now)
    return empty(202)


def bulk_create_events(ctx: HandlerContext) -> Response:
    entries = ctx.body["data"]["attributes"]["events-bulk-create"]["data"]
    total = sum(len(entry["attributes"]["events"]["data"]) for entry in entries)
    if total > MAX_BULK_EVENTS:
        raise ApiError.one(
            400,
            f"A bulk request may carry at most {MAX_BULK_EVENTS} events; this one has {total}.",
            pointer=BULK_POINTER,
        )
    now = now_utc()
    errors: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        profile_data = entry["attributes"]["profile"]["data"]
        errors += profile_errors(
            _profile_attributes(profile_data),
            f"{BULK_POINTER}/{index}/attributes/profile/data/attributes",
            faults=ctx.faults,
            has_id=bool(profile_data.get("id")),
            allow_anonymous=True,
        )
        for event_index, event in enumerate(entry["attributes"]["events"]["data"]):
            pointer = f"{BULK_POINTER}/{index}/attributes/events/data/{event_index}/attributes"
            errors += event_errors(event["attributes"], pointer, now=now)
    errors += bulk_duplicate_errors(entries, BULK_POINTER)
    if errors:
        raise ApiError(400, errors)  # Klaviyo processes none of the request's events
    with ctx.store.lock:
        for entry in entries:
            profile_data = entry["attributes"]["profile"]["data"]
            profile = _profile_attributes(profile_data)
            stored, _ = ctx.store.profile_upsert(
                attributes=profile, profile_id=profile_data.get("id")
            )
            for event in entry["attributes"]["events"]["data"]:
                ctx.store.event_record(
                    profile=stored, profile_sent=profile, event=event["attributes"], now=now
                )
    return empty(202)


def create_or_update_profile(ctx: HandlerContext) -> Response:
    data = ctx.body["data"]
    profile_id = data.get("id")
    if profile_id and profile_id not in ctx.store.profiles:
        raise ApiError.one(
            404, f"A profile with id {profile_id} does not exist.", pointer="/data/id"
        )
    attributes = _profile_attributes(data)
    errors = profile_errors(
        attributes, "/data/attributes", faults=ctx.faults, has_id=bool(profile_id)
    )
    if errors:
        raise ApiError(400, errors)
    profile, created = ctx.store.profile_upsert(attributes=attributes, profile_id=profile_id)
    return document({"data": profile_resource(ctx.request, profile)}, 201 if created else 200)


def bulk_import_profiles(ctx: HandlerContext) -> Response:
    """Imports at once; rows Klaviyo would refuse become the job's import errors."""
    profiles = ctx.body["data"]["attributes"]["profiles"]["data"]
    if len(profiles) > MAX_BULK_PROFILES:
        raise ApiError.one(
            400,
            f"A bulk import may carry at most {MAX_BULK_PROFILES} profiles.",
            pointer="/data/attributes/profiles/data",
        )
    job = ImportJob(
        id=ids.job_id(), total_count=len(profiles), completed_count=0, errors=[], profile_ids=[]
    )
    for index, profile_data in enumerate(profiles):
        attributes = _profile_attributes(profile_data)
        pointer = f"/data/attributes/profiles/data/{index}/attributes"
        errors = profile_errors(
            attributes, pointer, faults=ctx.faults, has_id=bool(profile_data.get("id"))
        )
        if errors:
            job.errors += [dict(error, original_payload=attributes) for error in errors]
            continue
        profile, _ = ctx.store.profile_upsert(
            attributes=attributes, profile_id=profile_data.get("id")
        )
        job.profile_ids.append(profile.id)
        job.completed_count += 1
    with ctx.store.lock:
        ctx.store.jobs[job.id] = job
    return document({"data": import_job_resource(ctx.request, job)}, 202)


def job_not_found(job_id: str) -> ApiError:
    return ApiError(404, [error_item(404, f"Import job {job_id} was not found.", parameter="id")])
