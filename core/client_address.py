"""The address a request came from, for limits kept per client (wrong API keys, admin logins).

REMOTE_ADDR, the peer of the connection, unless TRUSTED_PROXY_COUNT reverse proxies stand in
front: then the address the outermost of them saw, the TRUSTED_PROXY_COUNT-th from the right of
X-Forwarded-For (each proxy appends the address it got the request from; what a client writes
itself sits further left and is never taken).
"""

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or "unknown"
