"""The read endpoints with a Klaviyo key: Klaviyo's answer (HTTP stubbed with `responses`), what
it writes back to the local copy, and the fallback to the local database on every failure."""

import json
import logging
import time
from datetime import UTC, datetime

import pytest
import requests
import responses
from django.core.cache import cache

from events.models import Metric, Profile, SyncStatus
from events.tests.factories import EventFactory, ProfileFactory
from klaviyo_client.ratelimit import parse_limits
from klaviyo_sync import answers
from klaviyo_sync.serializers import cursor_encode

pytestmark = pytest.mark.django_db

BASE = "https://a.klaviyo.com/api"
METRICS_URL = f"{BASE}/metrics"
AGGREGATES_URL = f"{BASE}/metric-aggregates"
EVENTS_URL = f"{BASE}/events"
PROFILES_URL = f"{BASE}/profiles"
PROFILE_ID = "01JD8W3Q6N5ZK2Y7R4T9V0X1AB"


@pytest.fixture(autouse=True)
def _klaviyo(settings):
    settings.KLAVIYO_API_KEY = "pk_test"
    settings.KLAVIYO_BASE_URL = BASE
    settings.KLAVIYO_RATE_LIMIT_ENABLED = False
    settings.READS_KLAVIYO_BUDGET_SECONDS = 3.0
    cache.clear()


@pytest.fixture
def stub():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def metrics_body(**ids_by_name: str) -> dict:
    return {
        "data": [
            {"type": "metric", "id": metric_id, "attributes": {"name": name}}
            for name, metric_id in ids_by_name.items()
        ],
        "links": {"self": METRICS_URL, "next": None},
    }


def aggregate_body(*counts: float) -> dict:
    return {
        "data": {
            "type": "metric-aggregate",
            "id": "agg",
            "attributes": {
                "dates": ["2025-09-15T00:00:00+00:00"] * len(counts),
                "data": [{"dimensions": [], "measurements": {"count": list(counts)}}],
            },
        }
    }


def klaviyo_event(metric_id: str, profile_id: str, moment: str) -> dict:
    return {
        "type": "event",
        "id": f"ev-{profile_id}-{moment}",
        "attributes": {"datetime": moment, "timestamp": 0, "event_properties": {}},
        "relationships": {
            "profile": {"data": {"type": "profile", "id": profile_id}},
            "metric": {"data": {"type": "metric", "id": metric_id}},
        },
    }


def events_body(events: list[dict], profiles: dict[str, str], next_cursor: str | None) -> dict:
    return {
        "data": events,
        "included": [
            {"type": "profile", "id": pid, "attributes": {"email": email}}
            for pid, email in profiles.items()
        ],
        "links": {"next": f"{EVENTS_URL}?page%5Bcursor%5D={next_cursor}" if next_cursor else None},
    }


def profile_body(email: str, **attributes) -> dict:
    return {
        "data": [
            {
                "type": "profile",
                "id": PROFILE_ID,
                "attributes": {"email": email, "first_name": None, **attributes},
            }
        ],
        "links": {"next": None},
    }


def count_query(**extra) -> dict:
    return {"metric": "Purchase", "date": "2025-09-15", **extra}


# --- metrics ------------------------------------------------------------------------------------


def test_it_lists_klaviyos_metrics_and_caches_their_ids(api_client, stub):
    stub.get(METRICS_URL, json=metrics_body(Purchase="RsWdcU", **{"Received Email": "XyZ123"}))
    EventFactory(event_name="Purchase")
    EventFactory(event_name="Pending Only")

    response = api_client.get("/events/metrics")

    assert response.status_code == 200
    assert response.json() == {
        "metrics": [
            {"name": "Pending Only", "klaviyoId": None, "localCount": 1},
            {"name": "Purchase", "klaviyoId": "RsWdcU", "localCount": 1},
            {"name": "Received Email", "klaviyoId": "XyZ123", "localCount": 0},
        ],
        "source": "klaviyo",
    }
    assert dict(Metric.objects.values_list("name", "klaviyo_id")) == {
        "Purchase": "RsWdcU",
        "Received Email": "XyZ123",
    }
    assert stub.calls[0].request.headers["Authorization"] == "Klaviyo-API-Key pk_test"


def test_it_updates_a_metric_id_klaviyo_changed(api_client, stub):
    Metric.objects.create(name="Purchase", klaviyo_id="OldId1")
    stub.get(METRICS_URL, json=metrics_body(Purchase="NewId2"))

    api_client.get("/events/metrics")

    assert Metric.objects.get(name="Purchase").klaviyo_id == "NewId2"


# --- count --------------------------------------------------------------------------------------


def test_it_counts_with_klaviyos_metric_aggregate(api_client, stub):
    stub.get(METRICS_URL, json=metrics_body(Purchase="RsWdcU"))
    stub.post(AGGREGATES_URL, json=aggregate_body(7))
    EventFactory(time=at("2025-09-15T12:00:00"))  # local says 1: Klaviyo's answer wins

    response = api_client.get("/events/count", count_query(tz="America/New_York"))

    assert response.status_code == 200
    assert response.json() == {
        "metric": "Purchase",
        "date": "2025-09-15",
        "count": 7,
        "timezone": "America/New_York",
        "start": "2025-09-15T04:00:00.000Z",
        "end": "2025-09-16T04:00:00.000Z",
        "klaviyoMetricId": "RsWdcU",
        "source": "klaviyo",
    }
    body = json.loads(stub.calls[1].request.body)["data"]["attributes"]
    assert body["metric_id"] == "RsWdcU"
    assert body["timezone"] == "America/New_York"
    assert body["filter"] == [
        "greater-or-equal(datetime,2025-09-15T00:00:00)",
        "less-than(datetime,2025-09-16T00:00:00)",
    ]
    assert Metric.objects.get(name="Purchase").klaviyo_id == "RsWdcU"


def test_it_uses_the_cached_metric_id_and_a_recent_count(api_client, stub):
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    stub.post(AGGREGATES_URL, json=aggregate_body(3))

    first = api_client.get("/events/count", count_query()).json()
    second = api_client.get("/events/count", count_query()).json()

    assert first["count"] == second["count"] == 3
    assert second["source"] == "klaviyo"
    assert [call.request.url for call in stub.calls] == [AGGREGATES_URL]


def test_it_asks_again_when_the_count_cache_is_off(api_client, stub, settings):
    settings.READS_KLAVIYO_CACHE_SECONDS = 0
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    stub.post(AGGREGATES_URL, json=aggregate_body(3))

    api_client.get("/events/count", count_query())
    api_client.get("/events/count", count_query())

    assert len(stub.calls) == 2


def test_it_counts_locally_a_metric_klaviyo_does_not_have(api_client, stub, caplog):
    stub.get(METRICS_URL, json=metrics_body(Other="Abc123"))
    EventFactory(time=at("2025-09-15T12:00:00"))

    with caplog.at_level(logging.INFO, logger="klaviyo_sync.klaviyo_first"):
        body = api_client.get("/events/count", count_query()).json()

    assert (body["count"], body["source"], body["klaviyoMetricId"]) == (1, "local", None)
    assert "metric 'Purchase' is not in Klaviyo" in caplog.text


FAILURES = {
    "timeout": {"body": requests.exceptions.ReadTimeout("slow")},
    "connection": {"body": requests.exceptions.ConnectionError("refused")},
    "429": {
        "status": 429,
        "json": {"errors": [{"status": 429, "title": "Throttled", "detail": "slow down"}]},
        "headers": {"Retry-After": "30"},
    },
    "500": {"status": 500, "json": {"errors": [{"title": "Server error", "detail": "oops"}]}},
    "503": {"status": 503, "body": "unavailable"},
    "401": {
        "status": 401,
        "json": {"errors": [{"title": "Not authorized", "detail": "Invalid API key"}]},
    },
}
REASONS = {
    "timeout": "unreachable: Timed out",
    "connection": "unreachable: Connection failed",
    "429": "rate limited (retry after 30.0 s)",
    "500": "HTTP 500: Server error oops",
    "503": "HTTP 503",
    "401": "HTTP 401: Not authorized Invalid API key",
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_klaviyo_count_falls_back_to_the_local_count(api_client, stub, caplog, failure):
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    stub.post(AGGREGATES_URL, **FAILURES[failure])
    EventFactory(time=at("2025-09-15T12:00:00"))
    EventFactory(time=at("2025-09-15T13:00:00"), sync_status=SyncStatus.FAILED)

    with caplog.at_level(logging.WARNING, logger="klaviyo_sync.klaviyo_first"):
        response = api_client.get("/events/count", count_query())

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["source"], body["klaviyoMetricId"]) == (2, "local", "RsWdcU")
    assert "Klaviyo count read answered locally: " + REASONS[failure] in caplog.text


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_klaviyo_metric_list_falls_back_to_the_local_one(api_client, stub, failure):
    stub.get(METRICS_URL, **FAILURES[failure])
    EventFactory(event_name="Purchase")

    body = api_client.get("/events/metrics").json()

    assert body == {
        "metrics": [{"name": "Purchase", "klaviyoId": None, "localCount": 1}],
        "source": "local",
    }
    assert Metric.objects.count() == 0


def test_a_rate_limited_aggregate_is_not_asked_again_before_retry_after(api_client, stub):
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    stub.post(AGGREGATES_URL, **FAILURES["429"])

    first = api_client.get("/events/count", count_query()).json()
    second = api_client.get("/events/count", count_query(date="2025-09-16")).json()

    assert first["source"] == second["source"] == "local"
    assert len(stub.calls) == 1


def test_a_klaviyo_slower_than_the_budget_falls_back(api_client, stub, settings, caplog):
    settings.READS_KLAVIYO_BUDGET_SECONDS = 0.2
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")

    def slow(request):
        time.sleep(0.6)
        return 200, {}, json.dumps(aggregate_body(99))

    stub.add_callback(responses.POST, AGGREGATES_URL, callback=slow)

    with caplog.at_level(logging.WARNING, logger="klaviyo_sync.klaviyo_first"):
        body = api_client.get("/events/count", count_query()).json()

    assert (body["count"], body["source"]) == (0, "local")
    assert "no answer within 0.2 s" in caplog.text


def test_a_malformed_klaviyo_answer_falls_back(api_client, stub, caplog):
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    stub.post(AGGREGATES_URL, json={"data": {"attributes": {"data": [{"nothing": 1}]}}})

    with caplog.at_level(logging.WARNING, logger="klaviyo_sync.klaviyo_first"):
        body = api_client.get("/events/count", count_query()).json()

    assert body["source"] == "local"
    assert "unexpected KeyError" in caplog.text


# --- emails -------------------------------------------------------------------------------------


def test_it_lists_the_emails_of_a_day_from_klaviyos_events(api_client, stub):
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    ann = ProfileFactory(email="ann@x.com")
    first_page = events_body(
        [
            klaviyo_event("RsWdcU", "P-carol", "2025-09-15T10:00:00+00:00"),
            klaviyo_event("RsWdcU", "P-ann", "2025-09-15T11:00:00+00:00"),
        ],
        {"P-carol": "Carol@x.com", "P-ann": "ann@x.com"},
        next_cursor="c2",
    )
    second_page = events_body(
        [
            klaviyo_event("RsWdcU", "P-bob", "2025-09-15T12:00:00+00:00"),
            klaviyo_event("RsWdcU", "P-ann", "2025-09-15T13:00:00+00:00"),
        ],
        {"P-bob": "bob@x.com", "P-ann": "ann@x.com"},
        next_cursor=None,
    )
    stub.get(EVENTS_URL, json=first_page)
    stub.get(EVENTS_URL, json=second_page)

    response = api_client.get(
        "/events/emails", {"metric": "Purchase", "date": "2025-09-15", "limit": 2}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["emails"] == ["ann@x.com", "bob@x.com"]
    assert body["nextCursor"] == cursor_encode("bob@x.com")
    assert body["source"] == "klaviyo"
    first_url = requests.utils.unquote(stub.calls[0].request.url)
    assert 'equals(metric_id,"RsWdcU")' in first_url
    assert "greater-or-equal(datetime,2025-09-15T00:00:00Z)" in first_url
    assert "less-than(datetime,2025-09-16T00:00:00Z)" in first_url
    assert "include=profile" in first_url
    assert "page[cursor]=c2" in requests.utils.unquote(stub.calls[1].request.url)
    ann.refresh_from_db()
    assert ann.klaviyo_id == "P-ann"


def test_it_continues_klaviyos_emails_after_the_cursor(api_client, stub):
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    stub.get(
        EVENTS_URL,
        json=events_body(
            [klaviyo_event("RsWdcU", p, "2025-09-15T10:00:00+00:00") for p in ("A", "B", "C")],
            {"A": "a@x.com", "B": "b@x.com", "C": "c@x.com"},
            next_cursor=None,
        ),
    )
    query = {"metric": "Purchase", "date": "2025-09-15", "cursor": cursor_encode("a@x.com")}

    body = api_client.get("/events/emails", query).json()

    assert (body["emails"], body["nextCursor"]) == (["b@x.com", "c@x.com"], None)


def test_a_day_with_too_many_klaviyo_events_is_answered_locally(api_client, stub, monkeypatch):
    monkeypatch.setattr(answers, "MAX_EVENT_PAGES", 1)
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    stub.get(
        EVENTS_URL,
        json=events_body(
            [klaviyo_event("RsWdcU", "A", "2025-09-15T10:00:00+00:00")], {"A": "a@x.com"}, "more"
        ),
    )
    EventFactory(time=at("2025-09-15T12:00:00"), email="local@x.com", profile__email="local@x.com")

    body = api_client.get("/events/emails", {"metric": "Purchase", "date": "2025-09-15"}).json()

    assert (body["emails"], body["source"]) == (["local@x.com"], "local")


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_klaviyo_event_list_falls_back_to_the_local_emails(api_client, stub, failure):
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    stub.get(EVENTS_URL, **FAILURES[failure])
    EventFactory(time=at("2025-09-15T12:00:00"), email="local@x.com", profile__email="local@x.com")

    body = api_client.get("/events/emails", {"metric": "Purchase", "date": "2025-09-15"}).json()

    assert (body["emails"], body["source"]) == (["local@x.com"], "local")


# --- profiles -----------------------------------------------------------------------------------


def test_it_answers_klaviyos_profile_attributes_and_writes_changes_back(api_client, stub):
    profile = ProfileFactory(
        email="john@x.com",
        attributes={"firstName": "Johnny", "plan": "free", "favourite": "tea"},
        sync_status=SyncStatus.SENT,
    )
    stub.get(
        PROFILES_URL,
        json=profile_body(
            "john@x.com",
            first_name="John",
            phone_number="+15005550006",
            location={"city": "Boston", "zip": None},
            properties={"plan": "pro"},
            created="2025-01-01T00:00:00+00:00",
        ),
    )

    response = api_client.get("/events/profiles/JOHN@x.com/attributes")

    assert response.status_code == 200
    assert response.json() == {
        "email": "john@x.com",
        "attributes": {
            "firstName": "John",
            "phoneNumber": "+15005550006",
            "location": {"city": "Boston"},
            "plan": "pro",
        },
        "klaviyoId": PROFILE_ID,
        "source": "klaviyo",
    }
    assert 'equals(email,"john@x.com")' in requests.utils.unquote(stub.calls[0].request.url)
    profile.refresh_from_db()
    assert profile.klaviyo_id == PROFILE_ID
    assert profile.attributes == {
        "firstName": "John",
        "phoneNumber": "+15005550006",
        "location": {"city": "Boston"},
        "plan": "pro",
        "favourite": "tea",
    }
    assert profile.sync_status == SyncStatus.SENT


def test_it_keeps_local_attributes_still_pending_for_klaviyo(api_client, stub):
    profile = ProfileFactory(email="john@x.com", attributes={"plan": "enterprise"})
    stub.get(PROFILES_URL, json=profile_body("john@x.com", properties={"plan": "pro"}))

    body = api_client.get("/events/profiles/john@x.com/attributes").json()

    assert body["attributes"] == {"plan": "pro"}
    profile.refresh_from_db()
    assert profile.attributes == {"plan": "enterprise"}
    assert profile.klaviyo_id == PROFILE_ID
    assert profile.sync_status == SyncStatus.PENDING


def test_recording_the_klaviyo_id_leaves_the_profile_update_time_to_the_sync(api_client, stub):
    """The sync marks a profile sent only when it hasn't changed since it was read: a read that
    records Klaviyo's id meanwhile must not look like a change (found by bench/load.py)."""
    changed_at = at("2025-09-15T10:00:00")
    profile = ProfileFactory(email="john@x.com", attributes={"plan": "pro"}, updated_at=changed_at)
    stub.get(PROFILES_URL, json=profile_body("john@x.com", properties={"plan": "pro"}))
    stub.get(EVENTS_URL, json={"data": [], "links": {"next": None}})

    for path in ("attributes", "metrics"):
        assert api_client.get(f"/events/profiles/john@x.com/{path}").status_code == 200

    profile.refresh_from_db()
    assert profile.klaviyo_id == PROFILE_ID
    assert profile.updated_at == changed_at
    assert profile.sync_status == SyncStatus.PENDING


def test_a_profile_only_in_klaviyo_is_answered_from_klaviyo(api_client, stub):
    stub.get(PROFILES_URL, json=profile_body("new@x.com", last_name="Lee"))

    body = api_client.get("/events/profiles/new@x.com/attributes").json()

    assert (body["attributes"], body["source"]) == ({"lastName": "Lee"}, "klaviyo")
    assert Profile.objects.count() == 0


def test_a_profile_not_yet_in_klaviyo_is_answered_locally(api_client, stub):
    ProfileFactory(email="fresh@x.com", attributes={"firstName": "Fay"})
    stub.get(PROFILES_URL, json={"data": [], "links": {"next": None}})

    body = api_client.get("/events/profiles/fresh@x.com/attributes").json()

    assert (body["attributes"], body["source"]) == ({"firstName": "Fay"}, "local")


def test_a_profile_neither_knows_is_404(api_client, stub):
    stub.get(PROFILES_URL, json={"data": [], "links": {"next": None}})

    for path in ("attributes", "metrics"):
        response = api_client.get(f"/events/profiles/ghost@x.com/{path}")

        assert response.status_code == 404


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_klaviyo_profile_lookup_falls_back(api_client, stub, failure):
    ProfileFactory(email="john@x.com", attributes={"firstName": "John"})
    stub.get(PROFILES_URL, **FAILURES[failure])

    body = api_client.get("/events/profiles/john@x.com/attributes").json()

    assert (body["attributes"], body["source"]) == ({"firstName": "John"}, "local")


def test_it_summarises_a_profiles_metrics_from_klaviyos_events(api_client, stub):
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    profile = ProfileFactory(email="ann@x.com")
    stub.get(PROFILES_URL, json=profile_body("ann@x.com"))
    stub.get(
        EVENTS_URL,
        json=events_body(
            [
                klaviyo_event("RsWdcU", PROFILE_ID, "2025-09-15T10:00:00+00:00"),
                klaviyo_event("NewMet", PROFILE_ID, "2025-09-02T10:00:00+00:00"),
                klaviyo_event("RsWdcU", PROFILE_ID, "2025-09-01T08:00:00+00:00"),
            ],
            {},
            next_cursor=None,
        ),
    )
    stub.get(METRICS_URL, json=metrics_body(Purchase="RsWdcU", **{"Page View": "NewMet"}))

    response = api_client.get("/events/profiles/ann@x.com/metrics")

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
                "count": 2,
                "firstTime": "2025-09-01T08:00:00.000Z",
                "lastTime": "2025-09-15T10:00:00.000Z",
            },
        ],
        "klaviyoId": PROFILE_ID,
        "source": "klaviyo",
    }
    assert f'equals(profile_id,"{PROFILE_ID}")' in requests.utils.unquote(stub.calls[1].request.url)
    assert Metric.objects.get(name="Page View").klaviyo_id == "NewMet"
    profile.refresh_from_db()
    assert profile.klaviyo_id == PROFILE_ID


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_klaviyo_event_list_falls_back_to_local_profile_metrics(
    api_client, stub, failure
):
    ann = ProfileFactory(email="ann@x.com")
    EventFactory(profile=ann, email="ann@x.com", time=at("2025-09-15T10:00:00"))
    stub.get(PROFILES_URL, json=profile_body("ann@x.com"))
    stub.get(EVENTS_URL, **FAILURES[failure])

    body = api_client.get("/events/profiles/ann@x.com/metrics").json()

    assert body["source"] == "local"
    assert [(m["metric"], m["count"]) for m in body["metrics"]] == [("Purchase", 1)]


def test_a_time_zone_klaviyo_rejects_is_counted_locally_without_asking(api_client, stub):
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    EventFactory(time=at("2025-09-15T12:00:00"))

    body = api_client.get("/events/count", count_query(tz="Europe/Kyiv")).json()

    assert (body["count"], body["source"], body["timezone"]) == (1, "local", "Europe/Kyiv")
    assert len(stub.calls) == 0


def test_a_read_the_client_side_rate_limiter_holds_back_is_answered_locally(
    api_client, stub, settings, caplog
):
    settings.KLAVIYO_RATE_LIMIT_ENABLED = True
    settings.KLAVIYO_RATE_LIMIT_REDIS_URL = ""  # this process's limiter, not the shared one
    settings.KLAVIYO_RATE_LIMITS = {
        **settings.KLAVIYO_RATE_LIMITS,
        "metric_aggregates": parse_limits("1/m"),
    }
    settings.READS_KLAVIYO_CACHE_SECONDS = 0
    Metric.objects.create(name="Purchase", klaviyo_id="RsWdcU")
    stub.post(AGGREGATES_URL, json=aggregate_body(5))

    with caplog.at_level(logging.WARNING, logger="klaviyo_sync.klaviyo_first"):
        first = api_client.get("/events/count", count_query()).json()
        second = api_client.get("/events/count", count_query()).json()

    assert (first["source"], second["source"]) == ("klaviyo", "local")
    assert len(stub.calls) == 1
    assert "held back by the client-side rate limiter" in caplog.text
