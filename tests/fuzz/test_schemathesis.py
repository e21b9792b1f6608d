"""Property-based fuzz of every operation in the app's own OpenAPI schema (/api/schema), in
process through WSGI: valid and invalid inputs, with a valid API key.

Checks: no 500 (502/503 only where documented, e.g. Klaviyo not configured), responses (status,
content type, body) as the schema documents them, every error body in the error shape. Bounded
by FUZZ_MAX_EXAMPLES per operation and generation mode (default 50) so that CI stays fast, and
the same examples each run; for a longer hunt with new examples:
    FUZZ_RANDOM=1 FUZZ_MAX_EXAMPLES=500 .venv/bin/pytest tests/fuzz
Operations added later are fuzzed without any change here.
"""

import os
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import TEST_API_KEY
from klaviyo_backend.wsgi import application

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
# Same examples every run in CI (a failure reproduces); FUZZ_RANDOM=1 explores new ones.
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "") not in ("1", "true")
ERROR_KEYS = {"statusCode", "message", "error"}

schema = schemathesis.openapi.from_wsgi("/api/schema", application)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    database="none",
)


# How the Klaviyo-backed operations say Klaviyo failed (502) or is not configured (503).
UPSTREAM_STATUSES = {502, 503, 504}


@schemathesis.check
def no_server_fault(ctx: Any, response: Any, case: Any) -> None:
    """A 500 is always a bug. 502/503/504 are answers about an upstream (Klaviyo, the database,
    the broker); they pass when the operation documents them (status_code_conformance checks
    that) in the documented body (response_schema_conformance)."""
    status = response.status_code
    if status >= 500 and status not in UPSTREAM_STATUSES:
        raise AssertionError(f"Server error {status}: {response.text[:500]}")


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


CHECKS = [
    no_server_fault,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_shape,
]


@pytest.fixture(autouse=True)
def _keep_the_test_transaction_open():
    """Django closes the connection at the end of each request when it is in a transaction;
    its test client turns that off, and so must this, which calls the WSGI app directly."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _no_throttle_no_klaviyo(settings):
    # Thousands of requests a minute from one key: the throttle is tested on its own.
    settings.API_THROTTLE_RATE = ""
    # Nothing leaves the process: Klaviyo-backed operations answer their documented 503.
    settings.KLAVIYO_API_KEY = ""


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
def test_the_api_answers_every_generated_request_as_documented(case: Any) -> None:
    case.call_and_validate(headers={"X-API-Key": TEST_API_KEY}, checks=CHECKS)
