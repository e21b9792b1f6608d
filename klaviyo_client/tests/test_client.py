"""The Klaviyo client: URLs, headers, filters, pagination, errors and logging (HTTP stubbed with
`responses`)."""

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
import responses

from klaviyo_client.client import KlaviyoClient, klaviyo_client
from klaviyo_client.errors import KlaviyoError
from klaviyo_client.ratelimit import LocalRateLimiter, parse_limits

BASE = "https://a.klaviyo.test/api"
KEY = "pk_secret_key_123"


@pytest.fixture
def client() -> KlaviyoClient:
    return KlaviyoClient(api_key=KEY, base_url=BASE, revision="2026-07-15", timeout=(1.0, 2.0))


def query_of(call: responses.Call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


@responses.activate
def test_it_sends_the_auth_revision_and_json_api_headers(client):
    responses.get(f"{BASE}/accounts", json={"data": [{"type": "account", "id": "A1"}]})

    account = client.account_check()

    assert account == {"type": "account", "id": "A1"}
    headers = responses.calls[0].request.headers
    assert headers["Authorization"] == f"Klaviyo-API-Key {KEY}"
    assert headers["revision"] == "2026-07-15"
    assert headers["Accept"] == "application/vnd.api+json"
    assert responses.calls[0].request.url == f"{BASE}/accounts"


@responses.activate
def test_it_follows_every_page_of_metrics(client):
    page2 = f"{BASE}/metrics?page%5Bcursor%5D=abc"
    responses.get(
        f"{BASE}/metrics",
        json={
            "data": [{"type": "metric", "id": "M1", "attributes": {"name": "Purchase"}}],
            "links": {"next": f"{BASE}/metrics/?page%5Bcursor%5D=abc"},
        },
        match=[responses.matchers.query_string_matcher("")],
    )
    responses.get(
        page2,
        json={
            "data": [{"type": "metric", "id": "M2", "attributes": {"name": "Signup"}}],
            "links": {"next": None},
        },
    )

    metrics = client.metrics_list()

    assert [m["id"] for m in metrics] == ["M1", "M2"]
    assert query_of(responses.calls[1]) == {"page[cursor]": ["abc"]}


@responses.activate
def test_it_finds_a_profile_by_email_with_a_quoted_filter(client):
    responses.get(f"{BASE}/profiles", json={"data": [{"type": "profile", "id": "P1"}]})

    profile = client.profile_get_by_email(email='o"brien@example.com')

    assert profile == {"type": "profile", "id": "P1"}
    assert query_of(responses.calls[0])["filter"] == ['equals(email,"o\\"brien@example.com")']
    # URI-encoded whole: no raw quote, comma or parenthesis in the URL.
    raw_query = urlsplit(responses.calls[0].request.url).query
    assert '"' not in raw_query and "(" not in raw_query and "," not in raw_query


@responses.activate
def test_it_answers_none_for_an_unknown_profile(client):
    responses.get(f"{BASE}/profiles", json={"data": []})

    assert client.profile_get_by_email(email="nobody@example.com") is None


@responses.activate
def test_it_lists_events_with_metric_and_unquoted_datetime_filters(client):
    responses.get(
        f"{BASE}/events",
        json={
            "data": [{"type": "event", "id": "E1", "attributes": {"datetime": "x"}}],
            "included": [{"type": "profile", "id": "P1", "attributes": {"email": "a@b.co"}}],
            "links": {"next": f"{BASE}/events?page%5Bcursor%5D=next1&page%5Bsize%5D=50"},
        },
    )
    since = datetime(2025, 9, 15, 2, 0, tzinfo=timezone(timedelta(hours=2)))

    data, included, cursor = client.events_list(
        metric_id="M1",
        since=since,
        until=datetime(2025, 9, 16, tzinfo=UTC),
        page_size=50,
        include_profile=True,
        page_cursor="prev",
    )

    assert [e["id"] for e in data] == ["E1"]
    assert included[("profile", "P1")]["attributes"]["email"] == "a@b.co"
    assert cursor == "next1"
    query = query_of(responses.calls[0])
    assert query["filter"] == [
        'equals(metric_id,"M1"),greater-or-equal(datetime,2025-09-15T00:00:00Z),'
        "less-than(datetime,2025-09-16T00:00:00Z)"
    ]
    assert query["page[size]"] == ["50"]
    assert query["page[cursor]"] == ["prev"]
    assert query["include"] == ["profile"]


@responses.activate
def test_it_has_no_next_cursor_on_the_last_page(client):
    responses.get(f"{BASE}/events", json={"data": [], "links": {"next": None}})

    data, included, cursor = client.events_list(profile_id="P9")

    assert (data, included, cursor) == ([], {}, None)
    assert query_of(responses.calls[0])["filter"] == ['equals(profile_id,"P9")']


@responses.activate
def test_it_asks_metric_aggregates_for_a_time_range(client):
    responses.post(
        f"{BASE}/metric-aggregates",
        json={
            "data": {
                "type": "metric-aggregate",
                "id": "x",
                "attributes": {"dates": ["2025-09-15T00:00:00+00:00"], "data": []},
            }
        },
    )

    result = client.metric_aggregate(
        metric_id="M1",
        start=datetime(2025, 9, 15, tzinfo=UTC),
        end=datetime(2025, 9, 16, tzinfo=UTC),
        timezone="Europe/Paris",
    )

    assert result["attributes"]["dates"] == ["2025-09-15T00:00:00+00:00"]
    request = responses.calls[0].request
    assert request.headers["Content-Type"] == "application/vnd.api+json"
    attributes = json.loads(request.body)["data"]["attributes"]
    assert attributes == {
        "metric_id": "M1",
        "measurements": ["count"],
        "interval": "day",
        "filter": [
            "greater-or-equal(datetime,2025-09-15T02:00:00)",
            "less-than(datetime,2025-09-16T02:00:00)",
        ],
        "timezone": "Europe/Paris",
    }


@responses.activate
def test_it_asks_for_a_dst_day_in_local_date_times_of_its_zone(client):
    # 2025-03-30 in Paris: clocks jump from 02:00 to 03:00, the day lasts 23 hours. The spec's
    # format is the local date-time without offset, read in `timezone`.
    responses.post(f"{BASE}/metric-aggregates", json={"data": {}})
    paris = ZoneInfo("Europe/Paris")

    client.metric_aggregate(
        metric_id="M1",
        start=datetime(2025, 3, 30, tzinfo=paris),
        end=datetime(2025, 3, 31, tzinfo=paris),
        timezone="Europe/Paris",
    )

    attributes = json.loads(responses.calls[0].request.body)["data"]["attributes"]
    assert attributes["filter"] == [
        "greater-or-equal(datetime,2025-03-30T00:00:00)",
        "less-than(datetime,2025-03-31T00:00:00)",
    ]
    assert attributes["timezone"] == "Europe/Paris"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
@responses.activate
def test_it_raises_klaviyo_errors_with_status_and_retryability(client, status, retryable):
    responses.get(
        f"{BASE}/metrics",
        status=status,
        json={
            "errors": [
                {
                    "id": "e1",
                    "status": status,
                    "code": "invalid",
                    "title": "Invalid input.",
                    "detail": "Something is wrong.",
                    "source": {"pointer": "/data/attributes/x"},
                }
            ]
        },
    )

    with pytest.raises(KlaviyoError) as raised:
        client.metrics_list()

    error = raised.value
    assert (error.status, error.retryable) == (status, retryable)
    assert error.detail == "Invalid input. Something is wrong. (/data/attributes/x)"
    assert error.summary == f"HTTP {status}: {error.detail}"
    assert error.errors[0]["source"]["pointer"] == "/data/attributes/x"


@responses.activate
def test_it_reads_retry_after_in_seconds(client):
    responses.get(f"{BASE}/metrics", status=429, headers={"Retry-After": "7"}, body="")

    with pytest.raises(KlaviyoError) as raised:
        client.metrics_list()

    assert raised.value.retry_after == 7.0
    assert raised.value.retryable is True
    assert raised.value.detail == "Too Many Requests"


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "1e400", "soon"])
@responses.activate
def test_a_retry_after_that_is_no_delay_is_read_as_none(client, value):
    """Not 1*DIGIT nor a date (RFC 9110): no delay to honour, and no infinite pause to block
    the route's bucket with (its milliseconds overflowed)."""
    responses.get(f"{BASE}/metrics", status=429, headers={"Retry-After": value}, body="")

    with pytest.raises(KlaviyoError) as raised:
        client.metrics_list()

    assert raised.value.retry_after in (None, 0.0)
    assert raised.value.retryable is True


@responses.activate
def test_a_timeout_is_retryable_and_has_no_status(client):
    responses.get(f"{BASE}/metrics", body=requests.ReadTimeout("read timed out"))

    with pytest.raises(KlaviyoError) as raised:
        client.metrics_list()

    assert (raised.value.status, raised.value.retryable) == (None, True)
    assert raised.value.detail == "Timed out: ReadTimeout"


@responses.activate
def test_a_connection_error_is_retryable(client):
    responses.get(f"{BASE}/metrics", body=requests.ConnectionError("refused"))

    with pytest.raises(KlaviyoError) as raised:
        client.metrics_list()

    assert (raised.value.status, raised.value.retryable) == (None, True)


@pytest.fixture
def broken_answer_url() -> Iterator[str]:
    """A server that answers a request with its headers and the first bytes of a body, then
    closes the connection: the request went out, the answer broke off."""
    server = socket.create_server(("127.0.0.1", 0))

    def answer_once() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 202 Accepted\r\nContent-Type: application/vnd.api+json\r\n"
                b'Content-Length: 100\r\n\r\n{"data"'
            )

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/api"
    thread.join(timeout=5)
    server.close()


def test_an_answer_broken_off_is_retryable_and_has_no_status(broken_answer_url):
    # Klaviyo may have the event or not; sent again, it dedupes on unique_id.
    client = KlaviyoClient(api_key=KEY, base_url=broken_answer_url, revision="r", timeout=(1, 2))

    with pytest.raises(KlaviyoError) as raised:
        client.event_create(data={"type": "event", "attributes": {}})

    assert (raised.value.status, raised.value.retryable) == (None, True)
    assert raised.value.detail == "Request failed: ChunkedEncodingError"


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ContentDecodingError("bad gzip"),
        requests.exceptions.TooManyRedirects("30 redirects"),
    ],
    ids=type,
)
@responses.activate
def test_a_failure_after_the_request_went_out_is_retryable(client, error):
    responses.post(f"{BASE}/events", body=error)

    with pytest.raises(KlaviyoError) as raised:
        client.event_create(data={"type": "event", "attributes": {}})

    assert (raised.value.status, raised.value.retryable) == (None, True)
    assert raised.value.detail == f"Request failed: {type(error).__name__}"


@pytest.mark.parametrize(
    ("base_url", "api_key", "problem"),
    [
        ("a.klaviyo.test/api", KEY, "MissingSchema"),
        ("ftp://a.klaviyo.test/api", KEY, "InvalidSchema"),
        ("https://[a.klaviyo.test/api", KEY, "InvalidURL"),
        (BASE, f"{KEY}\r\nX-Injected: 1", "InvalidHeader"),
    ],
    ids=["MissingSchema", "InvalidSchema", "InvalidURL", "InvalidHeader"],
)
def test_a_request_that_cannot_be_built_is_permanent(base_url, api_key, problem):
    client = KlaviyoClient(api_key=api_key, base_url=base_url, revision="r", timeout=(1, 2))

    with pytest.raises(KlaviyoError) as raised:
        client.event_create(data={"type": "event", "attributes": {}})

    assert (raised.value.status, raised.value.retryable) == (None, False)
    assert raised.value.detail == f"Request not built: {problem}"
    assert KEY not in raised.value.detail


@responses.activate
def test_the_key_never_appears_in_errors_or_logs(client, caplog):
    responses.get(
        f"{BASE}/accounts",
        status=401,
        json={"errors": [{"title": "Bad key", "detail": f"Key {KEY} is invalid"}]},
    )
    caplog.set_level(logging.DEBUG, logger="klaviyo_client.client")

    with pytest.raises(KlaviyoError) as raised:
        client.account_check()

    assert KEY not in str(raised.value) and KEY not in raised.value.detail
    assert KEY not in caplog.text
    assert KEY not in repr(client)
    assert any(getattr(r, "config_error", False) for r in caplog.records)


@responses.activate
def test_it_logs_one_line_per_call_with_endpoint_status_duration_and_attempt(client, caplog):
    responses.post(f"{BASE}/events", status=202)
    caplog.set_level(logging.INFO, logger="klaviyo_client.client")

    client.event_create(data={"type": "event", "attributes": {}}, attempt=3)

    records = [r for r in caplog.records if r.name == "klaviyo_client.client"]
    assert len(records) == 1
    record = records[0]
    assert record.endpoint == "POST /api/events"
    assert record.status == 202
    assert record.attempt == 3
    assert record.duration_ms >= 0


@responses.activate
def test_a_body_that_is_not_json_is_an_error(client):
    responses.get(f"{BASE}/accounts", body="<html>", status=200)

    with pytest.raises(KlaviyoError) as raised:
        client.account_check()

    assert raised.value.retryable is False


@responses.activate
def test_a_429_pauses_the_endpoint_in_the_rate_limiter():
    limiter = LocalRateLimiter({"metrics": parse_limits("100/s")}, margin=0.0)
    client = KlaviyoClient(
        api_key=KEY,
        base_url=BASE,
        revision="2026-07-15",
        timeout=(1.0, 1.0),
        limiter=limiter,
        rate_limit_max_wait=0.0,
    )
    responses.get(f"{BASE}/metrics", status=429, headers={"Retry-After": "30"}, body="")

    with pytest.raises(KlaviyoError):
        client.metrics_list()
    with pytest.raises(KlaviyoError) as held_back:
        client.metrics_list()

    assert held_back.value.local is True
    assert held_back.value.retry_after == pytest.approx(30, abs=1)
    assert len(responses.calls) == 1


def test_the_factory_answers_none_without_a_key(settings):
    settings.KLAVIYO_API_KEY = ""

    assert klaviyo_client() is None


def test_the_factory_builds_a_client_from_settings(settings):
    settings.KLAVIYO_API_KEY = KEY
    settings.KLAVIYO_BASE_URL = BASE
    settings.KLAVIYO_REVISION = "2026-07-15"

    client = klaviyo_client(timeout=0.5)

    assert client is not None
    assert client.timeout == (0.5, 0.5)
    assert client.base_url == BASE
    assert klaviyo_client().timeout == (
        settings.KLAVIYO_CONNECT_TIMEOUT,
        settings.KLAVIYO_READ_TIMEOUT,
    )
