"""The /klaviyo endpoints, with Klaviyo stubbed by `responses`."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from events.models import Event
from klaviyo_sync.tests.conftest import BASE, KEY

pytestmark = pytest.mark.django_db

METRICS = {
    "data": [
        {
            "type": "metric",
            "id": "M1",
            "attributes": {
                "name": "Purchase",
                "created": "2025-09-01T00:00:00+00:00",
                "updated": "2025-09-02T00:00:00+00:00",
                "integration": {"name": "API", "category": "API"},
            },
        },
        {"type": "metric", "id": "M2", "attributes": {"name": "Signup"}},
    ],
    "links": {"next": None},
}
PROFILE = {
    "type": "profile",
    "id": "P1",
    "attributes": {
        "email": "john.doe@example.com",
        "first_name": "John",
        "last_name": "Doe",
        "phone_number": None,
        "location": {"city": "Paris", "address1": None},
        "properties": {"plan": "pro", "signup_source": "web"},
        "created": "2025-09-01T00:00:00+00:00",
        "last_event_date": "2025-09-15T10:00:00+00:00",
    },
}


def error_shape(status: int, message: str, error: str) -> dict:
    return {"statusCode": status, "message": [message], "error": error}


def query_of(call) -> dict:
    return parse_qs(urlsplit(call.request.url).query)


def test_test_connection_without_a_key_answers_200_not_connected(api_client, settings):
    settings.KLAVIYO_API_KEY = ""

    response = api_client.get("/klaviyo/test-connection")

    assert response.status_code == 200
    assert response.json() == {
        "connected": False,
        "message": "KLAVIYO_API_KEY is not configured",
        "revision": settings.KLAVIYO_REVISION,
        "latencyMs": None,
    }


def test_test_connection_reports_the_account_and_latency(api_client, klaviyo):
    klaviyo.get(
        f"{BASE}/accounts",
        json={
            "data": [
                {
                    "type": "account",
                    "id": "A1",
                    "attributes": {"contact_information": {"organization_name": "Acme"}},
                }
            ]
        },
    )

    response = api_client.get("/klaviyo/test-connection/")

    body = response.json()
    assert response.status_code == 200
    assert body["connected"] is True
    assert body["message"] == "Connected to Klaviyo (account Acme)"
    assert body["revision"] == "2026-07-15"
    assert body["latencyMs"] >= 0


@pytest.mark.parametrize(
    ("stub", "message"),
    [
        (
            {"status": 401, "json": {"errors": [{"title": "Not authorized", "detail": "Bad key"}]}},
            "Klaviyo refused: HTTP 401: Not authorized Bad key",
        ),
        ({"body": requests.ConnectionError("down")}, "Klaviyo refused: Connection failed"),
    ],
    ids=["bad-key", "down"],
)
def test_test_connection_answers_200_not_connected_when_klaviyo_refuses(
    api_client, klaviyo, stub, message
):
    klaviyo.get(f"{BASE}/accounts", **stub)

    response = api_client.get("/klaviyo/test-connection")

    assert response.status_code == 200
    assert response.json()["connected"] is False
    assert response.json()["message"].startswith(message)
    assert KEY not in response.content.decode()


def test_the_endpoints_need_an_api_key(anonymous_client):
    response = anonymous_client.get("/klaviyo/metrics")

    assert response.status_code == 401
    assert response.json()["statusCode"] == 401


def test_metrics_lists_klaviyos_metrics_in_camel_case(api_client, klaviyo):
    klaviyo.get(f"{BASE}/metrics", json=METRICS)

    response = api_client.get("/klaviyo/metrics")

    assert response.status_code == 200
    assert response.json() == {
        "metrics": [
            {
                "id": "M1",
                "name": "Purchase",
                "created": "2025-09-01T00:00:00+00:00",
                "updated": "2025-09-02T00:00:00+00:00",
                "integration": {"name": "API", "category": "API"},
            },
            {"id": "M2", "name": "Signup", "created": None, "updated": None, "integration": None},
        ]
    }


@pytest.mark.parametrize(
    "path", ["/klaviyo/metrics", "/klaviyo/profiles/a@b.co", "/klaviyo/events", "/klaviyo/lists"]
)
def test_without_a_key_the_klaviyo_reads_answer_503(api_client, settings, path):
    settings.KLAVIYO_API_KEY = ""

    response = api_client.get(path)

    assert response.status_code == 503
    assert response.json() == error_shape(
        503, "KLAVIYO_API_KEY is not configured", "Service Unavailable"
    )


@pytest.mark.parametrize(
    "stub",
    [
        {"status": 503, "json": {"errors": [{"title": "Service Unavailable", "detail": "x"}]}},
        {"status": 429, "headers": {"Retry-After": "3"}, "body": ""},
        {"body": requests.ReadTimeout("slow")},
    ],
    ids=["503", "429", "timeout"],
)
def test_when_klaviyo_fails_the_reads_answer_502_in_the_error_shape(api_client, klaviyo, stub):
    klaviyo.get(f"{BASE}/metrics", **stub)

    response = api_client.get("/klaviyo/metrics")

    assert response.status_code == 502
    body = response.json()
    assert body["statusCode"] == 502 and body["error"] == "Bad Gateway"
    assert body["message"][0].startswith("Klaviyo failed: ")


def test_a_profile_comes_back_camel_case_with_custom_properties_as_sent(api_client, klaviyo):
    klaviyo.get(f"{BASE}/profiles", json={"data": [PROFILE]})

    response = api_client.get("/klaviyo/profiles/John.Doe@example.com")

    assert response.status_code == 200
    assert response.json() == {
        "id": "P1",
        "email": "john.doe@example.com",
        "phoneNumber": None,
        "externalId": None,
        "firstName": "John",
        "lastName": "Doe",
        "organization": None,
        "title": None,
        "image": None,
        "locale": None,
        "location": {"city": "Paris", "address1": None},
        "properties": {"plan": "pro", "signup_source": "web"},
        "created": "2025-09-01T00:00:00+00:00",
        "updated": None,
        "lastEventDate": "2025-09-15T10:00:00+00:00",
    }
    assert query_of(klaviyo.calls[0])["filter"] == ['equals(email,"John.Doe@example.com")']


def test_an_unknown_profile_answers_404(api_client, klaviyo):
    klaviyo.get(f"{BASE}/profiles", json={"data": []})

    response = api_client.get("/klaviyo/profiles/nobody@example.com")

    assert response.status_code == 404
    assert response.json() == error_shape(
        404, "Klaviyo has no profile with email nobody@example.com", "Not Found"
    )


def test_a_bad_email_answers_400_without_asking_klaviyo(api_client, klaviyo):
    response = api_client.get("/klaviyo/profiles/not-an-email")

    assert response.status_code == 400
    assert response.json() == error_shape(400, "email must be a valid email", "Bad Request")
    assert len(klaviyo.calls) == 0


def test_events_filter_by_metric_name_email_and_time_with_a_cursor(api_client, klaviyo):
    klaviyo.get(f"{BASE}/metrics", json=METRICS)
    klaviyo.get(f"{BASE}/profiles", json={"data": [PROFILE]})
    klaviyo.get(
        f"{BASE}/events",
        json={
            "data": [
                {
                    "type": "event",
                    "id": "E1",
                    "attributes": {
                        "timestamp": 1757930400,
                        "datetime": "2025-09-15T10:00:00+00:00",
                        "event_properties": {"amount": 99.99},
                        "uuid": "u-1",
                    },
                    "relationships": {
                        "profile": {"data": {"type": "profile", "id": "P1"}},
                        "metric": {"data": {"type": "metric", "id": "M1"}},
                    },
                }
            ],
            "included": [PROFILE],
            "links": {"next": f"{BASE}/events?page%5Bcursor%5D=C2"},
        },
    )

    response = api_client.get(
        "/klaviyo/events",
        {
            "metric": "Purchase",
            "email": "john.doe@example.com",
            "since": "2025-09-15T00:00:00Z",
            "until": "2025-09-16T00:00:00Z",
            "cursor": "C1",
            "pageSize": 20,
        },
    )

    assert response.status_code == 200
    assert response.json() == {
        "events": [
            {
                "id": "E1",
                "metricId": "M1",
                "profileId": "P1",
                "email": "john.doe@example.com",
                "datetime": "2025-09-15T10:00:00+00:00",
                "timestamp": 1757930400,
                "uuid": "u-1",
                "properties": {"amount": 99.99},
            }
        ],
        "nextCursor": "C2",
    }
    query = query_of(klaviyo.calls[2])
    assert query["filter"] == [
        'equals(metric_id,"M1"),equals(profile_id,"P1"),'
        "greater-or-equal(datetime,2025-09-15T00:00:00Z),less-than(datetime,2025-09-16T00:00:00Z)"
    ]
    assert query["page[cursor]"] == ["C1"]
    assert query["page[size]"] == ["20"]
    assert query["sort"] == ["-datetime"]


def test_events_of_a_metric_klaviyo_never_saw_are_none(api_client, klaviyo):
    klaviyo.get(f"{BASE}/metrics", json=METRICS)

    response = api_client.get("/klaviyo/events", {"metric": "Refund"})

    assert response.status_code == 200
    assert response.json() == {"events": [], "nextCursor": None}
    assert len(klaviyo.calls) == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pageSize": 0}, "pageSize: Ensure this value is greater than or equal to 1."),
        ({"pageSize": 201}, "pageSize: Ensure this value is less than or equal to 200."),
        ({"email": "nope"}, "email must be a valid email"),
        ({"since": "yesterday"}, "since: Datetime has wrong format."),
        (
            {"since": "2025-09-16T00:00:00Z", "until": "2025-09-15T00:00:00Z"},
            "since must be before until",
        ),
    ],
)
def test_bad_event_filters_answer_400(api_client, klaviyo, params, message):
    response = api_client.get("/klaviyo/events", params)

    assert response.status_code == 400
    assert response.json()["message"][0].startswith(message)
    assert len(klaviyo.calls) == 0


def test_sync_test_sends_one_event_and_reports_klaviyos_answer(api_client, klaviyo):
    klaviyo.post(f"{BASE}/events", status=202)

    response = api_client.post("/klaviyo/sync-test", {"email": "me@example.com"}, format="json")

    body = response.json()
    assert response.status_code == 200
    assert body["sent"] is True
    assert body["status"] == 202
    assert body["message"] == "Successfully sent to Klaviyo (HTTP 202)"
    assert body["email"] == "me@example.com" and body["eventName"] == "Klaviyo Sync Test"
    sent = json.loads(klaviyo.calls[0].request.body)["data"]["attributes"]
    assert sent["unique_id"] == body["uniqueId"]
    assert sent["profile"]["data"]["attributes"] == {"email": "me@example.com"}
    assert sent["metric"]["data"]["attributes"]["name"] == "Klaviyo Sync Test"
    assert Event.objects.count() == 0


def test_sync_test_reports_a_refusal(api_client, klaviyo):
    klaviyo.post(
        f"{BASE}/events",
        status=400,
        json={"errors": [{"title": "Invalid input.", "detail": "Bad email"}]},
    )

    response = api_client.post("/klaviyo/sync-test", {}, format="json")

    assert response.status_code == 200
    assert response.json()["sent"] is False
    assert response.json()["status"] == 400
    assert response.json()["message"] == "HTTP 400: Invalid input. Bad email"


def test_sync_test_without_a_key_answers_503(api_client, settings):
    settings.KLAVIYO_API_KEY = ""

    response = api_client.post("/klaviyo/sync-test", {}, format="json")

    assert response.status_code == 503
