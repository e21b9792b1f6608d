"""The emulator's read endpoints answer from what it received, shaped as the spec says."""

from urllib.parse import parse_qs, urlsplit

import pytest

from klaviyo_emulator.tests.conftest import bulk_body, bulk_event, event_body


@pytest.fixture
def received(klaviyo):
    """Three events for two profiles and two metrics, on three days."""
    body = bulk_body(
        [
            (
                {"email": "a@example.com", "first_name": "Ann"},
                [
                    bulk_event("a1", time="2026-11-01T10:00:00+00:00"),
                    bulk_event("a2", time="2026-11-02T10:00:00+00:00"),
                ],
            ),
            (
                {"email": "b@example.com"},
                [
                    bulk_event("b1", time="2026-11-02T23:30:00+00:00"),
                    bulk_event("b2", name="Viewed Product", time="2026-11-03T10:00:00+00:00"),
                ],
            ),
        ]
    )
    assert klaviyo.post("/api/event-bulk-create-jobs", body).status_code == 202
    return klaviyo.app.store


def metric_id(store, name):
    return next(m.id for m in store.metrics.values() if m.name == name)


def cursor(link):
    return parse_qs(urlsplit(link).query)["page[cursor]"][0]


def test_metrics_lists_every_metric_received(klaviyo, received):
    response = klaviyo.get("/api/metrics/")

    assert response.status_code == 200
    assert klaviyo.response_matches_spec(response)
    names = {m["attributes"]["name"] for m in response.json["data"]}
    assert names == {"Placed Order", "Viewed Product"}
    assert response.json["data"][0]["attributes"]["integration"]["key"] == "api"
    assert "next" not in response.json["links"]


def test_metrics_pages_by_200(klaviyo):
    for index in range(201):
        klaviyo.app.store.metric_get_or_create(f"metric {index}")

    first = klaviyo.get("/api/metrics")
    second = klaviyo.get(
        "/api/metrics", query_string={"page[cursor]": cursor(first.json["links"]["next"])}
    )

    assert (len(first.json["data"]), len(second.json["data"])) == (200, 1)
    assert "next" not in second.json["links"]


def test_one_metric_by_id_and_404_for_an_unknown_one(klaviyo, received):
    placed = metric_id(received, "Placed Order")

    found = klaviyo.get(f"/api/metrics/{placed}/")
    missing = klaviyo.get("/api/metrics/XXXXXX/")

    assert found.status_code == 200
    assert klaviyo.response_matches_spec(found)
    assert found.json["data"]["attributes"]["name"] == "Placed Order"
    assert missing.status_code == 404
    assert missing.json["errors"][0]["code"] == "not_found"


def test_events_filter_by_metric_and_datetime_range(klaviyo, received):
    placed = metric_id(received, "Placed Order")
    query = (
        f'equals(metric_id,"{placed}"),greater-or-equal(datetime,2026-11-02T00:00:00Z),'
        "less-than(datetime,2026-11-03T00:00:00Z)"
    )

    response = klaviyo.get("/api/events/", query_string={"filter": query, "sort": "-datetime"})

    assert response.status_code == 200
    assert klaviyo.response_matches_spec(response)
    properties = [e["attributes"]["event_properties"] for e in response.json["data"]]
    assert [p["$event_id"] for p in properties] == ["b1", "a2"]
    assert properties[0]["$value"] == 1.5
    assert response.json["data"][0]["attributes"]["datetime"] == "2026-11-02T23:30:00+00:00"


def test_events_filter_by_profile_and_timestamp(klaviyo, received):
    profile_id = next(
        p.id for p in received.profiles.values() if p.attributes["email"] == "b@example.com"
    )
    # 1793690000 is 2026-11-03T09:33:20Z: after b1, before b2.
    query = f'equals(profile_id,"{profile_id}"),greater-than(timestamp,1793690000)'

    response = klaviyo.get("/api/events", query_string={"filter": query})

    assert [e["attributes"]["event_properties"]["$event_id"] for e in response.json["data"]] == [
        "b2"
    ]


def test_events_page_with_a_cursor_and_include_profile_and_metric(klaviyo, received):
    first = klaviyo.get(
        "/api/events", query_string={"page[size]": "3", "include": "profile,metric"}
    )
    second = klaviyo.get(first.json["links"]["next"].replace("http://localhost", ""))

    assert klaviyo.response_matches_spec(first)
    ids = [e["attributes"]["event_properties"]["$event_id"] for e in first.json["data"]]
    assert ids == ["a1", "a2", "b1"]
    assert [e["attributes"]["event_properties"]["$event_id"] for e in second.json["data"]] == ["b2"]
    included = {(item["type"], item["id"]) for item in first.json["included"]}
    assert {kind for kind, _ in included} == {"profile", "metric"}
    assert len(included) == 3  # two profiles, one metric
    assert "next" not in second.json["links"]
    assert "prev" in second.json["links"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"filter": 'equals(email,"a@example.com")'}, "filter"),
        ({"filter": "equals(metric_id,"}, "filter"),
        ({"filter": 'greater-than(datetime,"2026-11-01")'}, "filter"),
        ({"page[size]": "1001"}, "page[size]"),
        ({"page[cursor]": "garbage!"}, "page[cursor]"),
        ({"sort": "name"}, "sort"),
        ({"include": "profiless"}, "include"),
    ],
)
def test_events_refuse_bad_query_parameters(klaviyo, received, params, parameter):
    response = klaviyo.get("/api/events", query_string=params)

    assert response.status_code == 400
    assert response.json["errors"][0]["source"] == {"parameter": parameter}


def test_profiles_filter_by_email_equals_and_any(klaviyo, received):
    one = klaviyo.get("/api/profiles/", query_string={"filter": 'equals(email,"A@example.com")'})
    both = klaviyo.get(
        "/api/profiles/",
        query_string={"filter": 'any(email,["a@example.com","b@example.com","c@example.com"])'},
    )

    assert klaviyo.response_matches_spec(one)
    [profile] = one.json["data"]
    assert profile["attributes"]["first_name"] == "Ann"
    assert profile["attributes"]["last_event_date"] == "2026-11-02T10:00:00+00:00"
    assert {p["attributes"]["email"] for p in both.json["data"]} == {
        "a@example.com",
        "b@example.com",
    }


def test_profiles_page_by_20_by_default(klaviyo):
    for index in range(21):
        klaviyo.post("/api/events", event_body(email=f"p{index}@example.com"))

    response = klaviyo.get("/api/profiles")

    assert len(response.json["data"]) == 20
    assert "next" in response.json["links"]


def aggregate_body(
    metric, *, timezone="UTC", start="2026-11-01T00:00:00", end="2026-11-04T00:00:00"
):
    return {
        "data": {
            "type": "metric-aggregate",
            "attributes": {
                "metric_id": metric,
                "measurements": ["count", "sum_value", "unique"],
                "interval": "day",
                "filter": [f"greater-or-equal(datetime,{start})", f"less-than(datetime,{end})"],
                "timezone": timezone,
            },
        }
    }


def test_metric_aggregates_count_sum_and_unique_by_day(klaviyo, received):
    response = klaviyo.post(
        "/api/metric-aggregates", aggregate_body(metric_id(received, "Placed Order"))
    )

    assert response.status_code == 200
    assert klaviyo.response_matches_spec(response)
    attributes = response.json["data"]["attributes"]
    assert attributes["dates"] == [
        "2026-11-01T00:00:00+00:00",
        "2026-11-02T00:00:00+00:00",
        "2026-11-03T00:00:00+00:00",
    ]
    [group] = attributes["data"]
    assert group["measurements"] == {
        "count": [1, 2, 0],
        "sum_value": [1.5, 3.0, 0.0],
        "unique": [1, 2, 0],
    }


def test_metric_aggregates_bucket_days_in_the_given_timezone(klaviyo, received):
    # 2026-11-02T23:30Z is still 2 November in New York, 3 November in Tokyo.
    placed = metric_id(received, "Placed Order")
    new_york = klaviyo.post(
        "/api/metric-aggregates", aggregate_body(placed, timezone="America/New_York")
    )
    tokyo = klaviyo.post("/api/metric-aggregates", aggregate_body(placed, timezone="Asia/Tokyo"))

    assert new_york.json["data"]["attributes"]["data"][0]["measurements"]["count"] == [1, 2, 0]
    assert tokyo.json["data"]["attributes"]["data"][0]["measurements"]["count"] == [1, 1, 1]
    assert tokyo.json["data"]["attributes"]["dates"][0] == "2026-11-01T00:00:00+09:00"


def test_metric_aggregates_refuse_an_unsupported_timezone_or_a_missing_range(klaviyo, received):
    placed = metric_id(received, "Placed Order")
    bad_zone = klaviyo.post(
        "/api/metric-aggregates", aggregate_body(placed, timezone="Europe/Kyiv")
    )
    no_range = aggregate_body(placed)
    no_range["data"]["attributes"]["filter"] = ["greater-or-equal(datetime,2026-11-01T00:00:00)"]

    assert bad_zone.status_code == 400
    assert bad_zone.json["errors"][0]["source"]["pointer"] == "/data/attributes/timezone"
    assert klaviyo.post("/api/metric-aggregates", no_range).status_code == 400
    assert klaviyo.post("/api/metric-aggregates", aggregate_body("XXXXXX")).status_code == 404


def test_accounts_answers_one_account(klaviyo):
    response = klaviyo.get("/api/accounts/")

    assert response.status_code == 200
    assert klaviyo.response_matches_spec(response)
    assert response.json["data"][0]["type"] == "account"
