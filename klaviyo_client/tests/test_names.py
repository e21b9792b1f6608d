"""Klaviyo's profile attributes by our clients' names and by Klaviyo's."""

from klaviyo_client.names import STANDARD_ATTRIBUTES, camel


def test_our_names_are_klaviyos_in_camel_case():
    assert camel("first_name") == "firstName"
    assert camel("phone_number") == "phoneNumber"
    assert camel("email") == "email"


def test_klaviyos_dollar_names_are_kept():
    assert camel("$consent_method") == "$consent_method"


def test_either_name_of_a_standard_attribute_means_klaviyos():
    assert STANDARD_ATTRIBUTES["externalId"] == "external_id"
    assert STANDARD_ATTRIBUTES["external_id"] == "external_id"
    assert "plan" not in STANDARD_ATTRIBUTES  # a custom property
