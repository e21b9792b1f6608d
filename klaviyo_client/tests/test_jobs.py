"""Profile bulk import jobs: the body the client posts."""

import json

import pytest
import responses

from klaviyo_client.client import KlaviyoClient
from klaviyo_client.tests.test_client import BASE, KEY

JOBS = f"{BASE}/profile-bulk-import-jobs"


@pytest.fixture
def client() -> KlaviyoClient:
    return KlaviyoClient(api_key=KEY, base_url=BASE, revision="2026-07-15", timeout=(1.0, 2.0))


def _posted(client: KlaviyoClient, **kwargs) -> dict:
    with responses.RequestsMock() as mock:
        mock.post(JOBS, status=202, json={"data": {"type": "profile-bulk-import-job", "id": "J"}})
        client.profile_bulk_import_job(**kwargs)
        return json.loads(mock.calls[0].request.body)


def test_profiles_encoded_beforehand_are_sent_as_the_same_json_as_resources(client):
    resources = [
        {"type": "profile", "attributes": {"email": "a@example.com", "first_name": "Zoë"}},
        {"type": "profile", "attributes": {"email": "b@example.com"}},
    ]
    encoded = [json.dumps(item, ensure_ascii=False).encode() for item in resources]

    as_resources = _posted(client, profiles=resources, list_ids=["L1"])
    as_bytes = _posted(client, profiles=encoded, list_ids=["L1"])

    assert as_bytes == as_resources
    assert as_bytes["data"]["attributes"]["profiles"]["data"] == resources
    assert as_bytes["data"]["relationships"] == {"lists": {"data": [{"type": "list", "id": "L1"}]}}
    assert "relationships" not in _posted(client, profiles=encoded)["data"]
