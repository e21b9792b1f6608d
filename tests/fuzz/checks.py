"""What every fuzzed answer must satisfy, shared by the fuzz modules."""

import os
from typing import Any

import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from klaviyo_backend.wsgi import application

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
# Same examples every run in CI (a failure reproduces); FUZZ_RANDOM=1 explores new ones.
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "") not in ("1", "true")
ERROR_KEYS = {"statusCode", "message", "error"}
# How the Klaviyo-backed operations say Klaviyo failed (502) or is not configured (503).
UPSTREAM_STATUSES = {502, 503, 504}


def app_schema(*, max_examples: int = MAX_EXAMPLES) -> Any:
    """The app's own OpenAPI schema, loaded through WSGI, fuzzed with valid and invalid data."""
    schema = schemathesis.openapi.from_wsgi("/api/schema", application)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=max_examples,
        database="none",
    )
    return schema


@schemathesis.check
def no_server_fault(ctx: Any, response: Any, case: Any) -> None:
    """A 500 is always a bug. 502/503/504 are answers about an upstream (Klaviyo, the database,
    the broker); they pass when the operation documents them (status_code_conformance checks
    that) in the documented body (response_schema_conformance)."""
    status = response.status_code
    if status >= 500 and status not in UPSTREAM_STATUSES:
        raise AssertionError(f"Server error {status}: {response.text[:500]}")


@schemathesis.check
def no_5xx(ctx: Any, response: Any, case: Any) -> None:
    """With a working Klaviyo, no answer is a 5xx: a 502 there means the app sent Klaviyo a
    request it refused."""
    if response.status_code >= 500:
        raise AssertionError(f"Server error {response.status_code}: {response.text[:500]}")


@schemathesis.check
def error_shape(ctx: Any, response: Any, case: Any) -> None:
    """Every error answers {"statusCode": <its status>, "message": [str, ...], "error": str}
    (but /health, whose 503 is its report)."""
    if response.status_code < 400 or case.path.rstrip("/") == "/health":
        return
    body = response.json()
    if not isinstance(body, dict) or set(body) != ERROR_KEYS:
        raise AssertionError(f"{response.status_code} body is not in the error shape: {body!r}")
    messages = body["message"]
    if body["statusCode"] != response.status_code:
        raise AssertionError(f"statusCode {body['statusCode']} != {response.status_code}")
    if not messages or not all(isinstance(m, str) and m for m in messages):
        raise AssertionError(f"message is not a list of strings: {messages!r}")
    if not isinstance(body["error"], str):
        raise AssertionError(f"error is not a string: {body['error']!r}")


CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
