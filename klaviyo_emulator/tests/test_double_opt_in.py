"""Subscribing to a double opt-in list waits for the person's confirmation."""

from klaviyo_emulator import Emulator, EmulatorConfig, EmulatorControl
from klaviyo_emulator.consent_view import history_entries, list_states, profile_states
from klaviyo_emulator.double_opt_in import confirm
from klaviyo_emulator.lists_store import DOUBLE_OPT_IN
from klaviyo_emulator.store import now_utc
from klaviyo_emulator.tests.conftest import KlaviyoTestClient
from klaviyo_emulator.tests.consent_bodies import channels, subscribe_body
from testkit.klaviyo_state import consent_of, list_create, opt_in_confirm

SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"


def double_list(klaviyo):
    return klaviyo.app.store.lists.create(name="VIP", at=now_utc(), opt_in_process=DOUBLE_OPT_IN)


def test_the_email_waits_for_confirmation_and_sms_does_not(klaviyo):
    vip = double_list(klaviyo)
    body = subscribe_body(
        [
            {
                "email": "ann@example.com",
                "phone_number": "+15005550006",
                "subscriptions": channels("email", "sms"),
            }
        ],
        list_id=vip.id,
    )

    assert klaviyo.post(SUBSCRIBE, body).status_code == 202

    [state] = profile_states(klaviyo.app.store, email="ann@example.com")
    assert state["email_marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert state["sms_marketing"]["consent"] == "SUBSCRIBED"
    assert state["lists"] == []
    [listed] = list_states(klaviyo.app.store)
    assert [p["email"] for p in listed["pending"]] == ["ann@example.com"]

    confirm(klaviyo.app.store, vip.id, "ANN@example.com")

    [state] = profile_states(klaviyo.app.store, email="ann@example.com")
    assert state["email_marketing"]["consent"] == "SUBSCRIBED"
    assert state["lists"] == [vip.id]
    assert list_states(klaviyo.app.store)[0]["pending"] == []
    operations = [h["operation"] for h in history_entries(klaviyo.app.store)]
    assert operations == ["subscribe", "subscribe_requested", "subscribe", "list_add"]
    profile_id = state["id"]
    read = klaviyo.get(
        f"/api/profiles/{profile_id}", query_string={"additional-fields[profile]": "subscriptions"}
    )
    assert read.json["data"]["attributes"]["subscriptions"]["email"]["marketing"]["double_optin"]


def test_a_historical_import_skips_double_opt_in(klaviyo):
    vip = double_list(klaviyo)
    body = subscribe_body(
        [
            {
                "email": "ann@example.com",
                "subscriptions": channels("email", consented_at="2025-01-01T00:00:00Z"),
            }
        ],
        list_id=vip.id,
        historical_import=True,
    )

    klaviyo.post(SUBSCRIBE, body)

    [state] = profile_states(klaviyo.app.store, email="ann@example.com")
    assert (state["email_marketing"]["consent"], state["lists"]) == ("SUBSCRIBED", [vip.id])


def test_tests_confirm_through_the_control_api_or_testkit():
    with Emulator(port=0, config=EmulatorConfig()) as emulator:
        control = EmulatorControl(emulator.api_url)
        vip = control.create_list("VIP", opt_in_process="double_opt_in")["id"]
        other = list_create(emulator, "Other", opt_in_process="double_opt_in")["id"]
        klaviyo = KlaviyoTestClient(emulator.app)
        klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "ann@example.com"}], list_id=vip))
        klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "bob@example.com"}], list_id=other))

        confirmed = control.confirm(vip, "ann@example.com")
        by_testkit = opt_in_confirm(emulator, other, "bob@example.com")
        again = control.session.post(
            f"{control.root}/_emulator/lists/{vip}/confirm",
            json={"email": "ann@example.com"},
            timeout=10,
        )

        assert confirmed["lists"] == [vip]
        assert by_testkit["lists"] == [other]
        assert consent_of(emulator, "ann@example.com")["email_marketing"]["consent"] == "SUBSCRIBED"
        assert again.status_code == 404
