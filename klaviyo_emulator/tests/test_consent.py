"""Subscribe, unsubscribe, suppress and unsuppress: what each stores, what each refuses."""

import pytest

from klaviyo_emulator.consent_view import history_entries, profile_states
from klaviyo_emulator.store import now_utc
from klaviyo_emulator.tests.consent_bodies import (
    channels,
    subscribe_body,
    suppression_body,
    unsubscribe_body,
)

SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = "/api/profile-subscription-bulk-delete-jobs"
SUPPRESS = "/api/profile-suppression-bulk-create-jobs"
UNSUPPRESS = "/api/profile-suppression-bulk-delete-jobs"


def state_of(klaviyo, email):
    [state] = profile_states(klaviyo.app.store, email=email)
    return state


@pytest.fixture
def newsletter(klaviyo):
    return klaviyo.app.store.lists.create(name="Newsletter", at=now_utc())


def test_subscribe_creates_the_profile_subscribes_it_and_adds_it_to_the_list(klaviyo, newsletter):
    body = subscribe_body(
        [
            {
                "email": "ann@example.com",
                "phone_number": "+15005550006",
                "subscriptions": channels("email", "sms"),
            }
        ],
        list_id=newsletter.id,
        custom_source="Checkout",
    )

    response = klaviyo.post(SUBSCRIBE, body)

    assert response.status_code == 202
    assert response.data == b""
    state = state_of(klaviyo, "ann@example.com")
    assert state["email_marketing"]["consent"] == "SUBSCRIBED"
    assert state["email_marketing"]["can_receive"] is True
    assert state["email_marketing"]["custom_source"] == "Checkout"
    assert state["sms_marketing"]["consent"] == "SUBSCRIBED"
    assert state["phone_number"] == "+15005550006"
    assert state["lists"] == [newsletter.id]


def test_subscribe_with_historical_import_keeps_the_consent_time(klaviyo):
    body = subscribe_body(
        [
            {
                "email": "ann@example.com",
                "subscriptions": channels("email", consented_at="2025-01-02T03:04:05+00:00"),
            }
        ],
        historical_import=True,
    )

    assert klaviyo.post(SUBSCRIBE, body).status_code == 202
    state = state_of(klaviyo, "ann@example.com")
    assert state["email_marketing"]["consent_timestamp"] == "2025-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("profile", "historical", "pointer_end"),
    [
        (
            {
                "email": "ann@example.com",
                "subscriptions": channels("email", consented_at="2025-01-02T03:04:05Z"),
            },
            None,
            "/subscriptions/email/marketing/consented_at",
        ),
        (
            {"email": "ann@example.com", "subscriptions": channels("email")},
            True,
            "/subscriptions/email/marketing/consented_at",
        ),
        (
            {
                "email": "ann@example.com",
                "subscriptions": channels("email", consented_at="2099-01-01T00:00:00Z"),
            },
            True,
            "/subscriptions/email/marketing/consented_at",
        ),
        (
            {
                "email": "ann@example.com",
                "phone_number": "5005550006",
                "subscriptions": channels("sms"),
            },
            None,
            "/phone_number",
        ),
        ({"email": "ann@example.com", "subscriptions": channels("sms")}, None, "/phone_number"),
        ({"email": "not-an-email", "subscriptions": channels("email")}, None, "/email"),
        ({"subscriptions": channels("email")}, None, ""),
    ],
    ids=[
        "consented_at-without-historical",
        "historical-without-consented_at",
        "consented_at-in-the-future",
        "phone-not-e164",
        "sms-without-phone",
        "bad-email",
        "no-identifier",
    ],
)
def test_subscribe_refuses_what_klaviyo_refuses_and_changes_nothing(
    klaviyo, profile, historical, pointer_end
):
    response = klaviyo.post(SUBSCRIBE, subscribe_body([profile], historical_import=historical))

    assert response.status_code == 400
    pointers = [e["source"]["pointer"] for e in response.json["errors"]]
    assert f"/data/attributes/profiles/data/0/attributes{pointer_end}" in pointers
    assert klaviyo.app.store.profiles == {}
    assert klaviyo.app.store.history.entries == []


def test_subscribe_refuses_an_unknown_list_with_404(klaviyo):
    response = klaviyo.post(
        SUBSCRIBE, subscribe_body([{"email": "a@example.com"}], list_id="Nope12")
    )

    assert response.status_code == 404
    assert response.json["errors"][0]["source"]["pointer"] == "/data/relationships/list/data/id"
    assert klaviyo.app.store.profiles == {}


def test_subscribe_refuses_more_than_1000_profiles(klaviyo):
    profiles = [{"email": f"p{i}@example.com"} for i in range(1001)]

    response = klaviyo.post(SUBSCRIBE, subscribe_body(profiles))

    assert response.status_code == 400
    assert "1000" in response.json["errors"][0]["detail"]
    assert klaviyo.app.store.profiles == {}


def test_a_body_the_spec_refuses_is_a_400(klaviyo):
    body = subscribe_body([{"email": "a@example.com", "subscriptions": channels("email")}])
    body["data"]["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"]["email"][
        "marketing"
    ]["consent"] = "UNSUBSCRIBED"

    assert klaviyo.post(SUBSCRIBE, body).status_code == 400


def test_unsubscribe_without_a_list_unsubscribes_globally(klaviyo):
    klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "ann@example.com"}]))

    response = klaviyo.post(UNSUBSCRIBE, unsubscribe_body([{"email": "ann@example.com"}]))

    assert response.status_code == 202
    state = state_of(klaviyo, "ann@example.com")
    assert state["email_marketing"]["consent"] == "UNSUBSCRIBED"
    assert state["email_marketing"]["can_receive"] is False
    assert [s["reason"] for s in state["email_marketing"]["suppressions"]] == ["UNSUBSCRIBE"]


def test_unsubscribe_from_a_list_removes_the_member_and_unsubscribes_globally(klaviyo, newsletter):
    other = klaviyo.app.store.lists.create(name="Other", at=now_utc())
    for list_id in (newsletter.id, other.id):
        klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "ann@example.com"}], list_id=list_id))
    klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "bob@example.com"}]))

    response = klaviyo.post(
        UNSUBSCRIBE,
        unsubscribe_body(
            [{"email": "ann@example.com"}, {"email": "bob@example.com"}], list_id=newsletter.id
        ),
    )

    assert response.status_code == 202
    ann, bob = state_of(klaviyo, "ann@example.com"), state_of(klaviyo, "bob@example.com")
    assert ann["lists"] == [other.id]  # other lists keep a suppressed profile
    for state in (ann, bob):
        assert state["email_marketing"]["consent"] == "UNSUBSCRIBED"
        assert state["email_marketing"]["can_receive"] is False


def test_unsubscribe_creates_a_missing_profile_and_refuses_more_than_100(klaviyo):
    assert (
        klaviyo.post(UNSUBSCRIBE, unsubscribe_body([{"email": "new@example.com"}])).status_code
        == 202
    )
    assert state_of(klaviyo, "new@example.com")["email_marketing"]["consent"] == "UNSUBSCRIBED"

    many = [{"email": f"p{i}@example.com"} for i in range(101)]
    response = klaviyo.post(UNSUBSCRIBE, unsubscribe_body(many))

    assert response.status_code == 400
    assert len(klaviyo.app.store.profiles) == 1


def test_suppress_answers_a_job_and_suppresses_with_user_suppressed(klaviyo):
    klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "ann@example.com"}]))

    response = klaviyo.post(SUPPRESS, suppression_body(["ann@example.com", "bob@example.com"]))

    assert response.status_code == 202
    assert klaviyo.response_matches_spec(response)
    job = response.json["data"]
    assert job["type"] == "profile-suppression-bulk-create-job"
    assert (job["attributes"]["status"], job["attributes"]["total_count"]) == ("queued", 2)
    ann = state_of(klaviyo, "ann@example.com")
    assert [s["reason"] for s in ann["email_marketing"]["suppressions"]] == ["USER_SUPPRESSED"]
    assert ann["email_marketing"]["can_receive"] is False
    assert ann["email_marketing"]["consent"] == "SUBSCRIBED"  # consent itself unchanged
    bob = state_of(klaviyo, "bob@example.com")  # created, then suppressed
    assert bob["email_marketing"]["suppressions"][0]["reason"] == "USER_SUPPRESSED"


def test_a_suppression_job_goes_queued_processing_complete(klaviyo):
    job_id = klaviyo.post(SUPPRESS, suppression_body(["ann@example.com"])).json["data"]["id"]

    reads = [klaviyo.get(f"{SUPPRESS}/{job_id}") for _ in range(3)]

    assert all(klaviyo.response_matches_spec(r) for r in reads)
    assert [r.json["data"]["attributes"]["status"] for r in reads] == [
        "processing",
        "complete",
        "complete",
    ]
    assert reads[-1].json["data"]["attributes"]["completed_count"] == 1
    assert klaviyo.get(f"{SUPPRESS}/nope").status_code == 404
    assert klaviyo.get(f"{UNSUPPRESS}/{job_id}").status_code == 404


def test_unsuppress_lifts_only_user_suppressed_and_skips_unknown_emails(klaviyo):
    klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "ann@example.com"}]))
    klaviyo.post(UNSUBSCRIBE, unsubscribe_body([{"email": "ann@example.com"}]))
    klaviyo.post(SUPPRESS, suppression_body(["ann@example.com"]))

    response = klaviyo.post(
        UNSUPPRESS, suppression_body(["ann@example.com", "ghost@example.com"], delete=True)
    )

    assert response.status_code == 202
    job_id = response.json["data"]["id"]
    klaviyo.get(f"{UNSUPPRESS}/{job_id}")
    done = klaviyo.get(f"{UNSUPPRESS}/{job_id}").json["data"]["attributes"]
    assert (done["completed_count"], done["skipped_count"]) == (1, 1)
    ann = state_of(klaviyo, "ann@example.com")
    assert [s["reason"] for s in ann["email_marketing"]["suppressions"]] == ["UNSUBSCRIBE"]
    assert ann["email_marketing"]["consent"] == "UNSUBSCRIBED"
    assert profile_states(klaviyo.app.store, email="ghost@example.com") == []


def test_subscribing_a_suppressed_email_lifts_the_suppression(klaviyo):
    klaviyo.post(SUPPRESS, suppression_body(["ann@example.com"]))
    klaviyo.post(UNSUBSCRIBE, unsubscribe_body([{"email": "ann@example.com"}]))

    klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "ann@example.com"}]))

    ann = state_of(klaviyo, "ann@example.com")
    assert ann["email_marketing"]["suppressions"] == []
    assert ann["email_marketing"]["can_receive"] is True


def test_suppression_refuses_bad_emails_more_than_100_and_a_missing_source(klaviyo):
    assert klaviyo.post(SUPPRESS, suppression_body(["nope"])).status_code == 400
    many = [f"p{i}@example.com" for i in range(101)]
    assert klaviyo.post(SUPPRESS, suppression_body(many)).status_code == 400
    assert klaviyo.post(SUPPRESS, suppression_body(None)).status_code == 400
    assert klaviyo.post(SUPPRESS, suppression_body(None, list_id="Nope12")).status_code == 404
    assert klaviyo.app.store.profiles == {}


def test_suppressing_a_list_suppresses_its_members(klaviyo, newsletter):
    klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "ann@example.com"}], list_id=newsletter.id))

    response = klaviyo.post(SUPPRESS, suppression_body(None, list_id=newsletter.id))

    assert response.status_code == 202
    assert response.json["data"]["relationships"]["lists"]["data"] == [
        {"type": "list", "id": newsletter.id}
    ]
    assert state_of(klaviyo, "ann@example.com")["email_marketing"]["can_receive"] is False


def test_the_history_keeps_the_order_changes_landed_in(klaviyo, newsletter):
    email = "ann@example.com"
    klaviyo.post(SUBSCRIBE, subscribe_body([{"email": email}], list_id=newsletter.id))
    klaviyo.post(UNSUBSCRIBE, unsubscribe_body([{"email": email}]))
    klaviyo.post(SUPPRESS, suppression_body([email]))
    klaviyo.post(UNSUPPRESS, suppression_body([email], delete=True))
    klaviyo.post(SUBSCRIBE, subscribe_body([{"email": "other@example.com"}]))

    history = history_entries(klaviyo.app.store, email=email)

    assert [(h["operation"], h["channel"], h["list_id"]) for h in history] == [
        ("subscribe", "email.marketing", newsletter.id),
        ("list_add", None, newsletter.id),
        ("unsubscribe", "email.marketing", None),
        ("suppress", "email.marketing", None),
        ("unsuppress", "email.marketing", None),
    ]
    assert [h["seq"] for h in history] == [1, 2, 3, 4, 5]
    assert history_entries(klaviyo.app.store, email="other@example.com")[0]["seq"] == 6


@pytest.mark.parametrize(
    ("path", "body", "changes"),
    [
        (SUBSCRIBE, subscribe_body([{"email": "ann@example.com"}]), 1),
        (UNSUBSCRIBE, unsubscribe_body([{"email": "ann@example.com"}]), 1),
        (SUPPRESS, suppression_body(["ann@example.com"]), 1),
        (UNSUPPRESS, suppression_body(["ann@example.com"], delete=True), 0),  # no such profile
    ],
)
def test_faults_fail_the_first_requests_of_a_consent_route(klaviyo, path, body, changes):
    operation = klaviyo.app.url_map.bind("x").match(path + "/", method="POST")[0]
    klaviyo.app.faults.configure({"status": 503, "count": 2, "operation": operation})

    statuses = [klaviyo.post(path, body).status_code for _ in range(3)]

    assert statuses[:2] == [503, 503] and statuses[2] in (200, 202)
    assert len(klaviyo.app.store.history.entries) == changes
    assert klaviyo.app.store.faults_served == 2


def test_sms_unsubscribe_by_phone_number_and_its_e164_rule(klaviyo):
    phone = "+15005550006"
    klaviyo.post(
        SUBSCRIBE, subscribe_body([{"phone_number": phone, "subscriptions": channels("sms")}])
    )
    body = unsubscribe_body([{"phone_number": phone}])
    body["data"]["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"] = channels(
        "sms", consent="UNSUBSCRIBED"
    )
    bad = unsubscribe_body([{"phone_number": "15005550006"}])

    assert klaviyo.post(UNSUBSCRIBE, body).status_code == 202
    assert klaviyo.post(UNSUBSCRIBE, bad).status_code == 400
    [state] = profile_states(klaviyo.app.store, phone_number=phone)
    assert (state["sms_marketing"]["consent"], state["sms_marketing"]["can_receive"]) == (
        "UNSUBSCRIBED",
        False,
    )
    assert state["email_marketing"]["consent"] == "NEVER_SUBSCRIBED"
