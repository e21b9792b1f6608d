"""The OpenAPI declarations of POST and DELETE /lists/{listId}/profiles, with their examples."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from core.openapi import AUTH_ERRORS, error_example
from core.serializers import ErrorSerializer
from events.consent_serializers import ConsentChangeAcceptedSerializer
from events.list_member_serializers import LIST_ID_PROBLEM, ListMembersInputSerializer
from klaviyo_client.limits import LIST_ID_PATTERN, MAX_LIST_MEMBERS

LIST_ID = OpenApiParameter(
    "listId",
    str,
    OpenApiParameter.PATH,
    required=True,
    pattern=LIST_ID_PATTERN,
    description="Klaviyo's id of the list: 6 letters or digits (GET /klaviyo/lists).",
)
ANSWERS = {
    202: ConsentChangeAcceptedSerializer,
    400: ErrorSerializer,
    413: ErrorSerializer,
    **AUTH_ERRORS,
}
STORED_THEN_SENT = (
    f"`emails`: 1 to {MAX_LIST_MEMBERS:,} addresses (Klaviyo's cap per list call). Stored "
    "first as a consent change, then sent by the worker in the order the changes were made for "
    "each address (a change waits for every earlier pending change sharing an address), "
    "retried on 429, 5xx and timeouts; follow it with `GET /profiles/consent-changes/{id}`. "
    "Klaviyo takes profile ids: each address's is the one already known (its profile's "
    "`klaviyoId`), else found in bulk (100 addresses a request), and recorded on the profile. "
)
EXAMPLES = [
    OpenApiExample(
        "Emails", value={"emails": ["ann@example.com", "bob@example.com"]}, request_only=True
    ),
    OpenApiExample(
        "Accepted",
        value={"id": 42, "status": "pending", "count": 2},
        response_only=True,
        status_codes=["202"],
    ),
    error_example("Not a list id", 400, f"listId {LIST_ID_PROBLEM}"),
    error_example("No emails", 400, "emails must hold at least one email"),
    error_example("Bad email", 400, "emails.0 must be a valid email"),
]

list_members_add = extend_schema(
    operation_id="list_profiles_add",
    summary="Add emails to a Klaviyo list",
    description=STORED_THEN_SENT
    + "An address Klaviyo has no profile for is created and added in one profile bulk import "
    "job (the change's Klaviyo job id). A list Klaviyo doesn't know fails the change with "
    "Klaviyo's answer. Adding to a list gives no consent (POST /profiles/subscriptions does).",
    parameters=[LIST_ID],
    request=ListMembersInputSerializer,
    responses=ANSWERS,
    examples=EXAMPLES,
)

list_members_remove = extend_schema(
    operation_id="list_profiles_remove",
    summary="Remove emails from a Klaviyo list",
    description=STORED_THEN_SENT
    + "An address Klaviyo has no profile for is in no list: nothing is sent for it. A list "
    "Klaviyo doesn't know fails the change with the reason. Removing from a list leaves "
    "consent as it is (POST /profiles/unsubscriptions changes it).",
    parameters=[LIST_ID],
    request=ListMembersInputSerializer,
    responses=ANSWERS,
    examples=EXAMPLES,
)
