"""The OpenAPI declarations of the consent endpoints (/profiles/subscriptions, ...): one
`extend_schema` per action, with its examples. The rules the schema can't state as types are
in the descriptions, worded as the 400s name them."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from core.openapi import AUTH_ERRORS, error_example
from core.serializers import ErrorSerializer
from events import consent_serializers as cs
from klaviyo_client.limits import MAX_CONSENT_PROFILES

ACCEPTED = {
    202: cs.ConsentChangeAcceptedSerializer,
    400: ErrorSerializer,
    413: ErrorSerializer,
    **AUTH_ERRORS,
}
ACCEPTED_EXAMPLE = OpenApiExample(
    "Accepted",
    value={"id": 42, "status": "pending", "count": 1},
    response_only=True,
    status_codes=["202"],
)
STORED_THEN_SENT = (
    "Stored first, then sent to Klaviyo by the worker, in the order the changes were made for "
    "each address (a change waits for every earlier pending change sharing an address). "
    "Follow it with `GET /profiles/consent-changes/{id}`. "
)
ADDRESSES = (
    f"1 to {MAX_CONSENT_PROFILES:,} profiles (Klaviyo's cap per subscription job). Each profile "
    "needs `email` when `channels` holds email and an E.164 `phoneNumber` when it holds sms, "
    "and at least one of the two. A bad profile is named by index (`profiles.3.email ...`) and "
    "nothing is stored. "
)

subscribe = extend_schema(
    operation_id="profiles_subscribe",
    summary="Subscribe profiles to email and/or SMS marketing",
    description=STORED_THEN_SENT
    + ADDRESSES
    + "Sent as Klaviyo's profile-subscription-bulk-create-jobs with the list: Klaviyo adds "
    "them to it (double opt-in where the list has it). `consentedAt` is allowed only, and then "
    "required for every profile and in the past, with `historicalImport: true` (Klaviyo's "
    "rule: a historical import skips double opt-in and the list's flows).",
    request=cs.SubscriptionInputSerializer,
    responses=ACCEPTED,
    examples=[
        OpenApiExample(
            "Checkout opt-in",
            value={
                "channels": ["email", "sms"],
                "listId": "Y6nRLr",
                "profiles": [{"email": "ann@example.com", "phoneNumber": "+15005550006"}],
            },
            request_only=True,
        ),
        OpenApiExample(
            "Historical import",
            value={
                "channels": ["email"],
                "listId": "Y6nRLr",
                "historicalImport": True,
                "profiles": [
                    {"email": "ann@example.com", "consentedAt": "2024-05-01T10:00:00.000Z"}
                ],
            },
            request_only=True,
        ),
        ACCEPTED_EXAMPLE,
        error_example(
            "No phone for SMS",
            400,
            "profiles.0.phoneNumber is required for the sms channel (E.164)",
        ),
        error_example(
            "consentedAt without historicalImport",
            400,
            "profiles.0.consentedAt is allowed only with historicalImport: true (Klaviyo's rule)",
        ),
    ],
)

unsubscribe = extend_schema(
    operation_id="profiles_unsubscribe",
    summary="Unsubscribe profiles from email and/or SMS marketing",
    description=STORED_THEN_SENT
    + ADDRESSES
    + "Sent as Klaviyo's profile-subscription-bulk-delete-jobs (100 profiles a request). With "
    "`listId`, Klaviyo also removes the profiles from that list; the unsubscribe is global under "
    "Klaviyo's recommended global unsubscribe, and always for those not in the list.",
    request=cs.UnsubscriptionInputSerializer,
    responses=ACCEPTED,
    examples=[
        OpenApiExample(
            "Unsubscribe",
            value={"channels": ["email"], "profiles": [{"email": "ann@example.com"}]},
            request_only=True,
        ),
        ACCEPTED_EXAMPLE,
        error_example("No channel", 400, "channels must name at least one channel"),
    ],
)

EMAILS = f"1 to {MAX_CONSENT_PROFILES:,} valid emails, lower-cased; none stored if one is bad. "
suppress = extend_schema(
    operation_id="profiles_suppress",
    summary="Suppress email addresses",
    description=STORED_THEN_SENT
    + EMAILS
    + "Sent as Klaviyo's profile-suppression-bulk-create-jobs (100 emails a request): a "
    "suppressed profile receives no email marketing, whatever its consent; Klaviyo creates a "
    "profile for an unknown email.",
    request=cs.EmailsInputSerializer,
    responses=ACCEPTED,
    examples=[
        OpenApiExample("Suppress", value={"emails": ["ann@example.com"]}, request_only=True),
        ACCEPTED_EXAMPLE,
        error_example("Invalid email", 400, "emails.0 must be a valid email"),
    ],
)
unsuppress = extend_schema(
    operation_id="profiles_unsuppress",
    summary="Lift the suppression of email addresses",
    description=STORED_THEN_SENT
    + EMAILS
    + "Sent as Klaviyo's profile-suppression-bulk-delete-jobs (100 emails a request). Klaviyo "
    "lifts only manual suppressions (USER_SUPPRESSED): an unsubscribe, a hard bounce or an "
    "invalid email stay.",
    request=cs.EmailsInputSerializer,
    responses=ACCEPTED,
    examples=[
        OpenApiExample("Unsuppress", value={"emails": ["ann@example.com"]}, request_only=True),
        ACCEPTED_EXAMPLE,
    ],
)

consent_change_retrieve = extend_schema(
    operation_id="profiles_consent_change_retrieve",
    summary="One consent change: its state, attempts, last error and Klaviyo's job",
    description=(
        "`pending` until Klaviyo has accepted every address (`sentCount` of `count`), then "
        "`sent`; `failed` when Klaviyo refused it (its detail in `lastError`) or after the "
        "last retry. Unknown ids answer 404."
    ),
    parameters=[
        OpenApiParameter(
            "change_id",
            int,
            OpenApiParameter.PATH,
            description="The id POST answered with.",
        )
    ],
    responses={200: cs.ConsentChangeOutputSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    examples=[
        OpenApiExample(
            "Sent",
            value={
                "id": 42,
                "kind": "suppress",
                "status": "sent",
                "channels": [],
                "listId": None,
                "historicalImport": False,
                "count": 1,
                "sentCount": 1,
                "attempts": 1,
                "lastError": "",
                "klaviyoJobId": "01J9ZV7X2Q4M5N6P7R8S9T0V1W",
                "klaviyoJobIds": ["01J9ZV7X2Q4M5N6P7R8S9T0V1W"],
                "nextAttemptAt": None,
                "createdAt": "2025-09-15T10:00:00.000Z",
                "sentAt": "2025-09-15T10:00:01.000Z",
            },
            response_only=True,
        ),
        error_example("Unknown", 404, "Consent change 42 not found"),
    ],
)
