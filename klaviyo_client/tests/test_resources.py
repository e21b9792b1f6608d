"""Reading Klaviyo's JSON:API answers."""

from klaviyo_client.resources import (
    metric_ids_by_name,
    profile_attributes_ours,
    related_id,
    resources_by_id,
)


def metric(metric_id: str, name: str) -> dict:
    return {"type": "metric", "id": metric_id, "attributes": {"name": name}}


def test_metric_ids_by_name_keeps_the_first_of_two_metrics_with_one_name():
    metrics = [metric("A1", "Placed Order"), metric("B2", "Viewed"), metric("C3", "Placed Order")]

    assert metric_ids_by_name(metrics) == {"Placed Order": "A1", "Viewed": "B2"}


def test_related_id_reads_a_relationship_and_none_when_there_is_none():
    event = {"relationships": {"profile": {"data": {"type": "profile", "id": "P1"}}}}

    assert related_id(event, "profile") == "P1"
    assert related_id(event, "metric") is None
    assert related_id({"relationships": {"metric": {"data": None}}}, "metric") is None


def test_resources_by_id_reads_a_keyed_or_a_raw_included():
    profile = {"type": "profile", "id": "P1"}
    other = {"type": "metric", "id": "M1"}

    assert resources_by_id({("profile", "P1"): profile}, "profile") == {"P1": profile}
    assert resources_by_id([profile, other], "profile") == {"P1": profile}


def test_a_klaviyo_profile_reads_back_in_our_names_without_the_email_or_empty_values():
    resource = {
        "attributes": {
            "email": "ann@example.com",
            "first_name": "Ann",
            "last_name": "",
            "phone_number": None,
            "location": {"city": "Paris", "zip": None},
            "created": "2026-01-01T00:00:00+00:00",
            "properties": {"plan": "pro", "gone": None},
        }
    }

    assert profile_attributes_ours(resource) == {
        "plan": "pro",
        "firstName": "Ann",
        "location": {"city": "Paris"},
    }
