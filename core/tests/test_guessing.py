"""Guessing is throttled: admin passwords (django-axes) per username and address, API keys per
client address (429 with Retry-After, in the error shape)."""

import functools
import hashlib
import uuid

import pytest
import redis
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.client import RequestFactory

from conftest import TEST_API_KEY
from core.client_address import client_address
from events.models import Event
from testkit.procs import redis_url

pytestmark = pytest.mark.django_db

EVENT = {"eventName": "Purchase", "email": "ann@example.com"}


@pytest.fixture
def staff(settings):
    settings.ADMIN_LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 5
    return get_user_model().objects.create_user("ops", password="right-pw-123", is_staff=True)


def admin_login(password: str, *, address: str = "198.51.100.7", username: str = "ops"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(
        "/admin/login/", {"username": username, "password": password, "next": "/admin/"}
    )
    return client, response


def test_the_admin_login_locks_out_at_the_fifth_wrong_password(staff):
    answers = [admin_login(f"guess-{n}")[1].status_code for n in range(5)]
    _, locked = admin_login("guess-6")
    _, right_but_locked = admin_login("right-pw-123")

    assert answers == [200, 200, 200, 200, 429]  # the form again with its error; then locked
    assert locked.status_code == 429
    assert right_but_locked.status_code == 429
    attempt = AccessAttempt.objects.get(username="ops", ip_address="198.51.100.7")
    assert attempt.failures_since_start >= 5


def test_the_lockout_holds_one_username_at_one_address_only(staff):
    for n in range(5):
        admin_login(f"guess-{n}")

    client, elsewhere = admin_login("right-pw-123", address="203.0.113.9")

    assert elsewhere.status_code == 302
    assert elsewhere["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_right_password_before_the_limit_resets_the_count(staff):
    for n in range(4):
        admin_login(f"guess-{n}")
    _, success = admin_login("right-pw-123")
    answers = [admin_login(f"again-{n}")[1].status_code for n in range(4)]

    assert success.status_code == 302
    assert answers == [200] * 4


def test_wrong_api_keys_are_throttled_per_address_with_retry_after(anonymous_client, settings):
    settings.API_KEY_FAILURE_RATE = "3/min"
    wrong = [
        anonymous_client.post("/events", EVENT, format="json", HTTP_X_API_KEY=f"guess-{n}")
        for n in range(3)
    ]
    throttled = anonymous_client.post("/events", EVENT, format="json", HTTP_X_API_KEY="guess-4")
    right_but_throttled = anonymous_client.post(
        "/events", EVENT, format="json", HTTP_X_API_KEY=TEST_API_KEY
    )
    other_address = anonymous_client.post(
        "/events", EVENT, format="json", HTTP_X_API_KEY=TEST_API_KEY, REMOTE_ADDR="203.0.113.9"
    )

    assert [response.status_code for response in wrong] == [401, 401, 401]
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    body = throttled.json()
    assert set(body) == {"statusCode", "message", "error"}
    assert body["statusCode"] == 429
    assert body["error"] == "Too Many Requests"
    assert body["message"][0].startswith("Too many wrong API keys from this address")
    assert right_but_throttled.status_code == 429
    assert other_address.status_code == 201
    assert Event.objects.count() == 1


def test_wrong_keys_counted_in_redis_lock_out_a_right_key_too(anonymous_client, settings):
    """With CACHE_URL on Redis the count is one INCR per wrong key, which the guard reads."""
    url = redis_url()
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": url}}
    settings.API_KEY_FAILURE_RATE = "2/min"
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    post = functools.partial(anonymous_client.post, "/events", EVENT, format="json")

    wrong = [post(HTTP_X_API_KEY=f"guess-{n}", REMOTE_ADDR=address).status_code for n in (1, 2)]
    right = post(HTTP_X_API_KEY=TEST_API_KEY, REMOTE_ADDR=address)

    assert wrong == [401, 401]
    assert right.status_code == 429
    assert not Event.objects.exists()
    stored = redis.Redis.from_url(url)
    digest = hashlib.sha256(address.encode()).hexdigest()[:24]
    [key] = stored.keys(f"*wrong-key:{digest}:*")
    assert int(stored.get(key)) == 2 and 0 < stored.ttl(key) <= 61
    stored.delete(key)


def test_requests_without_a_key_are_not_counted_as_guesses(anonymous_client, settings):
    settings.API_KEY_FAILURE_RATE = "3/min"
    missing = [anonymous_client.post("/events", EVENT, format="json") for _ in range(10)]
    keyed = anonymous_client.post("/events", EVENT, format="json", HTTP_X_API_KEY=TEST_API_KEY)

    assert {response.status_code for response in missing} == {401}
    assert keyed.status_code == 201


def test_the_client_address_is_the_peer_without_trusted_proxies(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert client_address(request) == "10.0.0.2"


def test_behind_a_proxy_the_address_it_saw_counts_not_what_the_client_wrote(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.1"
    )

    assert client_address(request) == "198.51.100.1"
