"""Fixtures for the emulator's own tests: the WSGI app driven in process (no socket), and a
check that every answer matches Klaviyo's OpenAPI document."""

import json
from typing import Any

import pytest
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse
from werkzeug.test import Client, EnvironBuilder, TestResponse
from werkzeug.wrappers import Request

from klaviyo_emulator import DEFAULT_API_KEY, Emulator, EmulatorApp, EmulatorConfig
from klaviyo_emulator.validation import _KlaviyoHostRequest

# What a client sends over HTTP (tests of the emulator as a real server).
HTTP_HEADERS = {
    "Authorization": f"Klaviyo-API-Key {DEFAULT_API_KEY}",
    "revision": "2026-07-15",
    "Content-Type": "application/vnd.api+json",
}
KLAVIYO_HEADERS = {
    "Authorization": f"Klaviyo-API-Key {DEFAULT_API_KEY}",
    "revision": "2026-07-15",
    "Accept": "application/vnd.api+json",
}


class KlaviyoTestClient:
    """Sends Klaviyo-style requests to the app; `response_matches_spec` checks an answer."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.client = Client(app)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        headers = {**KLAVIYO_HEADERS, **kwargs.pop("headers", {})}
        return self.client.get(path, headers=headers, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> TestResponse:
        headers = {**KLAVIYO_HEADERS, **kwargs.pop("headers", {})}
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        content_type = kwargs.pop("content_type", "application/vnd.api+json")
        method = kwargs.pop("method", "POST")
        return self.client.open(
            path, method=method, data=data, headers=headers, content_type=content_type, **kwargs
        )

    def delete(self, path: str, body: Any, **kwargs: Any) -> TestResponse:
        """DELETE with a JSON:API body (Klaviyo's relationship removals)."""
        return self.post(path, body, method="DELETE", **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> TestResponse:
        headers = {**KLAVIYO_HEADERS, **kwargs.pop("headers", {})}
        return self.client.patch(
            path,
            data=json.dumps(body),
            headers=headers,
            content_type="application/vnd.api+json",
            **kwargs,
        )

    def response_matches_spec(self, response: TestResponse) -> bool:
        """Validates status, headers and body against the operation's response in the spec
        (raises with the reason when they don't match)."""
        sent = response.request
        environ = EnvironBuilder(
            method=sent.method, path=sent.path, query_string=sent.query_string.decode()
        ).get_environ()
        assert self.app.spec is not None
        self.app.spec.validate_response(
            _KlaviyoHostRequest(Request(environ)), WerkzeugOpenAPIResponse(response)
        )
        return True


@pytest.fixture
def emulator():
    """The emulator serving on a free loopback port, in a thread."""
    emulator = Emulator(port=0, config=EmulatorConfig())
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator_app() -> EmulatorApp:
    return EmulatorApp(EmulatorConfig())


@pytest.fixture
def klaviyo(emulator_app: EmulatorApp) -> KlaviyoTestClient:
    return KlaviyoTestClient(emulator_app)


def event_body(
    *,
    email: str = "sarah@example.com",
    name: str = "Placed Order",
    unique_id: str | None = "order-1",
    time: str | None = "2026-11-01T12:00:00+00:00",
    value: float | None = 9.99,
    properties: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "properties": properties if properties is not None else {"OrderId": "1"},
        "metric": {"data": {"type": "metric", "attributes": {"name": name}}},
        "profile": {
            "data": {
                "type": "profile",
                "attributes": profile if profile is not None else {"email": email},
            }
        },
    }
    for key, item in (("time", time), ("value", value), ("unique_id", unique_id)):
        if item is not None:
            attributes[key] = item
    return {"data": {"type": "event", "attributes": attributes}}


def bulk_body(groups: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> dict[str, Any]:
    """groups: (profile attributes, [event attributes without profile]) per profile."""
    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {
                "events-bulk-create": {
                    "data": [
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {"data": {"type": "profile", "attributes": profile}},
                                "events": {
                                    "data": [
                                        {"type": "event", "attributes": event} for event in events
                                    ]
                                },
                            },
                        }
                        for profile, events in groups
                    ]
                }
            },
        }
    }


def bulk_event(
    unique_id: str, *, name: str = "Placed Order", time: str = "2026-11-01T12:00:00+00:00"
) -> dict[str, Any]:
    return {
        "properties": {"n": unique_id},
        "time": time,
        "value": 1.5,
        "unique_id": unique_id,
        "metric": {"data": {"type": "metric", "attributes": {"name": name}}},
    }


def pointers(response: TestResponse) -> list[str]:
    return [error["source"].get("pointer", "") for error in response.json["errors"]]
