"""Stateful fuzz: sequences of operations along the OpenAPI links of /api/schema
(core/schema_hooks.py derives them: POST /events -> GET /events/{id}, POST /profiles ->
GET /profiles/{email}, POST /cleanup/manual -> GET /cleanup/runs/{run_id}, ...), in process,
no Klaviyo key, with every check (tests/fuzz/checks.py): a resource just created must be there
(ensure_resource_availability), one deleted must be gone (use_after_free), each answer as
documented. FUZZ_STATEFUL_EXAMPLES scenarios (default 10) of up to 6 steps, the same each run:
about 5 s; see test_schemathesis.py for a longer hunt."""

import os
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings

from conftest import TEST_API_KEY
from tests.fuzz.checks import DERANDOMIZE, all_checks, app_schema

MAX_SCENARIOS = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "10"))
CHECKS = all_checks(klaviyo_up=False)


class ApiStateMachine(app_schema().as_state_machine()):  # type: ignore[misc]
    def setup(self) -> None:
        # Each scenario starts from the same database (rolled back after it), so that one
        # replayed while shrinking meets the state it met first.
        self._scenario = transaction.atomic()
        self._scenario.__enter__()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._scenario.__exit__(None, None, None)

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"headers": {"X-API-Key": TEST_API_KEY}}

    def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
        # The headers as well: ignored_auth takes the key out of them to resend without it.
        case.validate_response(
            response,
            checks=CHECKS,
            headers=kwargs.get("headers"),
            transport_kwargs=kwargs,
            recorder=self.recorder,
        )


@pytest.mark.django_db
def test_sequences_along_the_links_answer_as_documented(settings_klaviyo: None) -> None:
    ApiStateMachine.run(
        settings=settings(
            max_examples=MAX_SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
        )
    )


@pytest.fixture
def settings_klaviyo(settings: Any) -> None:
    settings.KLAVIYO_API_KEY = ""
