"""The OpenAPI document is valid OpenAPI 3 and states what validation enforces; the code refuses
what the document calls invalid (issue 13). The fuzz (tests/fuzz) checks the whole surface; these
pin the rules one by one."""

import json
import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from cleanup.models import PurgeRun
from events.list_serializers import event_cursor_decode, event_cursor_encode
from events.selectors import EventPosition
from events.tests.factories import EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def document():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_document_is_valid_openapi_3(document):
    validate_schema(document)  # raises on the first violation of the OpenAPI 3.0 meta-schema
    assert document["openapi"].startswith("3.")


def test_every_body_that_refuses_unknown_keys_says_so(document):
    schemas = document["components"]["schemas"]
    for name in ("EventInputRequest", "ProfileInputRequest", "ManualPurgeInputRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    assert "anyOf" in schemas["EventInputRequest"]  # an email or an identifier


def test_every_operation_documents_the_servers_own_errors(document):
    for path, method, operation in operations(document):
        assert {"414", "431"} <= operation["responses"].keys(), (method, path)
        if "requestBody" in operation:
            assert {"408", "413"} <= operation["responses"].keys(), (method, path)


def test_what_a_post_creates_links_to_where_it_is_read(document):
    created = document["paths"]["/events/"]["post"]["responses"]["201"]["links"]
    assert created["events_retrieve"]["parameters"] == {"id": "$response.body#/id"}
    profile = document["paths"]["/profiles/"]["post"]["responses"]["201"]["links"]
    assert profile["profiles_retrieve"]["parameters"] == {"email": "$response.body#/email"}


def test_each_operation_lists_its_security_once(document):
    for path, method, operation in operations(document):
        security = operation.get("security", [])
        assert len(security) == len({str(item) for item in security}), (method, path)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/events?limit=", "limit must be an integer"),
        ("/events?until=", "until"),
        ("/cleanup/runs?limit=", "limit must be an integer"),
        ("/events/count?metric=Purchase&date=2025-09-15&tz=", "tz must be an IANA time zone"),
        ("/events/count?metric=Purchase&date=2025-09-15&tz=Mars/Olympus", "tz must be an IANA"),
        ("/events?cursor=MjAyNQ", "cursor must be the nextCursor of a previous answer"),
        ("/events/emails?metric=P&date=2025-09-15&cursor=abcde", "cursor must be the nextCursor"),
    ],
)
def test_an_empty_or_malformed_query_value_is_a_400(api_client, path, message):
    response = api_client.get(path)

    assert response.status_code == 400
    assert response.json()["message"][0].startswith(message)


def test_any_cursor_of_the_documented_pattern_is_a_position(api_client):
    event = EventFactory()
    position = EventPosition(created_at=event.created_at, id=event.id)

    assert event_cursor_decode(event_cursor_encode(position)) == position
    assert api_client.get("/events?cursor=0_" + "0" * 32).status_code == 200
    assert api_client.get("/events/emails?metric=P&date=2025-09-15&cursor=_-8").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/klaviyo/sync-test", {"eventName": 12}, "eventName must be a string"),
        ("/klaviyo/sync-test", {"eventName": " "}, "eventName must not be blank"),
        ("/klaviyo/sync-test", [], "body must be a JSON object"),
        ("/cleanup/manual", None, "body must be a JSON object"),
        ("/cleanup/manual", {"days": "7"}, "days must be an integer"),
    ],
)
def test_a_body_value_of_another_json_type_is_a_400_not_converted(api_client, path, body, message):
    response = api_client.generic("POST", path, json.dumps(body), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["message"][0].startswith(message)
    assert not PurgeRun.objects.exists()


def test_a_name_is_measured_as_sent_not_after_trimming(api_client):
    response = api_client.post(
        "/events", {"eventName": "x" + " " * 127, "email": "ann@example.com"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["message"] == [
        "eventName must be at most 127 characters: Klaviyo's limit for a metric name"
    ]


def test_a_profile_whose_email_holds_a_slash_is_read_back_by_path(api_client):
    created = api_client.post("/profiles", {"email": "a/b@example.com"}, format="json")
    assert created.status_code == 201

    response = api_client.get("/profiles/a%2Fb@example.com")

    assert response.status_code == 200
    assert response.json()["email"] == "a/b@example.com"


def test_a_body_of_one_of_several_shapes_is_required(document, api_client):
    body = document["paths"]["/profiles/erasures/"]["post"]["requestBody"]

    assert body["required"] is True
    response = api_client.post("/profiles/erasures")
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("ann@example.com", True),
        ("ann@localhost", True),
        ("ann@b.xn--55qx5d", True),
        ("0@0.a", False),  # a one-letter top-level domain
        ("ann@b.c1", False),  # digits in it
        ("ann@a_b.com", False),
    ],
)
def test_an_email_in_the_path_is_valid_to_the_document_exactly_when_it_is_to_the_views(
    document, api_client, email, valid
):
    [parameter] = [
        p for p in document["paths"]["/profiles/{email}/"]["get"]["parameters"] if p["in"] == "path"
    ]

    assert bool(re.match(parameter["schema"]["pattern"], email)) is valid
    assert api_client.get(f"/profiles/{email}").status_code == (404 if valid else 400)
