"""Property-based fuzz of every operation in the app's own OpenAPI schema (/api/schema), in
process through WSGI: valid and invalid inputs, with a valid API key, no Klaviyo key. What
`st run --checks all` does, in CI with 0 failures allowed: each operation's examples and
FUZZ_MAX_EXAMPLES generated cases per generation mode (default 10), with every check
schemathesis has (tests/fuzz/checks.py: responses as documented, valid data accepted and
invalid data refused, auth enforced, resources available after creation, ...) and the error
shape. Sequences of operations along the schema's links are test_stateful.py's.

Time: the three fuzz modules keep within the CI's 90 s fuzzing budget, the same examples each
run. The coverage phase (the boundaries of every type, length, pattern, enum and limit the
schema states: about 400 cases an operation, several minutes) runs with FUZZ_COVERAGE=1. For a
longer hunt with new examples:
    FUZZ_COVERAGE=1 FUZZ_RANDOM=1 FUZZ_MAX_EXAMPLES=500 FUZZ_STATEFUL_EXAMPLES=500 \
        .venv/bin/pytest tests/fuzz
or against a running server (manage.py serve), every phase at once:
    st run http://127.0.0.1:3000/api/schema --checks all -H "X-API-Key: <key>" --max-examples 200
Operations added later are fuzzed without any change here.
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from conftest import TEST_API_KEY
from tests.fuzz.checks import DERANDOMIZE, all_checks, app_schema

schema = app_schema()
CHECKS = all_checks(klaviyo_up=False)


@pytest.fixture(autouse=True)
def _no_klaviyo(settings: Any) -> None:
    # Nothing leaves the process: Klaviyo-backed operations answer their documented 503, the
    # reads answer from the database.
    settings.KLAVIYO_API_KEY = ""


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
def test_the_api_answers_every_generated_request_as_documented(case: Any) -> None:
    case.call_and_validate(headers={"X-API-Key": TEST_API_KEY}, checks=CHECKS)
