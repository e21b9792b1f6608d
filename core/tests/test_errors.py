"""Every 4xx has the old service's shape, whatever its cause; docs are open; paths work with and
without a trailing slash."""

import json

import pytest
from django.db import OperationalError

import events.services
from core.errors import error_body
from core.tests.log_capture import captured_log_lines
from events.models import Event, Profile

pytestmark = pytest.mark.django_db

EVENT = {"eventName": "Purchase", "email": "ann@example.com"}


def post_raw(client, path: str, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", path, body, content_type=content_type)


def test_malformed_json_gets_400(api_client):
    response = post_raw(api_client, "/events", b'{"eventName": "Purchase",')

    assert response.status_code == 400
    body = response.json()
    assert (body["statusCode"], body["error"]) == (400, "Bad Request")
    assert body["message"][0].startswith("JSON parse error")
    assert Event.objects.count() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_a_body_that_is_not_json_gets_415(api_client, content_type):
    response = post_raw(api_client, "/events", b"eventName=Purchase", content_type)

    assert response.status_code == 415
    assert response.json() == {
        "statusCode": 415,
        "message": [f'Unsupported media type "{content_type}" in request.'],
        "error": "Unsupported Media Type",
    }


@pytest.mark.parametrize("path", ["/nope", "/v2/events", "/events/bulk/extra/part"])
def test_an_unknown_path_gets_404_with_or_without_a_key(api_client, anonymous_client, path):
    for client in (api_client, anonymous_client):
        response = client.get(path)

        assert response.status_code == 404
        assert response.json() == {
            "statusCode": 404,
            "message": [f"Cannot GET {path}"],
            "error": "Not Found",
        }


def test_an_unknown_path_names_the_method(api_client):
    response = api_client.post("/nope", EVENT, format="json")

    assert response.json()["message"] == ["Cannot POST /nope"]


@pytest.mark.parametrize(("method", "path"), [("put", "/events"), ("delete", "/events/bulk")])
def test_a_wrong_method_gets_405(api_client, method, path):
    response = getattr(api_client, method)(path)

    assert response.status_code == 405
    assert response.json() == {
        "statusCode": 405,
        "message": [f'Method "{method.upper()}" not allowed.'],
        "error": "Method Not Allowed",
    }


def test_a_body_over_max_request_bytes_gets_413_and_stores_nothing(api_client, settings):
    settings.MAX_REQUEST_BYTES = 1000
    body = json.dumps({**EVENT, "eventAttributes": {"note": "x" * 2000}}).encode()

    response = post_raw(api_client, "/events", body)

    assert response.status_code == 413
    assert response.json() == {
        "statusCode": 413,
        "message": ["Request body is larger than 1000 bytes"],
        "error": "Payload Too Large",
    }
    assert Event.objects.count() == 0


def test_a_chunked_body_gets_411_rather_than_being_read_as_empty(api_client):
    response = api_client.post("/events", EVENT, format="json", HTTP_TRANSFER_ENCODING="chunked")

    assert response.status_code == 411
    assert response.json() == {
        "statusCode": 411,
        "message": ["Send the body with a Content-Length header, not chunked"],
        "error": "Length Required",
    }
    assert Event.objects.count() == 0


def test_a_body_under_the_limit_is_taken(api_client, settings):
    settings.MAX_REQUEST_BYTES = 1000

    assert post_raw(api_client, "/events", json.dumps(EVENT).encode()).status_code == 201


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/schema", "/api/schema/"])
def test_the_docs_are_open_without_a_key(anonymous_client, path):
    assert anonymous_client.get(path).status_code == 200


def test_the_schema_declares_the_key_header_and_the_error_shape(anonymous_client):
    schema = json.loads(anonymous_client.get("/api/schema?format=json").content)

    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"statusCode", "message", "error"}
    assert error["properties"]["message"]["type"] == "array"
    create = next(item for path, item in schema["paths"].items() if path.rstrip("/") == "/events")
    operation = create["post"]
    assert {"ApiKeyAuth": []} in operation["security"]
    for status in ("400", "401", "413"):
        content = operation["responses"][status]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "examples" in operation["requestBody"]["content"]["application/json"]
    assert "examples" in operation["responses"]["201"]["content"]["application/json"]


def test_every_error_example_in_the_schema_has_the_error_shape_of_its_status(anonymous_client):
    schema = json.loads(anonymous_client.get("/api/schema?format=json").content)

    examples = [
        (int(status), example["value"])
        for item in schema["paths"].values()
        for operation in item.values()
        for status, response in operation.get("responses", {}).items()
        if int(status) >= 400
        for example in response.get("content", {})
        .get("application/json", {})
        .get("examples", {})
        .values()
    ]
    assert len(examples) >= 8  # 400, 404, 409, 502 and 503 examples across the three apps
    for status, value in examples:
        assert value == error_body(status, value["message"])
        assert value["message"] and all(isinstance(m, str) for m in value["message"])


@pytest.mark.parametrize("path", ["/health", "/health/"])
def test_health_works_with_and_without_a_trailing_slash(anonymous_client, path):
    assert anonymous_client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/events", "/events/", "/events/bulk", "/events/bulk/"])
def test_ingest_paths_work_with_and_without_a_trailing_slash(api_client, path):
    body = {"events": [EVENT]} if "bulk" in path else EVENT

    assert api_client.post(path, body, format="json").status_code == 201


@pytest.mark.parametrize("path", ["/events", "/events/bulk"])
def test_a_database_failure_mid_request_gets_503_with_retry_after_and_stores_nothing(
    api_client, monkeypatch, path
):
    def connection_lost(**kwargs):
        raise OperationalError(2013, "Lost connection to server during query")

    # After the profile upsert has written: the rollback must take the profile back too.
    monkeypatch.setattr(events.services, "_events_insert", connection_lost)
    monkeypatch.setattr(Event, "save", lambda self, **kwargs: connection_lost())
    body = EVENT if path == "/events" else {"events": [EVENT]}

    response = api_client.post(path, body, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"] == "Service Unavailable"
    assert response.json()["statusCode"] == 503
    assert "database is unavailable" in response.json()["message"][0]
    assert not Event.objects.exists()
    assert not Profile.objects.exists()


def test_a_database_error_that_is_a_bug_stays_a_500_with_its_traceback(api_client, monkeypatch):
    # A missing migration is no outage: retrying would not help, and the traceback must show.
    def unknown_column(**kwargs):
        raise OperationalError(1054, "Unknown column 'events_event.new_field' in 'field list'")

    monkeypatch.setattr(events.services, "_events_insert", unknown_column)

    with captured_log_lines() as lines:
        response = api_client.post("/events/bulk", {"events": [EVENT]}, format="json")

    assert response.status_code == 500
    assert response.json() == {
        "statusCode": 500,
        "message": ["Internal server error"],
        "error": "Internal Server Error",
    }
    assert "Retry-After" not in response
    [logged] = [entry for entry in lines.entries() if entry["logger"] == "core.errors"]
    assert logged["level"] == "ERROR" and "Unknown column" in logged["exception"]
    assert not Event.objects.exists()
