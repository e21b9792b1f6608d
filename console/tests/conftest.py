import pytest

from klaviyo_sync.tests.conftest import klaviyo  # noqa: F401  (the stubbed Klaviyo)


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client
