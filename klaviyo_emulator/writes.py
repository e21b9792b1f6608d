"""Endpoints that write: events (single and bulk), profile import and update, profile bulk
import jobs. Each refuses attribute names Klaviyo does not know, applies nulls and
`meta.patch_properties.unset` where the revision puts `meta`, and answers 409 duplicate_profile
when a profile write's identifiers name two profiles."""

import threading
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Response

from klaviyo_emulator import fields, ids
from klaviyo_emulator.context import HandlerContext
from klaviyo_emulator.jsonapi import ApiError, document, empty, error_item
from klaviyo_emulator.profile_merge import unset_names
from klaviyo_emulator.resources import import_job_resource, profile_resource
from klaviyo_emulator.revisions import event_profile_meta_beside_attributes
from klaviyo_emulator.rules import (
    MAX_BULK_EVENTS,
    bulk_duplicate_errors,
    event_errors,
    profile_errors,
)
from klaviyo_emulator.store import ImportJob, ProfileConflict, now_utc

MAX_BULK_PROFILES = 10_000
IMPORT_CHUNK = 500  # rows of a bulk import job imported under one hold of the store's lock
BULK_POINTER = "/data/attributes/events-bulk-create/data"
Errors = list[dict[str, Any]]


def _profile_parts(
    profile_data: dict[str, Any], pointer: str, *, schema: str, meta_inside: bool = False
) -> tuple[dict[str, Any], list[str], Errors]:
    """A profile resource (at `pointer`) -> its attributes, the custom properties its `meta`
    unsets, and the names Klaviyo would refuse. `meta_inside`: the revision puts `meta` in the
    attributes (an event's profile before 2026-10-15), else beside them."""
    attributes = dict(profile_data.get("attributes") or {})
    allowed = fields.names(schema)
    errors: Errors = []
    if meta_inside:
        meta = attributes.pop("meta", None)
        if "meta" in profile_data:
            errors.append(fields.invalid_field("meta", "profile", pointer))
    else:
        meta = profile_data.get("meta")
        allowed = fields.names_but_meta(schema)
    errors += fields.unknown_field_errors(
        attributes, allowed=allowed, resource="profile", pointer=f"{pointer}/attributes"
    )
    return attributes, unset_names(meta), errors


def _event_name_errors(attributes: dict[str, Any], pointer: str, schema: str) -> Errors:
    allowed = fields.names(schema) - {"profile"} if schema == fields.EVENT else fields.names(schema)
    return fields.unknown_field_errors(
        {k: v for k, v in attributes.items() if k != "profile"},
        allowed=allowed,
        resource="event",
        pointer=pointer,
    )


def duplicate_profile(conflict: ProfileConflict, pointer: str) -> ApiError:
    """Klaviyo's 409 when a profile write's identifiers belong to two profiles; clients
    resolve it by updating the profile in meta.duplicate_profile_id (Segment's Klaviyo
    destination, upsertProfile/index.ts, PATCHes /profiles/{duplicate_profile_id})."""
    error = error_item(
        409, "A profile already exists with one of these identifiers.", pointer=pointer
    )
    error["code"] = "duplicate_profile"
    error["meta"] = {"duplicate_profile_id": conflict.duplicate_profile_id}
    return ApiError(409, [error])


def create_event(ctx: HandlerContext) -> Response:
    attributes = ctx.body["data"]["attributes"]
    profile_data = attributes["profile"]["data"]
    meta_inside = not event_profile_meta_beside_attributes(ctx.request.headers["revision"])
    profile, unset, errors = _profile_parts(
        profile_data,
        "/data/attributes/profile/data",
        schema=fields.EVENT_PROFILE,
        meta_inside=meta_inside,
    )
    errors += profile_errors(
        profile,
        "/data/attributes/profile/data/attributes",
        faults=ctx.faults,
        has_id=bool(profile_data.get("id")),
        allow_anonymous=True,
    )
    now = now_utc()
    errors += _event_name_errors(attributes, "/data/attributes", fields.EVENT)
    errors += event_errors(attributes, "/data/attributes", now=now)
    if errors:
        raise ApiError(400, errors)
    with ctx.store.lock:
        stored, _ = ctx.store.profile_upsert(
            attributes=profile, profile_id=profile_data.get("id"), unset=unset
        )
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
    errors: Errors = []
    profiles: list[tuple[dict[str, Any], list[str]]] = []
    for index, entry in enumerate(entries):
        profile_data = entry["attributes"]["profile"]["data"]
        pointer = f"{BULK_POINTER}/{index}/attributes/profile/data"
        profile, unset, profile_name_errors = _profile_parts(
            profile_data, pointer, schema=fields.BULK_PROFILE
        )
        profiles.append((profile, unset))
        errors += profile_name_errors
        errors += profile_errors(
            profile,
            f"{pointer}/attributes",
            faults=ctx.faults,
            has_id=bool(profile_data.get("id")),
            allow_anonymous=True,
        )
        for event_index, event in enumerate(entry["attributes"]["events"]["data"]):
            pointer = f"{BULK_POINTER}/{index}/attributes/events/data/{event_index}/attributes"
            errors += _event_name_errors(event["attributes"], pointer, fields.BULK_EVENT)
            errors += event_errors(event["attributes"], pointer, now=now)
    errors += bulk_duplicate_errors(entries, BULK_POINTER)
    if errors:
        raise ApiError(400, errors)  # Klaviyo processes none of the request's events
    with ctx.store.lock:
        for entry, (profile, unset) in zip(entries, profiles, strict=True):
            stored, _ = ctx.store.profile_upsert(
                attributes=profile,
                profile_id=entry["attributes"]["profile"]["data"].get("id"),
                unset=unset,
            )
            for event in entry["attributes"]["events"]["data"]:
                ctx.store.event_record(
                    profile=stored, profile_sent=profile, event=event["attributes"], now=now
                )
    return empty(202)


def _profile_write(ctx: HandlerContext, *, profile_id: str | None, schema: str) -> Response:
    data = ctx.body["data"]
    if profile_id and profile_id not in ctx.store.profiles:
        raise ApiError.one(
            404, f"A profile with id {profile_id} does not exist.", pointer="/data/id"
        )
    attributes, unset, errors = _profile_parts(data, "/data", schema=schema)
    errors += profile_errors(
        attributes, "/data/attributes", faults=ctx.faults, has_id=bool(profile_id)
    )
    if errors:
        raise ApiError(400, errors)
    try:
        profile, created = ctx.store.profile_upsert(
            attributes=attributes, profile_id=profile_id, unset=unset, refuse_conflicts=True
        )
    except ProfileConflict as conflict:
        raise duplicate_profile(conflict, "/data/attributes") from None
    return document({"data": profile_resource(ctx.request, profile)}, 201 if created else 200)


def create_or_update_profile(ctx: HandlerContext) -> Response:
    return _profile_write(ctx, profile_id=ctx.body["data"].get("id"), schema=fields.PROFILE_IMPORT)


def update_profile(ctx: HandlerContext) -> Response:
    """PATCH /api/profiles/{id}: the body's `data.id` must be the path's."""
    if ctx.body["data"].get("id") != ctx.args["id"]:
        raise ApiError.one(400, "data.id must match the id in the path.", pointer="/data/id")
    return _profile_write(ctx, profile_id=ctx.args["id"], schema=fields.PROFILE_UPDATE)


def bulk_import_profiles(ctx: HandlerContext) -> Response:
    """Answers 202 with the job `queued` and imports in the background, as Klaviyo runs a job
    after accepting it; rows Klaviyo would refuse become the job's import errors. A read of
    the job waits for its import (ImportJob.imported), so every read is deterministic."""
    profiles = ctx.body["data"]["attributes"]["profiles"]["data"]
    if len(profiles) > MAX_BULK_PROFILES:
        raise ApiError.one(
            400,
            f"A bulk import may carry at most {MAX_BULK_PROFILES} profiles.",
            pointer="/data/attributes/profiles/data",
        )
    # relationships.lists "adds every imported profile to those lists" (NOTES.md §3.4); a list
    # the account does not have refuses the job, as a subscribe job's does.
    list_ids = [
        ref["id"]
        for ref in ((ctx.body["data"].get("relationships") or {}).get("lists") or {}).get("data")
        or []
    ]
    for index, list_id in enumerate(list_ids):
        if list_id not in ctx.store.lists.lists:
            raise ApiError.one(
                404,
                f"A list with id {list_id} does not exist.",
                pointer=f"/data/relationships/lists/data/{index}/id",
            )
    job = ImportJob(
        id=ids.job_id(), total_count=len(profiles), completed_count=0, errors=[], profile_ids=[]
    )
    with ctx.store.lock:
        ctx.store.jobs[job.id] = job
    answer = document({"data": import_job_resource(ctx.request, job)}, 202)
    worker = threading.Thread(
        target=_job_import,
        args=(ctx, job, profiles, list_ids),
        name=f"import-{job.id}",
        daemon=True,
    )
    worker.start()
    return answer


def _job_import(
    ctx: HandlerContext, job: ImportJob, profiles: list[dict[str, Any]], list_ids: list[str]
) -> None:
    try:
        # The store's lock held for a chunk of rows, not taken for each: reads wait a chunk.
        # The chunk's rows are processed at one time (the clock read once for them).
        for start in range(0, len(profiles), IMPORT_CHUNK):
            now = now_utc()
            with ctx.store.lock:
                for index in range(start, min(start + IMPORT_CHUNK, len(profiles))):
                    _row_import(ctx, job, index, profiles[index], list_ids, now)
    finally:
        job.imported.set()


def _row_import(
    ctx: HandlerContext,
    job: ImportJob,
    index: int,
    profile_data: dict[str, Any],
    list_ids: list[str],
    now: datetime,
) -> None:
    pointer = f"/data/attributes/profiles/data/{index}"
    attributes, unset, errors = _profile_parts(profile_data, pointer, schema=fields.PROFILE_IMPORT)
    errors += profile_errors(
        attributes, f"{pointer}/attributes", faults=ctx.faults, has_id=bool(profile_data.get("id"))
    )
    if not errors:
        try:
            profile, _ = ctx.store.profile_upsert(
                attributes=attributes,
                profile_id=profile_data.get("id"),
                unset=unset,
                refuse_conflicts=True,
                now=now,
            )
        except ProfileConflict as conflict:
            errors = duplicate_profile(conflict, f"{pointer}/attributes").errors
    if errors:
        job.errors += [dict(error, original_payload=attributes) for error in errors]
        return
    job.profile_ids.append(profile.id)
    job.completed_count += 1
    for list_id in list_ids:
        ctx.store.lists.add(
            list_id,
            profile.id,
            at=now,
            endpoint="bulk_import_profiles",
            identifiers=profile.attributes,
        )


def job_not_found(job_id: str) -> ApiError:
    return ApiError(404, [error_item(404, f"Import job {job_id} was not found.", parameter="id")])
