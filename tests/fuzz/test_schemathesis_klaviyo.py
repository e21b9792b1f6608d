"""The operations that talk to Klaviyo (/klaviyo/..., the reads that ask Klaviyo first, ingest
which sends), fuzzed with the Klaviyo emulator answering as Klaviyo would (on a free loopback
port). No 5xx at all: a 502 here means the app built a request Klaviyo refuses (a filter, a path,
a body). Every check, as in test_schemathesis.py; half its examples (FUZZ_MAX_EXAMPLES / 2).
About 10 s."""

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from conftest import TEST_API_KEY
from klaviyo_emulator import DEFAULT_API_KEY, Emulator, EmulatorConfig
from tests.fuzz.checks import DERANDOMIZE, MAX_EXAMPLES, all_checks, app_schema

schema = app_schema(max_examples=max(1, MAX_EXAMPLES // 2)).include(
    path_regex=r"^/(klaviyo/|events/)"
)
# Every check, not_a_server_error included: no 5xx at all.
CHECKS = all_checks(klaviyo_up=True)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    # Every request checked against Klaviyo's OpenAPI document; no rate limits (what the app
    # does under Klaviyo's 429s is the fault drills' business, not the input fuzz's).
    emulator = Emulator(port=0, config=EmulatorConfig(validate=True, rate_limits=False))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _klaviyo_is_the_emulator(settings: Any, emulator: Emulator) -> None:
    settings.KLAVIYO_API_KEY = DEFAULT_API_KEY
    settings.KLAVIYO_BASE_URL = emulator.api_url


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
def test_the_klaviyo_backed_api_answers_as_documented_with_klaviyo_up(case: Any) -> None:
    case.call_and_validate(headers={"X-API-Key": TEST_API_KEY}, checks=CHECKS)
