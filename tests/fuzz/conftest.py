from collections.abc import Iterator

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@pytest.fixture(autouse=True)
def _keep_the_test_transaction_open() -> Iterator[None]:
    """Django closes the connection at the end of each request when it is in a transaction;
    its test client turns that off, and so must the fuzz, which calls the WSGI app directly."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _no_throttle(settings: pytest.FixtureRequest) -> None:
    # Thousands of requests a minute from one key: the throttle is tested on its own.
    settings.API_THROTTLE_RATE = ""
    # Nor the wrong-key guard: the fuzz sends wrong and missing keys on purpose.
    settings.API_KEY_FAILURE_RATE = ""
