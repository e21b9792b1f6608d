"""The dashboard's "Test the connection" asks Klaviyo (GET /api/accounts) and says the answer."""

import pytest
from django.urls import reverse

from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db


def test_a_key_klaviyo_accepts_is_reported_connected(staff_client, klaviyo):
    klaviyo.get(f"{BASE}/accounts", json={"data": [{"id": "ACC1", "attributes": {}}]})

    response = staff_client.post(reverse("console:connection"), follow=True)

    assert "Connected to Klaviyo (account ACC1)" in response.content.decode()


def test_a_refused_key_is_reported_with_klaviyos_answer(staff_client, klaviyo):
    klaviyo.get(
        f"{BASE}/accounts",
        status=401,
        json={"errors": [{"title": "Incorrect authentication credentials."}]},
    )

    response = staff_client.post(reverse("console:connection"), follow=True)

    page = response.content.decode()
    assert "Klaviyo refused: HTTP 401: Incorrect authentication credentials." in page
    assert "messagelist" in page


def test_the_connection_test_needs_a_post(staff_client):
    assert staff_client.get(reverse("console:connection")).status_code == 405
