"""Consent, lists and suppression jobs rendered as Klaviyo's JSON:API resources: the profile's
`subscriptions` object (schema `Subscriptions`, returned with
`additional-fields[profile]=subscriptions`), `list` and suppression job resources."""

from typing import Any

from werkzeug.wrappers import Request

from klaviyo_emulator.consent_store import (
    EMAIL_MARKETING,
    SMS_MARKETING,
    SUBSCRIBED,
    ProfileConsent,
)
from klaviyo_emulator.jsonapi import resource_url
from klaviyo_emulator.lists_store import StoredList
from klaviyo_emulator.resources import iso
from klaviyo_emulator.suppression_jobs import SuppressionJob


def _channel(consent: ProfileConsent, key: str, can_receive: str, value: bool) -> dict[str, Any]:
    channel = consent.channel(key)
    return {
        can_receive: value,
        "consent": channel.consent,
        "consent_timestamp": iso(channel.consent_timestamp),
        "last_updated": iso(channel.last_updated),
        "method": channel.method,
        "method_detail": "",
    }


def subscriptions_object(consent: ProfileConsent) -> dict[str, Any]:
    email = _channel(
        consent, EMAIL_MARKETING, "can_receive_email_marketing", consent.can_receive_email_marketing
    )
    email.update(
        custom_method_detail=consent.channel(EMAIL_MARKETING).custom_method_detail,
        double_optin=consent.channel(EMAIL_MARKETING).double_optin,
        suppression=[
            {"reason": s.reason, "timestamp": iso(s.timestamp)} for s in consent.suppressions
        ],
        # The emulated account unsubscribes globally (consent_store.py): no list suppressions.
        list_suppressions=[],
    )
    sms = _channel(
        consent,
        SMS_MARKETING,
        "can_receive_sms_marketing",
        consent.channel(SMS_MARKETING).consent == SUBSCRIBED,
    )
    transactional = consent.channel("sms.transactional")
    push = consent.channel("push.marketing")
    return {
        "email": {"marketing": email},
        "sms": {
            "marketing": sms,
            "transactional": {
                "can_receive_sms_transactional": transactional.consent == SUBSCRIBED,
                "consent": transactional.consent,
                "consent_timestamp": iso(transactional.consent_timestamp),
                "method": transactional.method,
                "method_detail": "",
                "last_updated": iso(transactional.last_updated),
            },
        },
        "mobile_push": {
            "marketing": {
                "can_receive_push_marketing": push.consent == SUBSCRIBED,
                "consent": push.consent,
                "consent_timestamp": iso(push.consent_timestamp),
            }
        },
    }


def list_resource(
    request: Request, stored: StoredList, *, profile_count: bool = False
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "name": stored.name,
        "created": iso(stored.created),
        "updated": iso(stored.updated),
        "opt_in_process": stored.opt_in_process,
    }
    if profile_count:
        attributes["profile_count"] = len(stored.members)
    own = f"lists/{stored.id}"
    return {
        "type": "list",
        "id": stored.id,
        "attributes": attributes,
        "relationships": {
            name: {
                "links": {
                    "self": resource_url(request, f"{own}/relationships/{name}"),
                    "related": resource_url(request, f"{own}/{name}"),
                }
            }
            for name in ("profiles", "tags", "flow-triggers")
        },
        "links": {"self": resource_url(request, own)},
    }


def suppression_job_resource(request: Request, job: SuppressionJob) -> dict[str, Any]:
    collection = (
        "profile-suppression-bulk-create-jobs"
        if job.type.endswith("create-job")
        else "profile-suppression-bulk-delete-jobs"
    )
    own = f"{collection}/{job.id}"
    complete = job.status == "complete"
    return {
        "type": job.type,
        "id": job.id,
        "attributes": {
            "status": job.status,
            "created_at": iso(job.created_at),
            "total_count": job.total_count,
            "completed_count": job.completed_count if complete else 0,
            "completed_at": iso(job.created_at) if complete else None,
            "skipped_count": job.skipped_count if complete else 0,
        },
        "relationships": {
            "lists": {
                "data": [{"type": "list", "id": list_id} for list_id in job.list_ids],
                "links": {
                    "self": resource_url(request, f"{own}/relationships/lists"),
                    "related": resource_url(request, f"{own}/lists"),
                },
            }
        },
        "links": {"self": resource_url(request, own)},
    }
