"""Fixtures shared by every app's tests."""

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from klaviyo_backend.celery import app as celery_app

TEST_API_KEY = "test-api-key"
# Under pytest-xdist (pytest.ini: -n 2) the first worker runs these tests one after another, as
# without xdist, while the other runs the rest: they keep keys in the shared Redis broker
# database (CELERY_BROKER_URL), which each sync stack flushes, or time a server's or a worker's
# answers under load they make themselves. Two at once would share one Redis database and race
# for two cores. (tests/embedded starts processes too, but on its own SQLite database, broker
# folder and ports, and asserts no tight time: it runs beside them.)
PROCESS_TESTS = (
    "tests/e2e/",
    "tests/drills/",
    "tests/browser/",
    "core/tests/test_security.py::test_throttle_counts_live_in_redis_when_configured",
    "core/tests/test_guessing.py::test_wrong_keys_counted_in_redis_lock_out_a_right_key_too",
    "klaviyo_sync/tests/test_profile_bulk.py::"
    "test_a_backlogs_batches_wait_behind_the_follow_ups_of_its_jobs_already_sent",
)


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # a pytest-xdist hook; xdist may be absent
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """xdist's load balancing, but PROCESS_TESTS all go to the first worker at the start."""
    if config.getvalue("dist") == "each":
        return None
    from testkit.parallel import TogetherFirst

    scheduler = TogetherFirst(config, log)
    scheduler.together = PROCESS_TESTS
    return scheduler


@pytest.fixture(autouse=True)
def _api_keys(settings: pytest.FixtureRequest) -> None:
    settings.API_KEYS = [TEST_API_KEY]


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: pytest.FixtureRequest) -> None:
    """A cheap hash for the tests' users and logins (Django's advice for test speed: PBKDF2's
    million rounds cost a quarter of a second each here, and the admin tests log in often).
    Production keeps settings.PASSWORD_HASHERS; the checks of the login are the same."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle and wrong-key counts (core.rates) live in the cache: one test's must not reach
    the next (all of them come from 127.0.0.1)."""
    cache.clear()


@pytest.fixture(autouse=True)
def _eager_celery(
    request: pytest.FixtureRequest, settings: pytest.FixtureRequest
) -> Iterator[None]:
    """Unit tests run tasks in process, queued at once rather than by the publisher's thread
    (SYNC_QUEUE_WINDOW_MS=0); end-to-end tests (marker e2e) use the real broker."""
    if request.node.get_closest_marker("e2e"):
        yield
        return
    settings.SYNC_QUEUE_WINDOW_MS = 0
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _klaviyo_rate_limiter_off(
    request: pytest.FixtureRequest, settings: pytest.FixtureRequest
) -> None:
    """The shared Klaviyo rate limiter would carry counts from test to test; its own tests
    build limiters explicitly. End-to-end tests keep it, as configured."""
    if not request.node.get_closest_marker("e2e"):
        settings.KLAVIYO_RATE_LIMIT_ENABLED = False


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def api_client() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=TEST_API_KEY)
    return client


@pytest.fixture(autouse=True)
def _embedded_broker_dir(settings: pytest.FixtureRequest, tmp_path_factory) -> None:
    """The embedded broker's folder (checked by /health) in the test run's temporary folder,
    not beside the developer's own database."""
    settings.EMBEDDED_BROKER_DIR = tmp_path_factory.getbasetemp() / "embedded-broker"
