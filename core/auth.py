"""X-API-Key authentication: keys from the API_KEYS setting, or hashed keys created in admin."""

import hmac
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from core.client_address import client_address
from core.key_guessing import key_guessing_record, key_guessing_wait
from core.models import ApiKey

# Writing last-used time on every request would make every request a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiClient:
    """Who called: the key's name, never the key itself."""

    name: str
    is_authenticated: bool = True


def api_client_from_key(*, key: str) -> ApiClient | None:
    for index, configured in enumerate(settings.API_KEYS):
        # Constant-time: the comparison must not reveal how much of a key matched.
        if hmac.compare_digest(key.encode(), configured.encode()):
            return ApiClient(name=f"env-key-{index + 1}")
    try:
        api_key = ApiKey.objects.get_from_key(key)
    except ApiKey.DoesNotExist:
        return None
    if api_key.has_expired:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return ApiClient(name=api_key.name)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    header = "X-API-Key"

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiClient] | None:
        key = request.META.get(settings.API_KEY_CUSTOM_HEADER, "")
        if not key:
            return None
        # Checked before the key: an address that guessed too often learns nothing more.
        address = client_address(request)
        wait = key_guessing_wait(address=address)
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait, detail="Too many wrong API keys from this address; retry later."
            )
        client = api_client_from_key(key=key)
        if client is None:
            key_guessing_record(address=address)
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return client, client

    def authenticate_header(self, request: HttpRequest) -> str:
        # A value here makes DRF answer 401 rather than 403.
        return self.header


class HasValidApiKey(permissions.BasePermission):
    message = "Missing API key: send it in the X-API-Key header."

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.auth, ApiClient)
