"""What every fuzzed answer must satisfy, shared by the fuzz modules: all of schemathesis' checks
(`--checks all`), with two replaced by stricter or narrower ones of ours, each said below."""

import os
import re
from typing import Any

import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, is_check_class, load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from klaviyo_backend.wsgi import application

load_all_checks()
# Every built-in check, as `st run --checks all` runs them (before ours below are registered).
BUILT_IN_CHECKS = [check for check in CHECKS.get_all() if not is_check_class(check)]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
# Same examples every run in CI (a failure reproduces); FUZZ_RANDOM=1 explores new ones.
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "") not in ("1", "true")
ERROR_KEYS = {"statusCode", "message", "error"}
# How the Klaviyo-backed operations say Klaviyo failed (502) or is not configured (503).
UPSTREAM_STATUSES = {502, 503, 504}
# Rules across parameters, or relative to now, that JSON Schema cannot state: the schema says
# them in words (`until`: "after since"; `time`: "after 2000 and at most a year ahead"; each
# channel of a consent change needs its address in every profile; consentedAt goes with
# historicalImport, in the past), and a request that breaks
# one is a 400 naming it, which valid data by the schema may hit.
CROSS_FIELD_RULES = re.compile(
    r"^(since must be before until"
    r"|profiles\.\d+\.(email is required for the email channel"
    r"|phoneNumber is required for the sms channel \(E\.164\)"
    r"|consentedAt is (allowed only|required) with historicalImport: true \(Klaviyo's rule\)"
    r"|consentedAt must be in the past)"
    r"|((events|profiles)\.\d+\.)?time must be (after 2000-01-01T00:00:00Z"
    r"|at most one year in the future))$"
)
# GET /klaviyo/events passes its cursor to Klaviyo, whose cursors only Klaviyo can read: one it
# refuses is a 400 naming the cursor (ours, /events and /events/emails, have exact patterns).
KLAVIYO_CURSOR_RULE = "cursor must be the nextCursor of a previous answer"


# The coverage phase (every boundary of every type, length, pattern and enum: thousands of
# cases, minutes) only when asked: FUZZ_COVERAGE=1.
COVERAGE = os.environ.get("FUZZ_COVERAGE", "") in ("1", "true")


def app_schema(*, max_examples: int = MAX_EXAMPLES) -> Any:
    """The app's own OpenAPI schema, loaded through WSGI, fuzzed with valid and invalid data."""
    schema = schemathesis.openapi.from_wsgi("/api/schema", application)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=max_examples,
        database="none",
    )
    schema.config.phases.coverage.enabled = COVERAGE
    return schema


@schemathesis.check
def no_server_fault(ctx: Any, response: Any, case: Any) -> None:
    """not_a_server_error, but for Klaviyo not configured: a 500 is always a bug; 502/503/504
    are answers about an upstream (Klaviyo, the database, the broker); they pass when the
    operation documents them (status_code_conformance checks that) in the documented body
    (response_schema_conformance)."""
    status = response.status_code
    if status >= 500 and status not in UPSTREAM_STATUSES:
        raise AssertionError(f"Server error {status}: {response.text[:500]}")


@schemathesis.check
def valid_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance, but for a 400 whose every message is one of CROSS_FIELD_RULES
    (or Klaviyo's refusal of a cursor)."""
    if response.status_code == 400:
        messages = response.json().get("message", [])
        klaviyo_cursor = case.path.startswith("/klaviyo/") and messages == [KLAVIYO_CURSOR_RULE]
        if klaviyo_cursor or (messages and all(map(CROSS_FIELD_RULES.match, messages))):
            return None
    return positive_data_acceptance(ctx, response, case)


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


def all_checks(*, klaviyo_up: bool) -> list[Any]:
    """Every built-in check and error_shape; positive_data_acceptance as valid_data_accepted;
    without Klaviyo, not_a_server_error as no_server_fault (the documented 503s pass)."""
    replaced = {"positive_data_acceptance"} | (set() if klaviyo_up else {"not_a_server_error"})
    kept = [check for check in BUILT_IN_CHECKS if check.__name__ not in replaced]
    return [*kept, valid_data_accepted, error_shape, *([] if klaviyo_up else [no_server_fault])]
