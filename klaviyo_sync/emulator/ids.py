"""Identifiers shaped like Klaviyo's: 6-character metric ids, 26-character (ULID) profile ids.

They only need to be unique within one emulator, not unguessable: a plain PRNG keeps a bulk
request of 1,000 events cheap (one OS random read per character would not be)."""

import random
import string
import time
import uuid

_ALPHANUMERIC = string.ascii_letters + string.digits
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_random = random.Random()


def _random_alphanumeric(length: int) -> str:
    return "".join(_random.choices(_ALPHANUMERIC, k=length))


def metric_id() -> str:
    return _random_alphanumeric(6)


def profile_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base 32."""
    value = (int(time.time() * 1000) << 80) | _random.getrandbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def event_id() -> str:
    return _random_alphanumeric(12)


def event_uuid() -> str:
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))


def job_id() -> str:
    return _random_alphanumeric(20)
