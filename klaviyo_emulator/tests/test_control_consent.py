"""The control API's consent, history and list endpoints, over HTTP as other processes use
them, and faults aimed at the consent routes by operation."""

import json

import requests

from klaviyo_emulator import Emulator, EmulatorControl, Faults
from klaviyo_emulator.__main__ import _fault_spec, parser_build
from klaviyo_emulator.tests.conftest import HTTP_HEADERS
from klaviyo_emulator.tests.consent_bodies import subscribe_body, unsubscribe_body
from testkit.klaviyo_state import (
    consent_of,
    history_of,
    list_create,
    list_member_emails,
    operations_of,
)

HEADERS = HTTP_HEADERS


def post(emulator: Emulator, path: str, body: dict) -> requests.Response:
    return requests.post(
        f"{emulator.api_url}/{path}", data=json.dumps(body), headers=HEADERS, timeout=10
    )


def test_tests_create_lists_and_read_consent_lists_and_history(emulator):
    control = EmulatorControl(emulator.api_url)
    created = control.create_list("Newsletter", id="NEWS01")

    subscribed = post(
        emulator,
        "profile-subscription-bulk-create-jobs",
        subscribe_body([{"email": "Ann@example.com"}], list_id="NEWS01"),
    )
    unsubscribed = post(
        emulator,
        "profile-subscription-bulk-delete-jobs",
        unsubscribe_body([{"email": "ann@example.com"}]),
    )

    assert created == {
        "id": "NEWS01",
        "name": "Newsletter",
        "opt_in_process": "single_opt_in",
        "created": created["created"],
        "members": [],
        "pending": [],
    }
    assert (subscribed.status_code, unsubscribed.status_code) == (202, 202)
    [profile] = control.profiles(email="ann@example.com")
    assert profile["email_marketing"]["consent"] == "UNSUBSCRIBED"
    assert profile["lists"] == ["NEWS01"]
    [news] = control.lists()
    assert [m["profile_id"] for m in news["members"]] == [profile["id"]]
    history = control.history(email="ann@example.com")
    assert [(h["seq"], h["operation"]) for h in history] == [
        (1, "subscribe"),
        (2, "list_add"),
        (3, "unsubscribe"),
    ]
    assert control.profiles(email="nobody@example.com") == []
    assert control.reset() and control.lists() == [] and control.history() == []


def test_it_refuses_a_list_without_a_name_or_with_a_taken_id(emulator):
    root = f"{emulator.url}/_emulator"
    EmulatorControl(emulator.api_url).create_list("Newsletter", id="NEWS01")

    unnamed = requests.post(f"{root}/lists", json={"opt_in_process": "single_opt_in"}, timeout=10)
    taken = requests.post(f"{root}/lists", json={"name": "Again", "id": "NEWS01"}, timeout=10)
    bad_opt_in = requests.post(
        f"{root}/lists", json={"name": "X", "opt_in_process": "x"}, timeout=10
    )

    assert [r.status_code for r in (unnamed, taken, bad_opt_in)] == [400, 400, 400]
    assert "name" in unnamed.json()["error"]


def test_a_fault_aimed_at_an_operation_spares_the_others(emulator):
    control = EmulatorControl(emulator.api_url)
    control.fault(status=429, count=1, operation="bulk_unsubscribe_profiles", retry_after=2)
    body = unsubscribe_body([{"email": "ann@example.com"}])

    subscribed = post(
        emulator, "profile-subscription-bulk-create-jobs", subscribe_body([{"email": "a@b.co"}])
    )
    throttled = post(emulator, "profile-subscription-bulk-delete-jobs", body)
    passed = post(emulator, "profile-subscription-bulk-delete-jobs", body)

    assert subscribed.status_code == 202
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert passed.status_code == 202
    assert control.state()["faults"]["statuses"] == []


def test_testkit_reads_the_same_state_in_process(emulator):
    newsletter = list_create(emulator, "Newsletter")["id"]

    post(
        emulator,
        "profile-subscription-bulk-create-jobs",
        subscribe_body([{"email": "ann@example.com"}], list_id=newsletter),
    )

    assert consent_of(emulator, "ANN@example.com")["email_marketing"]["consent"] == "SUBSCRIBED"
    assert consent_of(emulator, "nobody@example.com") is None
    assert list_member_emails(emulator, newsletter) == ["ann@example.com"]
    assert operations_of(emulator, "ann@example.com") == ["subscribe", "list_add"]
    assert history_of(emulator, "ann@example.com") == EmulatorControl(emulator.api_url).history()


def test_python_m_klaviyo_emulator_aims_its_start_up_fault_at_an_operation():
    options = parser_build().parse_args(
        ["--fail-status", "503", "--fail-count", "2", "--fail-operation", "add_profiles_to_list"]
    )

    spec = _fault_spec(options)
    faults = Faults()
    faults.configure(spec)

    assert spec["operation"] == "add_profiles_to_list"
    assert faults.take("/api/lists/X/relationships/profiles", after_processing=False) is None
    assert faults.take(
        "/api/lists/X/relationships/profiles",
        after_processing=False,
        operation="add_profiles_to_list",
    )
