"""The OpenAPI declarations of /events: one `extend_schema` per action, with its examples."""

from drf_spectacular.utils import OpenApiExample, extend_schema

from core.openapi import AUTH_ERRORS, error_example
from core.serializers import ErrorSerializer
from events import list_serializers as ls
from events import profile_serializers as ps
from events import serializers as s
from events.consent_serializers import ProfileWithConsentSerializer

PURCHASE_EXAMPLE = {
    "eventName": "Purchase",
    "eventAttributes": {"amount": 99.99, "currency": "USD"},
    "profileAttributes": {"firstName": "John", "lastName": "Doe"},
    "email": "john.doe@example.com",
}
EVENT_RESPONSE_EXAMPLE = {
    "id": "8f7b6c1e-2b1a-4c55-9a57-3f0f3f4b9a10",
    **PURCHASE_EXAMPLE,
    "time": "2025-09-15T10:00:00.000Z",
    "value": None,
    "valueCurrency": None,
    "uniqueId": None,
    "sentToKlaviyo": False,
    "syncStatus": "pending",
    "attempts": 0,
    "lastError": "",
    "klaviyoResponse": None,
    "syncedAt": None,
    "createdAt": "2025-09-15T10:00:00.000Z",
}
event_create = extend_schema(
    operation_id="events_create",
    summary="Store one event",
    description=(
        "Stores the event and upserts its profile, then queues it for Klaviyo. An event with "
        "the profile, `eventName` and `uniqueId` of a stored one (Klaviyo's idempotency) "
        "answers 200 with the first event and stores nothing. A property the body does not "
        "declare is refused: `property unique_id should not exist`."
    ),
    request=s.EventInputSerializer,
    responses={
        201: s.EventOutputSerializer,
        200: s.EventOutputSerializer,
        400: ErrorSerializer,
        413: ErrorSerializer,
        **AUTH_ERRORS,
    },
    examples=[
        OpenApiExample("Purchase", value=PURCHASE_EXAMPLE, request_only=True),
        OpenApiExample(
            "Stored", value=EVENT_RESPONSE_EXAMPLE, response_only=True, status_codes=["201"]
        ),
        error_example("Invalid email", 400, "email must be a valid email"),
        error_example("Unknown property", 400, "property unique_id should not exist"),
    ],
)

events_bulk_create = extend_schema(
    operation_id="events_bulk_create",
    summary="Store up to 1,000 events at once",
    description=(
        "All or nothing: when any item is invalid, the 400 names each bad item by index "
        "(`events.3.email ...`) and nothing is stored."
    ),
    request=s.BulkEventsInputSerializer,
    responses={
        201: s.BulkEventsOutputSerializer,
        400: ErrorSerializer,
        413: ErrorSerializer,
        **AUTH_ERRORS,
    },
    examples=[
        OpenApiExample(
            "Two events",
            value={
                "events": [
                    {"eventName": "Page View", "email": "user1@test.com"},
                    {"eventName": "Add to Cart", "email": "user2@test.com", "uniqueId": "c-42"},
                ]
            },
            request_only=True,
        ),
        OpenApiExample(
            "Stored",
            value={
                "count": 2,
                "created": 2,
                "events": [
                    {
                        "id": "1c7a3c9e-7f0e-4a8e-9a55-4e5f4c1d2b3a",
                        "uniqueId": None,
                        "syncStatus": "pending",
                        "duplicate": False,
                    },
                    {
                        "id": "5d2b7c1e-0a9f-4b3c-8d7e-6f5a4b3c2d1e",
                        "uniqueId": "c-42",
                        "syncStatus": "pending",
                        "duplicate": False,
                    },
                ],
            },
            response_only=True,
            status_codes=["201"],
        ),
        error_example("Bad item", 400, "events.1.email must be a valid email"),
    ],
)

event_retrieve = extend_schema(
    operation_id="events_retrieve",
    summary="One event and what became of it",
    description=(
        "The event as `POST /events` answered it, with its current sync status, the attempts "
        "made to send it and Klaviyo's last error."
    ),
    responses={200: s.EventOutputSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    examples=[
        OpenApiExample(
            "Sent",
            value={
                **EVENT_RESPONSE_EXAMPLE,
                "sentToKlaviyo": True,
                "syncStatus": "sent",
                "attempts": 1,
                "syncedAt": "2025-09-15T10:00:01.250Z",
            },
            response_only=True,
        ),
        error_example("Unknown", 404, "Event 8f7b6c1e-2b1a-4c55-9a57-3f0f3f4b9a10 not found"),
    ],
)

event_list = extend_schema(
    operation_id="events_list",
    summary="The stored events, newest first, to reconcile",
    description=(
        "Every stored event (within the retention period) matching all the filters given, "
        "newest stored first (`createdAt`, then `id`). `since` and `until` bound `createdAt`, "
        "when the event was stored here. Follow `nextCursor` with the same filters until it is "
        "null. An unknown parameter is a 400."
    ),
    parameters=[ls.EventListQuerySerializer],
    responses={200: ls.EventPageSerializer, 400: ErrorSerializer, **AUTH_ERRORS},
    examples=[
        OpenApiExample(
            "A page",
            value={"events": [EVENT_RESPONSE_EXAMPLE], "nextCursor": None},
            response_only=True,
        ),
        error_example(
            "Bad status", 400, "syncStatus must be one of pending, sent, failed, skipped"
        ),
    ],
)

PROFILE_EXAMPLE = {
    "email": "ann@example.com",
    "profileAttributes": {"firstName": "Ann", "city": "Lyon", "plan": "pro", "nickname": None},
}
PROFILE_RESPONSE_EXAMPLE = {
    "id": 42,
    "email": "ann@example.com",
    "phoneNumber": None,
    "externalId": None,
    "anonymousId": None,
    "attributes": {"firstName": "Ann", "city": "Lyon", "plan": "pro"},
    "klaviyoId": None,
    "syncStatus": "pending",
    "lastError": "",
    "createdAt": "2025-09-15T10:00:00.000Z",
    "updatedAt": "2025-09-15T10:00:00.000Z",
}
profile_upsert = extend_schema(
    operation_id="profiles_upsert",
    summary="Create or update one profile",
    description=(
        "Identified as an event's profile: `email`, else `phoneNumber`, `externalId` or "
        "`anonymousId` among the attributes. Merges into the stored profile (null removes a "
        "key) and queues the sync, which sends Klaviyo only what changed (profile-import). "
        "201 when new, 200 when it existed. A property the body does not declare is refused."
    ),
    request=ps.ProfileInputSerializer,
    responses={
        201: ps.ProfileOutputSerializer,
        200: ps.ProfileOutputSerializer,
        400: ErrorSerializer,
        413: ErrorSerializer,
        **AUTH_ERRORS,
    },
    examples=[
        OpenApiExample("Ann", value=PROFILE_EXAMPLE, request_only=True),
        OpenApiExample(
            "Created", value=PROFILE_RESPONSE_EXAMPLE, response_only=True, status_codes=["201"]
        ),
        error_example(
            "No identifier",
            400,
            "a profile needs email, profileAttributes.phoneNumber, "
            "profileAttributes.externalId or profileAttributes.anonymousId",
        ),
    ],
)

profile_retrieve = extend_schema(
    operation_id="profiles_retrieve",
    summary="One profile by email, with its sync state, consent and lists",
    description=(
        "`consent` and `lists` are as last sent to Klaviyo: for each channel the last "
        "subscribe or unsubscribe Klaviyo accepted for this person, the last suppress or "
        "unsuppress, and the lists the last accepted changes put them in. Null: none sent yet."
    ),
    responses={
        200: ProfileWithConsentSerializer,
        400: ErrorSerializer,
        404: ErrorSerializer,
        **AUTH_ERRORS,
    },
    examples=[
        OpenApiExample(
            "Synced",
            value={
                **PROFILE_RESPONSE_EXAMPLE,
                "syncStatus": "sent",
                "klaviyoId": "01J9ZV7X2Q4M5N6P7R8S9T0V1W",
                "consent": {
                    "email": {
                        "status": "subscribed",
                        "changeId": 7,
                        "sentAt": "2025-09-15T10:00:01.000Z",
                    },
                    "sms": None,
                    "suppression": None,
                },
                "lists": [
                    {"listId": "Y6nRLr", "changeId": 7, "sentAt": "2025-09-15T10:00:01.000Z"}
                ],
            },
            response_only=True,
        ),
        error_example("Unknown", 404, "Profile ann@example.com not found"),
    ],
)

profiles_bulk_upsert = extend_schema(
    operation_id="profiles_bulk_upsert",
    summary="Create or update up to 10,000 profiles at once",
    description=(
        "All or nothing: when any item is invalid, the 400 names each bad item by index "
        "(`profiles.3.email ...`) and nothing is stored. Each item merges as `POST /profiles` "
        "does, in the order sent. The worker sends the backlog to Klaviyo in "
        "profile-bulk-import-jobs; a change that clears an attribute goes through "
        "profile-import, which bulk import can't do. The most items: BULK_MAX_PROFILES."
    ),
    request=ps.BulkProfilesInputSerializer,
    responses={
        201: ps.BulkProfilesOutputSerializer,
        400: ErrorSerializer,
        413: ErrorSerializer,
        **AUTH_ERRORS,
    },
    examples=[
        OpenApiExample(
            "Two profiles",
            value={
                "profiles": [
                    {"email": "ann@example.com", "profileAttributes": {"firstName": "Ann"}},
                    {"profileAttributes": {"phoneNumber": "+15005550006", "plan": "pro"}},
                ]
            },
            request_only=True,
        ),
        OpenApiExample(
            "Stored",
            value={
                "count": 2,
                "profiles": [{"id": 42, "email": "ann@example.com"}, {"id": 43, "email": None}],
            },
            response_only=True,
            status_codes=["201"],
        ),
        error_example("Bad item", 400, "profiles.1.email must be a valid email"),
    ],
)
