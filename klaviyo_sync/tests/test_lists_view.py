"""GET /klaviyo/lists: Klaviyo's lists, a page at a time, with Klaviyo stubbed by `responses`."""

import pytest

from klaviyo_sync.tests.conftest import BASE
from klaviyo_sync.tests.test_views import error_shape, query_of

pytestmark = pytest.mark.django_db

NEWSLETTER = {
    "type": "list",
    "id": "Y6nRLr",
    "attributes": {
        "name": "Newsletter",
        "created": "2025-09-01T00:00:00+00:00",
        "updated": "2025-09-02T00:00:00+00:00",
        "opt_in_process": "double_opt_in",
    },
}


def test_it_answers_a_page_of_lists_camel_case_with_the_next_cursor(api_client, klaviyo):
    klaviyo.get(
        f"{BASE}/lists",
        json={
            "data": [NEWSLETTER, {"type": "list", "id": "VRgFBd", "attributes": {"name": "VIP"}}],
            "links": {"next": f"{BASE}/lists?page%5Bcursor%5D=C2"},
        },
    )

    response = api_client.get("/klaviyo/lists", {"cursor": "C1", "pageSize": 2})

    assert response.status_code == 200
    assert response.json() == {
        "lists": [
            {
                "id": "Y6nRLr",
                "name": "Newsletter",
                "created": "2025-09-01T00:00:00+00:00",
                "updated": "2025-09-02T00:00:00+00:00",
                "optInProcess": "double_opt_in",
            },
            {"id": "VRgFBd", "name": "VIP", "created": None, "updated": None, "optInProcess": None},
        ],
        "nextCursor": "C2",
    }
    query = query_of(klaviyo.calls[0])
    assert query == {"page[cursor]": ["C1"], "page[size]": ["2"]}


def test_the_last_page_has_no_cursor_and_pages_hold_ten_by_default(api_client, klaviyo):
    klaviyo.get(f"{BASE}/lists", json={"data": [NEWSLETTER], "links": {"next": None}})

    response = api_client.get("/klaviyo/lists")

    assert response.json()["nextCursor"] is None
    assert query_of(klaviyo.calls[0]) == {"page[size]": ["10"]}


def test_it_filters_by_exact_name_quoted_for_klaviyo(api_client, klaviyo):
    klaviyo.get(f"{BASE}/lists", json={"data": [NEWSLETTER]})

    response = api_client.get("/klaviyo/lists", {"name": 'VIP "gold"'})

    assert response.status_code == 200
    assert query_of(klaviyo.calls[0])["filter"] == ['equals(name,"VIP \\"gold\\"")']


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pageSize": 0}, "pageSize: Ensure this value is greater than or equal to 1."),
        ({"pageSize": 11}, "pageSize: Ensure this value is less than or equal to 10."),
        ({"pageSize": "ten"}, "pageSize: A valid integer is required."),
        ({"name": "x" * 256}, "name: Ensure this field has no more than 255 characters."),
    ],
)
def test_bad_parameters_answer_400_without_asking_klaviyo(api_client, klaviyo, params, message):
    response = api_client.get("/klaviyo/lists", params)

    assert response.status_code == 400
    assert response.json() == error_shape(400, message, "Bad Request")
    assert len(klaviyo.calls) == 0


def test_a_cursor_klaviyo_refuses_answers_400(api_client, klaviyo):
    refusal = {"errors": [{"title": "Invalid input.", "source": {"parameter": "page[cursor]"}}]}
    klaviyo.get(f"{BASE}/lists", status=400, json=refusal)

    response = api_client.get("/klaviyo/lists", {"cursor": "forged"})

    assert response.status_code == 400
    assert response.json() == error_shape(
        400, "cursor must be the nextCursor of a previous answer", "Bad Request"
    )


def test_when_klaviyo_fails_it_answers_502(api_client, klaviyo):
    klaviyo.get(f"{BASE}/lists", status=500, json={"errors": [{"title": "Server error."}]})

    response = api_client.get("/klaviyo/lists")

    assert response.status_code == 502
    assert response.json() == error_shape(
        502, "Klaviyo failed: HTTP 500: Server error.", "Bad Gateway"
    )
