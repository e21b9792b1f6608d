"""What the single-event path skips must not change any answer: the content security policy
built once, content negotiation's shortcut, and sessions, users and messages kept to the pages
staff open."""

import pytest
from csp.constants import NONCE, SELF
from csp.decorators import csp_update
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import RequestFactory

from core.middleware import ContentSecurityPolicyMiddleware
from events.models import Event

pytestmark = pytest.mark.django_db

EVENT = {"eventName": "Purchase", "email": "ann@example.com"}


def test_the_policy_follows_a_change_of_its_setting(settings, api_client):
    before = api_client.get("/events/count")["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"img-src": ["'self'"]}}

    after = api_client.get("/events/count")

    assert "frame-ancestors 'none'" in before
    assert after["Content-Security-Policy"] == "default-src 'none'"
    report_only = set(after["Content-Security-Policy-Report-Only"].split("; "))
    assert report_only == {"default-src 'self'", "img-src 'self'"}


def test_a_policy_excluded_for_a_path_prefix_is_not_sent(settings, api_client):
    settings.CONTENT_SECURITY_POLICY = {
        "EXCLUDE_URL_PREFIXES": ["/events"],
        "DIRECTIVES": {"default-src": ["'self'"]},
    }

    assert "Content-Security-Policy" not in api_client.get("/events/count")
    assert api_client.get("/health")["Content-Security-Policy"] == "default-src 'self'"


def test_a_view_with_a_policy_of_its_own_keeps_it():
    @csp_update({"img-src": ["https://images.example.com"]})
    def view(request):
        return HttpResponse("ok")

    request = RequestFactory().get("/anywhere")
    middleware = ContentSecurityPolicyMiddleware(view)

    answer = middleware(request)

    assert "img-src 'self' data: https://images.example.com" in answer["Content-Security-Policy"]


def test_a_page_that_used_a_nonce_gets_it_in_its_policy(settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": [SELF, NONCE]}}

    def view(request):
        return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")

    request = RequestFactory().get("/anywhere")

    answer = ContentSecurityPolicyMiddleware(view)(request)

    assert f"script-src 'self' 'nonce-{request._csp_nonce}'" in answer["Content-Security-Policy"]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*, */*;q=0.1"])
def test_any_accept_that_takes_json_gets_json(api_client, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}

    answer = api_client.post("/events", EVENT, format="json", **headers)

    assert answer.status_code == 201
    assert answer["Content-Type"] == "application/json"
    assert answer.json()["eventName"] == "Purchase"


@pytest.mark.parametrize("accept", ["text/html", "", "application/xml"])
def test_an_accept_that_refuses_json_answers_406_and_stores_nothing(api_client, accept):
    answer = api_client.post("/events", EVENT, format="json", HTTP_ACCEPT=accept)

    assert answer.status_code == 406
    assert answer.json()["statusCode"] == 406
    assert not Event.objects.exists()


def test_a_format_that_is_not_json_is_not_found(api_client):
    answer = api_client.get("/events/count?format=xml")

    assert answer.status_code == 404


def test_api_requests_get_no_session_user_or_messages(api_client):
    answer = api_client.post("/events", EVENT, format="json")

    assert answer.status_code == 201
    assert not hasattr(answer.wsgi_request, "session")
    assert not hasattr(answer.wsgi_request, "_messages")
    assert "Cookie" not in answer.get("Vary", "")
    assert not answer.cookies


def test_staff_pages_keep_sessions_users_and_messages(client):
    staff = get_user_model().objects.create_superuser("ops", password="right-pw-123")
    client.force_login(staff)

    home, dashboard = client.get("/"), client.get("/admin/sync-health/")

    assert home.status_code == 200 and dashboard.status_code == 200
    assert dashboard.wsgi_request.user == staff
    assert hasattr(home.wsgi_request, "session") and hasattr(home.wsgi_request, "_messages")


def test_an_admin_path_with_a_line_break_is_still_a_staff_page(client):
    answer = client.get("/admin/%0A")

    assert answer.status_code in (302, 404)  # to the login page, or not found: never a 500
    assert hasattr(answer.wsgi_request, "session")


def test_the_staff_pages_follow_a_change_of_their_setting(settings, api_client):
    settings.STAFF_PATHS = r"/(admin/.*|events)?\Z"

    answer = api_client.post("/events", EVENT, format="json")

    assert answer.status_code == 201
    assert hasattr(answer.wsgi_request, "session")
