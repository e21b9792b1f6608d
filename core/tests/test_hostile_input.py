"""Hostile input on the ingest endpoints: each case gets a clear 4xx in the error shape, or is
stored exactly as sent. Never a 500."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from events.models import Event, Profile
from events.validators import UNCLEAN_NAME
from klaviyo_emulator import DEFAULT_API_KEY, Emulator

pytestmark = pytest.mark.django_db

EVENT = {"eventName": "Purchase", "email": "ann@example.com"}
# Fragments that break naive SQL building, HTML rendering, format strings and log parsing.
FRAGMENTS = [
    "Robert'); DROP TABLE events_event;--",
    "' OR '1'='1",
    '" OR ""="',
    "1; SELECT SLEEP(5) #",
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=alert(1)>",
    "%s %(name)s {0} {name!r} %n",
    "${jndi:ldap://example.com/a}",
    "\\x00 \\' \\\" \\\\",
    "line\nbreak\ttab\rreturn",
    "emoji 🙂 and ümlaut and 中文 and RTL \u202e",
]
# What a name or identifier (eventName, uniqueId, firstName, ...) may hold: control characters
# and bidi overrides are refused there (events/tests/test_clean_names.py), kept in free-form
# attributes.
NAME_FRAGMENTS = [fragment for fragment in FRAGMENTS if not UNCLEAN_NAME.search(fragment)]


def post_raw(client, body: bytes, path: str = "/events", content_type: str = "application/json"):
    return client.generic("POST", path, body, content_type=content_type)


def assert_error(response, status: int, *fragments: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["statusCode"] == status
    assert isinstance(body["error"], str)
    assert body["message"]
    assert all(isinstance(m, str) for m in body["message"])
    text = " ".join(body["message"]).lower()
    for fragment in fragments:
        assert fragment.lower() in text


def assert_nothing_stored() -> None:
    assert Event.objects.count() == 0
    assert Profile.objects.count() == 0


# --- size -----------------------------------------------------------------------------------------


def test_a_body_over_the_size_limit_gets_413(api_client, settings):
    settings.MAX_REQUEST_BYTES = 50_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000
    body = json.dumps({**EVENT, "eventAttributes": {"blob": "x" * 60_000}}).encode()

    response = post_raw(api_client, body)

    assert_error(response, 413, "larger than 50000 bytes")
    assert_nothing_stored()


def test_a_bulk_of_1001_events_is_refused(api_client):
    events = [{"eventName": "Page View", "email": f"u{i}@example.com"} for i in range(1001)]

    response = api_client.post("/events/bulk", {"events": events}, format="json")

    assert_error(response, 400, "events must hold at most 1000 events")
    assert_nothing_stored()


def test_a_bulk_of_1000_events_is_stored(api_client):
    events = [{"eventName": "Page View", "email": f"u{i % 50}@example.com"} for i in range(1000)]

    response = api_client.post("/events/bulk", {"events": events}, format="json")

    assert response.status_code == 201
    assert response.json()["created"] == 1000
    assert Event.objects.count() == 1000
    assert Profile.objects.count() == 50


# --- nesting and long strings ---------------------------------------------------------------------


def nested(depth: int) -> dict:
    value: dict = {"leaf": "end"}
    for level in range(depth - 1):
        value = {f"level{level}": value}
    return value


def test_attributes_nested_ten_deep_are_stored_faithfully(api_client):
    attributes = nested(10)

    response = api_client.post("/events", {**EVENT, "eventAttributes": attributes}, format="json")

    assert response.status_code == 201
    assert Event.objects.get().event_attributes == attributes


def test_attributes_nested_deeper_are_refused(api_client):
    response = api_client.post("/events", {**EVENT, "eventAttributes": nested(12)}, format="json")

    assert_error(response, 400, "eventAttributes must not be nested deeper than 10 levels")
    assert_nothing_stored()


def test_json_nested_deeper_than_any_parser_allows_is_refused(api_client):
    body = b'{"eventName": "x", "email": "a@example.com", "eventAttributes": ' + (
        b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}"
    )

    assert_error(post_raw(api_client, body), 400, "JSON parse error")
    assert_nothing_stored()


def test_arrays_nested_deep_are_refused(api_client):
    attributes = {"list": json.loads("[" * 20 + "]" * 20)}

    response = api_client.post("/events", {**EVENT, "eventAttributes": attributes}, format="json")

    assert_error(response, 400, "nested deeper")


def test_attribute_strings_of_100kb_are_stored_faithfully(api_client):
    long_text = "ab🙂" * 17_066  # 51,198 characters, 102,396 bytes of UTF-8: Klaviyo's limit
    payload = {
        **EVENT,
        "eventAttributes": {"notes": long_text},
        "profileAttributes": {"biography": long_text},
    }

    response = api_client.post("/events", payload, format="json")

    assert response.status_code == 201
    event = Event.objects.get()
    assert event.event_attributes["notes"] == long_text
    assert event.profile.attributes["biography"] == long_text


@pytest.mark.parametrize("where", ["eventAttributes", "profileAttributes"])
def test_attribute_strings_over_100kb_are_refused(api_client, where):
    # Klaviyo would refuse them: they used to be stored and fail at send time.
    too_long = "ab🙂" * 17_067  # 102,402 bytes of UTF-8

    response = api_client.post("/events", {**EVENT, where: {"notes": too_long}}, format="json")

    assert_error(response, 400, f"{where}.notes must be at most 100 KB")
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("eventName", "eventName"),
        ("uniqueId", "uniqueId"),
        ("email", "email"),
    ],
)
def test_100kb_strings_in_bounded_fields_are_refused(api_client, field, message):
    value = "x" * 100_000 + ("@example.com" if field == "email" else "")

    response = api_client.post("/events", {**EVENT, field: value}, format="json")

    assert_error(response, 400, message)
    assert_nothing_stored()


def test_a_100kb_external_id_is_refused(api_client):
    profile = {"externalId": "x" * 100_000}

    response = api_client.post(
        "/events", {"eventName": "Login", "profileAttributes": profile}, format="json"
    )

    assert_error(response, 400, "externalId must be a non-empty string of at most 255")


# --- encoding and JSON edge cases -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"eventName": "caf\xe9", "email": "a@example.com"}',  # Latin-1, not UTF-8
        b'{"eventName": "\xff\xfe\xfd", "email": "a@example.com"}',
        b"\xef\xbb\xbf\xff",
        b'{"eventName": "\xed\xa0\x80", "email": "a@example.com"}',  # an encoded surrogate
    ],
)
def test_bytes_that_are_not_utf8_are_refused(api_client, body):
    assert_error(post_raw(api_client, body), 400, "JSON parse error")
    assert_nothing_stored()


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\udc00y", "\\ud83d"])
def test_lone_surrogate_escapes_are_refused(api_client, escape):
    body = f'{{"eventName": "{escape}", "email": "a@example.com"}}'.encode()

    assert_error(post_raw(api_client, body), 400, "lone surrogate")
    assert_nothing_stored()


def test_a_surrogate_pair_escape_is_one_character_and_is_stored(api_client):
    body = b'{"eventName": "smile \\ud83d\\ude42", "email": "a@example.com"}'

    response = post_raw(api_client, body)

    assert response.status_code == 201
    assert Event.objects.get().event_name == "smile 🙂"


def test_an_unknown_charset_is_ignored_and_the_body_read_as_utf8(api_client):
    body = json.dumps({**EVENT, "eventName": "Käse"}, ensure_ascii=False).encode()

    response = post_raw(api_client, body, content_type="application/json; charset=klingon")

    assert response.status_code == 201
    assert Event.objects.get().event_name == "Käse"


def test_a_declared_latin1_body_is_decoded_as_declared(api_client):
    body = '{"eventName": "café", "email": "a@example.com"}'.encode("latin-1")

    response = post_raw(api_client, body, content_type="application/json; charset=latin-1")

    assert response.status_code == 201
    assert Event.objects.get().event_name == "café"


@pytest.mark.parametrize(
    "body",
    [
        b'{"eventName": "A", "eventName": "B", "email": "a@example.com"}',
        b'{"eventName": "A", "email": "a@example.com", "eventAttributes": {"k": 1, "k": 2}}',
        b'{"events": [{"eventName": "A", "email": "a@example.com", "email": "b@example.com"}]}',
    ],
)
def test_json_with_duplicate_keys_is_refused(api_client, body):
    path = "/events/bulk" if body.startswith(b'{"events"') else "/events"

    assert_error(post_raw(api_client, body, path=path), 400, "duplicate key")
    assert_nothing_stored()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
@pytest.mark.parametrize("where", ["value", "eventAttributes", "profileAttributes"])
def test_nan_and_infinity_are_refused(api_client, number, where):
    if where == "value":
        body = f'{{"eventName": "A", "email": "a@example.com", "value": {number}}}'
    else:
        body = f'{{"eventName": "A", "email": "a@example.com", "{where}": {{"x": [{number}]}}}}'

    response = post_raw(api_client, body.encode())

    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert_nothing_stored()


def test_an_integer_too_large_for_a_float_value_is_refused(api_client):
    body = b'{"eventName": "A", "email": "a@example.com", "value": 1' + b"0" * 400 + b"}"

    assert_error(post_raw(api_client, body), 400, "value")
    assert_nothing_stored()


def test_huge_numbers_in_attributes_are_stored_faithfully(api_client):
    attributes = {"big": 10**30, "small": 5e-324, "max": 1.7976931348623157e308, "neg": -(2**63)}

    response = api_client.post("/events", {**EVENT, "eventAttributes": attributes}, format="json")

    assert response.status_code == 201
    stored = Event.objects.get().event_attributes
    assert stored["max"] == attributes["max"]
    assert stored["small"] == attributes["small"]
    assert stored["neg"] == attributes["neg"]
    assert stored["big"] == attributes["big"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"null", 400),
        (b"[]", 400),
        (b'"just a string"', 400),
        (b"42", 400),
        (b'{"eventName": "A", "email": "a@example.com"', 400),
        (b'{"eventName": "A"} trailing', 400),
    ],
)
def test_bodies_that_are_not_an_event_object_are_refused(api_client, body, status):
    assert_error(post_raw(api_client, body), status)
    assert_nothing_stored()


def test_a_body_that_is_not_json_gets_415(api_client):
    response = post_raw(
        api_client, b"eventName=A", content_type="application/x-www-form-urlencoded"
    )

    assert_error(response, 415, "Unsupported media type")


@pytest.mark.parametrize(
    "payload",
    [
        {"eventName": ["A"], "email": "a@example.com"},
        {"eventName": {"x": 1}, "email": "a@example.com"},
        {"eventName": "A", "email": 42},
        {"eventName": "A", "email": "a@example.com", "eventAttributes": ["a"]},
        {"eventName": "A", "email": "a@example.com", "eventAttributes": "text"},
        {"eventName": "A", "email": "a@example.com", "value": "ten"},
        {"eventName": "A", "email": "a@example.com", "time": 1700000000},
        {"eventName": "A", "email": "a@example.com", "uniqueId": ""},
        {"eventName": "A", "profileAttributes": {"phoneNumber": 15005550006}},
        {"eventName": "A", "profileAttributes": {"externalId": ["x"]}},
        {"eventName": "   ", "email": "a@example.com"},
    ],
)
def test_wrong_types_are_refused(api_client, payload):
    assert_error(api_client.post("/events", payload, format="json"), 400)
    assert_nothing_stored()


def test_wrong_types_in_bulk_are_refused(api_client):
    for body in ({"events": "all"}, {"events": [1, 2]}, {"events": [[]]}, {"events": None}):
        assert_error(api_client.post("/events/bulk", body, format="json"), 400)
    assert_nothing_stored()


@pytest.mark.parametrize("field", ["eventName", "uniqueId"])
def test_a_nul_character_in_a_text_field_is_refused(api_client, field):
    response = api_client.post("/events", {**EVENT, field: "a\u0000b"}, format="json")

    assert_error(response, 400, field, "control characters")
    assert_nothing_stored()


def test_a_nul_character_in_attributes_is_stored_faithfully(api_client):
    attributes = {"nul\u0000key": "nul\u0000value"}
    payload = {**EVENT, "eventAttributes": attributes, "profileAttributes": attributes}

    response = api_client.post("/events", payload, format="json")

    assert response.status_code == 201
    event = Event.objects.get()
    assert event.event_attributes == attributes
    assert event.profile.attributes == attributes


# --- emails ---------------------------------------------------------------------------------------


def test_an_uppercase_email_is_stored_lowercase_on_one_profile(api_client):
    first = api_client.post("/events", {**EVENT, "email": "John.DOE@Example.COM"}, format="json")
    second = api_client.post("/events", {**EVENT, "email": "john.doe@example.com"}, format="json")

    assert first.status_code == second.status_code == 201
    assert first.json()["email"] == "john.doe@example.com"
    assert Profile.objects.get().email == "john.doe@example.com"
    assert set(Event.objects.values_list("email", flat=True)) == {"john.doe@example.com"}


def test_an_email_with_a_unicode_domain_is_stored_faithfully(api_client):
    response = api_client.post("/events", {**EVENT, "email": "Anna@BÜCHER.example"}, format="json")

    assert response.status_code == 201
    assert Event.objects.get().email == "anna@bücher.example"
    assert Profile.objects.get().email == "anna@bücher.example"


@pytest.mark.parametrize(
    "email",
    ["josé@example.com", "用户@例子.广告", "a@b", "a b@example.com", "a@@example.com", "@x.com"],
)
def test_emails_that_are_not_valid_are_refused(api_client, email):
    response = api_client.post("/events", {**EVENT, "email": email}, format="json")

    assert_error(response, 400, "email must be a valid email")
    assert_nothing_stored()


# --- time -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ("1999-12-31T23:59:59Z", "time must be after 2000-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00Z", "time must be after 2000-01-01T00:00:00Z"),
        ("1970-01-01T00:00:00Z", "time must be after 2000-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59Z", "time must be at most one year in the future"),
        ("10000-01-01T00:00:00Z", "time"),
        ("2025-13-45T99:99:99Z", "time"),
        ("yesterday", "time"),
        ("2025-01-01T10:00:00+99:00", "time"),
    ],
)
def test_times_out_of_range_or_unreadable_are_refused(api_client, sent, message):
    response = api_client.post("/events", {**EVENT, "time": sent}, format="json")

    assert_error(response, 400, message)
    assert_nothing_stored()


def test_a_time_more_than_a_year_ahead_is_refused(api_client):
    ahead = (timezone.now() + timedelta(days=367)).isoformat()

    response = api_client.post("/events", {**EVENT, "time": ahead}, format="json")

    assert_error(response, 400, "time must be at most one year in the future")


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2000-01-01T00:00:01Z", datetime(2000, 1, 1, 0, 0, 1, tzinfo=UTC)),
        ("2025-06-01T12:00:00+14:00", datetime(2025, 5, 31, 22, 0, tzinfo=UTC)),
        ("2025-06-01T12:00:00.123456-09:30", datetime(2025, 6, 1, 21, 30, 0, 123456, tzinfo=UTC)),
        ("2025-06-01T12:00:00", datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),  # naive: UTC
    ],
)
def test_times_in_range_are_stored_in_utc(api_client, sent, stored):
    response = api_client.post("/events", {**EVENT, "time": sent}, format="json")

    assert response.status_code == 201
    assert Event.objects.get().time == stored


def test_a_time_eleven_months_ahead_is_stored(api_client):
    ahead = timezone.now() + timedelta(days=330)

    response = api_client.post("/events", {**EVENT, "time": ahead.isoformat()}, format="json")

    assert response.status_code == 201
    assert Event.objects.get().time == ahead


# --- SQL and script fragments ---------------------------------------------------------------------


@pytest.mark.parametrize("fragment", NAME_FRAGMENTS)
def test_fragments_in_every_string_field_are_stored_faithfully(api_client, fragment):
    payload = {
        "eventName": f"Purchase {fragment}",
        "email": "o'reilly+drop--table@example.com",
        "uniqueId": f"order {fragment}",
        "eventAttributes": {fragment: fragment, "nested": {"list": [fragment, {fragment: 1}]}},
        "profileAttributes": {"externalId": f"ext {fragment}", "firstName": fragment, fragment: 1},
    }

    response = api_client.post("/events", payload, format="json")

    assert response.status_code == 201
    body = response.json()
    event = Event.objects.get(pk=body["id"])
    assert event.event_name == payload["eventName"]
    assert event.email == payload["email"]
    assert event.unique_id == payload["uniqueId"]
    assert event.event_attributes == payload["eventAttributes"]
    assert event.profile_attributes == payload["profileAttributes"]
    assert event.profile.attributes == payload["profileAttributes"]
    assert event.profile.external_id == payload["profileAttributes"]["externalId"]
    assert body["eventName"] == payload["eventName"]
    assert body["eventAttributes"] == payload["eventAttributes"]

    again = api_client.post("/events", payload, format="json")  # the uniqueId matches
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert Event.objects.count() == 1


def test_fragments_survive_a_profile_merge_and_a_bulk_ingest(api_client):
    events = [
        {
            "eventName": f"View {i}",
            "email": "merge@example.com",
            "profileAttributes": {f"key{i} {fragment}": fragment},
        }
        for i, fragment in enumerate(FRAGMENTS)
    ]

    response = api_client.post("/events/bulk", {"events": events}, format="json")

    assert response.status_code == 201
    merged = {f"key{i} {fragment}": fragment for i, fragment in enumerate(FRAGMENTS)}
    assert Profile.objects.get().attributes == merged
    stored = set(Event.objects.values_list("event_name", flat=True))
    assert stored == {e["eventName"] for e in events}


@pytest.mark.parametrize("fragment", NAME_FRAGMENTS)
def test_fragments_read_back_equal_through_the_read_endpoints(api_client, settings, fragment):
    settings.KLAVIYO_API_KEY = ""  # the answers come from the local database
    email = "o'reilly+drop--table@example.com"
    name = f"Purchase {fragment}"
    attributes = {"firstName": fragment, fragment: [fragment]}
    event = {
        "eventName": name,
        "email": email,
        "time": "2025-06-01T10:00:00Z",
        "profileAttributes": attributes,
    }
    assert api_client.post("/events", event, format="json").status_code == 201
    day = {"metric": name, "date": "2025-06-01"}
    profile_path = f"/events/profiles/{quote(email)}"

    metrics = api_client.get("/events/metrics").json()["metrics"]
    count = api_client.get("/events/count", day).json()
    emails = api_client.get("/events/emails", day).json()
    profile = api_client.get(f"{profile_path}/attributes").json()
    profile_metrics = api_client.get(f"{profile_path}/metrics").json()["metrics"]

    assert name in [metric["name"] for metric in metrics]
    assert (count["metric"], count["count"]) == (name, 1)
    assert emails["emails"] == [email]
    assert (profile["email"], profile["attributes"]) == (email, attributes)
    assert [(m["metric"], m["count"]) for m in profile_metrics] == [(name, 1)]


# --- values passed on to Klaviyo ------------------------------------------------------------------


@pytest.mark.parametrize("cursor", ["0", "not-a-cursor", "'; DROP TABLE x;--", "%00"])
def test_a_cursor_klaviyo_refuses_is_the_clients_error_not_a_502(api_client, settings, cursor):
    emulator = Emulator(port=0)  # Klaviyo, on a free loopback port
    emulator.start()
    try:
        settings.KLAVIYO_API_KEY = DEFAULT_API_KEY
        settings.KLAVIYO_BASE_URL = emulator.api_url
        response = api_client.get("/klaviyo/events", {"cursor": cursor})
    finally:
        emulator.stop()

    assert_error(response, 400, "cursor must be the nextCursor of a previous answer")
