"""Identifiers shaped like Klaviyo's: 6-character metric ids, 26-character (ULID) profile ids."""

import secrets
import string
import time

_ALPHANUMERIC = string.ascii_letters + string.digits
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _random_alphanumeric(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def metric_id() -> str:
    return _random_alphanumeric(6)


def profile_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base 32."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def event_id() -> str:
    return _random_alphanumeric(12)


def job_id() -> str:
    return _random_alphanumeric(20)
