"""The read endpoints answered from the local database (no Klaviyo key)."""

from datetime import UTC, datetime

import pytest
from django.core.cache import cache

from events.models import Metric, Profile, SyncStatus
from events.tests.factories import EventFactory, ProfileFactory
from klaviyo_sync.serializers import cursor_encode

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_klaviyo(settings):
    settings.KLAVIYO_API_KEY = ""
    cache.clear()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def events(name: str, *moments: str, profile=None) -> None:
    for moment in moments:
        if profile is None:
            EventFactory(event_name=name, time=at(moment))
        else:
            EventFactory(event_name=name, time=at(moment), profile=profile, email=profile.email)


# --- /events/metrics ----------------------------------------------------------------------------


def test_it_lists_every_metric_with_its_local_count_and_klaviyo_id(api_client):
    events("Purchase", "2025-09-15T10:00:00", "2025-09-16T10:00:00")
    events("Page View", "2025-09-15T10:00:00")
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    Metric.objects.create(name="Received Email", klaviyo_id="XyZ123")

    response = api_client.get("/events/metrics")

    assert response.status_code == 200
    assert response.json() == {
        "metrics": [
            {"name": "Page View", "klaviyoId": None, "localCount": 1},
            {"name": "Purchase", "klaviyoId": "RsWdcU", "localCount": 2},
            {"name": "Received Email", "klaviyoId": "XyZ123", "localCount": 0},
        ],
        "source": "local",
    }


def test_it_answers_the_metrics_path_with_a_trailing_slash_too(api_client):
    assert api_client.get("/events/metrics/").status_code == 200


def test_it_refuses_reads_without_an_api_key(anonymous_client):
    response = anonymous_client.get("/events/count?metric=Purchase&date=2025-09-15")

    assert response.status_code == 401
    assert response.json()["statusCode"] == 401


# --- /events/count ------------------------------------------------------------------------------


def test_it_counts_the_events_of_a_utc_day(api_client):
    events(
        "Purchase",
        "2025-09-14T23:59:59.999999",
        "2025-09-15T00:00:00",
        "2025-09-15T12:00:00",
        "2025-09-15T23:59:59.999999",
        "2025-09-16T00:00:00",
    )
    events("Page View", "2025-09-15T12:00:00")

    response = api_client.get("/events/count", {"metric": "Purchase", "date": "2025-09-15"})

    assert response.status_code == 200
    assert response.json() == {
        "metric": "Purchase",
        "date": "2025-09-15",
        "count": 3,
        "timezone": "UTC",
        "start": "2025-09-15T00:00:00.000Z",
        "end": "2025-09-16T00:00:00.000Z",
        "klaviyoMetricId": None,
        "source": "local",
    }


def test_it_counts_every_sync_status_locally(api_client):
    for status in SyncStatus.values:
        EventFactory(time=at("2025-09-15T12:00:00"), sync_status=status)

    response = api_client.get("/events/count", {"metric": "Purchase", "date": "2025-09-15"})

    assert response.json()["count"] == len(SyncStatus.values)


def test_it_counts_a_25_hour_new_york_day_when_dst_ends(api_client):
    # 2025-11-02 in New York: 04:00Z (EDT midnight) to 05:00Z the next day (EST midnight).
    events(
        "Purchase",
        "2025-11-02T03:59:59",  # Nov 1, 23:59:59 EDT
        "2025-11-02T04:00:00",  # Nov 2, 00:00 EDT
        "2025-11-03T04:30:00",  # Nov 2, 23:30 EST: the 25th hour
        "2025-11-03T05:00:00",  # Nov 3, 00:00 EST
    )

    response = api_client.get(
        "/events/count", {"metric": "Purchase", "date": "2025-11-02", "tz": "America/New_York"}
    )

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 2
    assert (body["start"], body["end"]) == ("2025-11-02T04:00:00.000Z", "2025-11-03T05:00:00.000Z")
    assert body["timezone"] == "America/New_York"


def test_it_counts_a_23_hour_new_york_day_when_dst_starts(api_client):
    # 2025-03-09 in New York: 05:00Z (EST midnight) to 04:00Z the next day (EDT midnight).
    events(
        "Purchase",
        "2025-03-09T04:59:59",  # Mar 8, 23:59:59 EST
        "2025-03-09T05:00:00",  # Mar 9, 00:00 EST
        "2025-03-10T03:59:59",  # Mar 9, 23:59:59 EDT
        "2025-03-10T04:00:00",  # Mar 10, 00:00 EDT
    )

    response = api_client.get(
        "/events/count", {"metric": "Purchase", "date": "2025-03-09", "tz": "America/New_York"}
    )

    body = response.json()
    assert body["count"] == 2
    assert (body["start"], body["end"]) == ("2025-03-09T05:00:00.000Z", "2025-03-10T04:00:00.000Z")


def test_a_day_whose_midnight_is_skipped_starts_at_its_first_instant(api_client):
    # Santiago springs forward at midnight: 2025-09-07 runs from 01:00 -03 (04:00Z), 23 hours.
    response = api_client.get(
        "/events/count", {"metric": "Purchase", "date": "2025-09-07", "tz": "America/Santiago"}
    )

    body = response.json()
    assert (body["start"], body["end"]) == ("2025-09-07T04:00:00.000Z", "2025-09-08T03:00:00.000Z")


def test_it_answers_zero_for_an_unknown_metric(api_client):
    response = api_client.get("/events/count", {"metric": "Nothing", "date": "2025-09-15"})

    assert response.status_code == 200
    assert response.json()["count"] == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date": "2025-09-15"}, "metric is required"),
        ({"metric": "", "date": "2025-09-15"}, "metric must not be empty"),
        ({"metric": "Purchase"}, "date is required"),
        ({"metric": "Purchase", "date": "15/09/2025"}, "date must be a date in YYYY-MM-DD format"),
        ({"metric": "Purchase", "date": "2025-02-30"}, "date must be a date in YYYY-MM-DD format"),
        (
            {"metric": "Purchase", "date": "2025-09-15", "tz": "Mars/Olympus"},
            "tz must be an IANA time zone, like America/New_York",
        ),
        (
            {"metric": "Purchase", "date": "2025-09-15", "tz": "../../etc/passwd"},
            "tz must be an IANA time zone, like America/New_York",
        ),
    ],
)
def test_it_rejects_a_malformed_count_query(api_client, query, message):
    response = api_client.get("/events/count", query)

    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "message": [message], "error": "Bad Request"}


# --- /events/emails -----------------------------------------------------------------------------


def test_it_lists_the_distinct_emails_of_a_day_sorted(api_client):
    carol, ann, bob = (ProfileFactory(email=e) for e in ("carol@x.com", "ann@x.com", "bob@x.com"))
    events("Purchase", "2025-09-15T10:00:00", "2025-09-15T11:00:00", profile=carol)
    events("Purchase", "2025-09-15T12:00:00", profile=ann)
    events("Purchase", "2025-09-16T12:00:00", profile=bob)  # another day
    events("Page View", "2025-09-15T12:00:00", profile=bob)  # another metric

    response = api_client.get("/events/emails", {"metric": "Purchase", "date": "2025-09-15"})

    assert response.status_code == 200
    body = response.json()
    assert body["emails"] == ["ann@x.com", "carol@x.com"]
    assert body["nextCursor"] is None
    assert body["source"] == "local"


def test_it_pages_through_the_emails_with_the_cursor(api_client):
    # Code-point order: '.' < '_' < 'a', which MariaDB's default collation orders differently.
    addresses = ["a_b@x.com", "a.b@x.com", "ab@x.com", "A-b@x.com".lower(), "b@x.com"]
    for address in addresses:
        events("Purchase", "2025-09-15T10:00:00", profile=ProfileFactory(email=address))
    pages, cursor = [], None
    while True:
        query = {"metric": "Purchase", "date": "2025-09-15", "limit": 2}
        if cursor:
            query["cursor"] = cursor
        body = api_client.get("/events/emails", query).json()
        pages.append(body["emails"])
        cursor = body["nextCursor"]
        if cursor is None:
            break

    assert pages == [["a-b@x.com", "a.b@x.com"], ["a_b@x.com", "ab@x.com"], ["b@x.com"]]
    assert [email for page in pages for email in page] == sorted(addresses)


def test_it_leaves_out_events_without_an_email(api_client):
    phone_only = ProfileFactory(email=None, identity="phone:+15005550006")
    EventFactory(profile=phone_only, email=None, time=at("2025-09-15T10:00:00"))

    body = api_client.get("/events/emails", {"metric": "Purchase", "date": "2025-09-15"}).json()

    assert body["emails"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": 0}, "limit must be at least 1"),
        ({"limit": 1001}, "limit must be at most 1000"),
        ({"limit": "ten"}, "limit must be an integer"),
        ({"cursor": "not base64!"}, "cursor must be the nextCursor of a previous answer"),
        ({"cursor": "//8"}, "cursor must be the nextCursor of a previous answer"),
    ],
)
def test_it_rejects_a_malformed_emails_query(api_client, query, message):
    response = api_client.get(
        "/events/emails", {"metric": "Purchase", "date": "2025-09-15", **query}
    )

    assert response.status_code == 400
    assert response.json()["message"] == [message]


def test_it_accepts_the_largest_page(api_client):
    events("Purchase", "2025-09-15T10:00:00")
    query = {"metric": "Purchase", "date": "2025-09-15", "limit": 1000}

    response = api_client.get("/events/emails", query)

    assert response.status_code == 200
    assert len(response.json()["emails"]) == 1


def test_the_cursor_is_the_last_email_of_the_page(api_client):
    for address in ("a@x.com", "b@x.com"):
        events("Purchase", "2025-09-15T10:00:00", profile=ProfileFactory(email=address))

    body = api_client.get(
        "/events/emails", {"metric": "Purchase", "date": "2025-09-15", "limit": 1}
    ).json()

    assert body["nextCursor"] == cursor_encode("a@x.com")


# --- /events/profiles/{email}/... ---------------------------------------------------------------


def test_it_answers_a_profiles_attributes_case_insensitively(api_client):
    ProfileFactory(email="john.doe@example.com", attributes={"firstName": "John", "plan": "pro"})

    response = api_client.get("/events/profiles/John.Doe@Example.com/attributes")

    assert response.status_code == 200
    assert response.json() == {
        "email": "john.doe@example.com",
        "attributes": {"firstName": "John", "plan": "pro"},
        "klaviyoId": None,
        "source": "local",
    }


def test_it_answers_404_for_an_unknown_profile(api_client):
    for path in ("attributes", "metrics"):
        response = api_client.get(f"/events/profiles/nobody@example.com/{path}")

        assert response.status_code == 404
        assert response.json() == {
            "statusCode": 404,
            "message": ["Profile nobody@example.com not found"],
            "error": "Not Found",
        }


def test_it_rejects_a_profile_path_that_is_not_an_email(api_client):
    for path in ("attributes", "metrics"):
        response = api_client.get(f"/events/profiles/not-an-email/{path}")

        assert response.status_code == 400
        assert response.json()["message"] == ["email must be a valid email"]


def test_it_summarises_the_metrics_a_profile_did(api_client):
    ann = ProfileFactory(email="ann@x.com")
    events(
        "Purchase", "2025-09-15T10:00:00", "2025-09-01T08:00:00", "2025-09-10T00:00:00", profile=ann
    )
    events("Page View", "2025-09-02T10:00:00", profile=ann)
    events("Purchase", "2025-09-20T10:00:00")  # someone else

    response = api_client.get("/events/profiles/ANN@x.com/metrics")

    assert response.status_code == 200
    assert response.json() == {
        "email": "ann@x.com",
        "metrics": [
            {
                "metric": "Page View",
                "count": 1,
                "firstTime": "2025-09-02T10:00:00.000Z",
                "lastTime": "2025-09-02T10:00:00.000Z",
            },
            {
                "metric": "Purchase",
                "count": 3,
                "firstTime": "2025-09-01T08:00:00.000Z",
                "lastTime": "2025-09-15T10:00:00.000Z",
            },
        ],
        "klaviyoId": None,
        "source": "local",
    }


def test_a_profile_without_events_has_no_metrics(api_client):
    Profile.objects.create(identity="eve@x.com", email="eve@x.com")

    response = api_client.get("/events/profiles/eve@x.com/metrics")

    assert response.status_code == 200
    assert response.json()["metrics"] == []
