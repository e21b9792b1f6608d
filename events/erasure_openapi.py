"""The OpenAPI declarations of the erasure endpoints, with their examples."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from core.openapi import AUTH_ERRORS, error_example
from core.serializers import ErrorSerializer
from events import erasure_serializers as es

ERASURE_EXAMPLE = {
    "id": "3b0f8a52-8d0e-4c1f-9a3e-6f1d2c4b5a69",
    "status": "pending",
    "identifierKind": "email",
    "identifierSha256": "a4c5a7b0c7f1c1d3c2e8d0f3a6e1b9c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0",
    "deletedEvents": 12,
    "deletedProfiles": 1,
    "attempts": 0,
    "lastError": "",
    "requestedAt": "2025-09-15T10:00:00.000Z",
    "sentAt": None,
}
WHAT_ERASURE_DOES = (
    "In one transaction the person's profiles here, their events, their pending profile "
    "changes and their addresses in pending consent changes are deleted, and an erasure "
    "request is recorded; the worker then sends Klaviyo a data-privacy-deletion-job for the "
    "person (retried like any sync: every failure recorded on the request), even when nothing "
    "was stored here. No event, profile change or consent change of the person accepted "
    "before the erasure reaches Klaviyo after the deletion job: the job waits for any send a "
    "worker had already started. Follow it with GET /profiles/erasures/{id}. Once Klaviyo "
    "accepted it, the request keeps only the SHA-256 of the identifier."
)
ERASURE_ANSWERS = {202: es.ErasureOutputSerializer, 400: ErrorSerializer, **AUTH_ERRORS}
ACCEPTED = OpenApiExample(
    "Accepted", value=ERASURE_EXAMPLE, response_only=True, status_codes=["202"]
)

profile_erase = extend_schema(
    operation_id="profiles_erase",
    summary="Erase a person by email, here and in Klaviyo",
    description=WHAT_ERASURE_DOES
    + " The email is case-insensitive. A person known by phone number or external id only: "
    "POST /profiles/erasures.",
    parameters=[
        OpenApiParameter(
            "email",
            {"type": "string", "format": "email", "maxLength": 254},
            OpenApiParameter.PATH,
            description="the person's email",
        )
    ],
    responses=ERASURE_ANSWERS,
    examples=[ACCEPTED, error_example("Not an email", 400, "email must be a valid email")],
)

_ONE_OF = [
    {
        "type": "object",
        "properties": {name: schema},
        "required": [name],
        "additionalProperties": False,
    }
    for name, schema in (
        ("email", {"type": "string", "format": "email", "maxLength": 254}),
        ("phoneNumber", {"type": "string", "pattern": r"^\+[1-9]\d{6,14}$"}),
        (
            "externalId",
            {
                "type": "string",
                "maxLength": es.MAX_EXTERNAL_ID,
                # Not blank, no control characters or bidirectional overrides.
                "pattern": "^(?=.*\\S)[^\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]+$",
            },
        ),
    )
]
erasure_create = extend_schema(
    operation_id="profiles_erasures_create",
    summary="Erase a person by email, phone number or external id",
    description=WHAT_ERASURE_DOES
    + " The body names the person by exactly one identifier: `email` (case-insensitive), "
    "`phoneNumber` (E.164) or `externalId`. Klaviyo erases by email, phone number or its own "
    "profile id: an external id is looked up in Klaviyo when the job is sent (when Klaviyo "
    "holds no profile with it, the request ends `sent` with a note in `lastError`).",
    request={"application/json": {"oneOf": _ONE_OF}},
    responses=ERASURE_ANSWERS,
    examples=[
        OpenApiExample("By phone number", value={"phoneNumber": "+15005550006"}, request_only=True),
        OpenApiExample("By external id", value={"externalId": "crm-8812"}, request_only=True),
        ACCEPTED,
        error_example("Two identifiers", 400, es.ONE_IDENTIFIER),
    ],
)

erasure_retrieve = extend_schema(
    operation_id="profiles_erasures_retrieve",
    summary="What became of an erasure request",
    description=(
        "`status`: pending until Klaviyo accepted the deletion job, then sent; failed when "
        "Klaviyo refused it or every retry failed, with the reason in `lastError`."
    ),
    responses={200: es.ErasureOutputSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    examples=[
        OpenApiExample(
            "Sent",
            value={
                **ERASURE_EXAMPLE,
                "status": "sent",
                "attempts": 1,
                "sentAt": "2025-09-15T10:00:01.250Z",
            },
            response_only=True,
        ),
        error_example("Unknown", 404, "Erasure 3b0f8a52-8d0e-4c1f-9a3e-6f1d2c4b5a69 not found"),
    ],
)
