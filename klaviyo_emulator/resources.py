"""The emulator's stored objects rendered as Klaviyo's JSON:API resources."""

from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request

from klaviyo_emulator import ids
from klaviyo_emulator.jsonapi import resource_url
from klaviyo_emulator.store import (
    API_INTEGRATION,
    ImportJob,
    StoredEvent,
    StoredMetric,
    StoredProfile,
)

PROFILE_FIELDS = (
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
)
LOCATION_FIELDS = (
    "address1",
    "address2",
    "city",
    "country",
    "latitude",
    "longitude",
    "region",
    "zip",
    "timezone",
    "ip",
)
ACCOUNT_ID = "EmUlAt"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def relationship(request: Request, kind: str, own: str, related_id: str) -> dict[str, Any]:
    return {
        "data": {"type": kind, "id": related_id},
        "links": {
            "self": resource_url(request, f"{own}/relationships/{kind}"),
            "related": resource_url(request, f"{own}/{kind}"),
        },
    }


def profile_resource(request: Request, profile: StoredProfile) -> dict[str, Any]:
    stored = profile.attributes
    attributes: dict[str, Any] = {name: stored.get(name) for name in PROFILE_FIELDS}
    location = stored.get("location") or {}
    attributes.update(
        created=iso(profile.created),
        updated=iso(profile.updated),
        last_event_date=iso(profile.last_event_date),
        # The document's oneOf for coordinates admits no null: leave unknown ones out.
        location={
            name: location.get(name)
            for name in LOCATION_FIELDS
            if location.get(name) is not None or name not in ("latitude", "longitude")
        },
        properties=stored.get("properties") or {},
    )
    return {
        "type": "profile",
        "id": profile.id,
        "attributes": attributes,
        "links": {"self": resource_url(request, f"profiles/{profile.id}")},
    }


def metric_resource(request: Request, metric: StoredMetric) -> dict[str, Any]:
    return {
        "type": "metric",
        "id": metric.id,
        "attributes": {
            "name": metric.name,
            "created": iso(metric.created),
            "updated": iso(metric.updated),
            "integration": API_INTEGRATION,
        },
        "links": {"self": resource_url(request, f"metrics/{metric.id}")},
    }


def event_resource(
    request: Request, event: StoredEvent, *, fields: list[str] | None = None
) -> dict[str, Any]:
    attributes = {
        "timestamp": int(event.time.timestamp()),
        "event_properties": event.event_properties,
        "datetime": iso(event.time),
        "uuid": ids.event_uuid(event.id),
    }
    if fields:
        attributes = {name: value for name, value in attributes.items() if name in fields}
    own = f"events/{event.id}"
    return {
        "type": "event",
        "id": event.id,
        "attributes": attributes,
        "relationships": {
            "profile": relationship(request, "profile", own, event.profile_id),
            "metric": relationship(request, "metric", own, event.metric_id),
        },
        "links": {"self": resource_url(request, own)},
    }


def import_job_resource(request: Request, job: ImportJob) -> dict[str, Any]:
    return {
        "type": "profile-bulk-import-job",
        "id": job.id,
        "attributes": {
            "status": job.status,
            "created_at": iso(job.created_at),
            "total_count": job.total_count,
            "completed_count": job.completed_count,
            "failed_count": len(job.errors),
            "completed_at": iso(job.created_at) if job.status == "complete" else None,
            "expires_at": None,
            "started_at": iso(job.created_at),
        },
        "links": {"self": resource_url(request, f"profile-bulk-import-jobs/{job.id}")},
    }


def account_resource(request: Request) -> dict[str, Any]:
    return {
        "type": "account",
        "id": ACCOUNT_ID,
        "attributes": {
            "test_account": True,
            "contact_information": {
                "default_sender_name": "Klaviyo emulator",
                "default_sender_email": "emulator@example.com",
                "website_url": "https://example.com",
                "organization_name": "Klaviyo emulator",
                "street_address": {
                    "address1": "1 Loopback Way",
                    "address2": "",
                    "city": "Localhost",
                    "region": "",
                    "country": "US",
                    "zip": "00000",
                },
            },
            "industry": None,
            "timezone": "UTC",
            "preferred_currency": "USD",
            "public_api_key": ACCOUNT_ID,
            "locale": "en-US",
        },
        "links": {"self": resource_url(request, f"accounts/{ACCOUNT_ID}")},
    }
