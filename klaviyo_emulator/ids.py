"""Identifiers shaped like Klaviyo's: 6-character metric ids, 26-character (ULID) profile ids,
12-character event ids.

They only need to be unique within one emulator, not unguessable: a plain PRNG and C-level
encoders keep a bulk request of 1,000 events cheap."""

import base64
import random
import time
import uuid

_random = random.Random()
# RFC 4648 base 32 to Crockford's alphabet (the ULID one).
_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)
_EVENT_UUID_NAMESPACE = uuid.UUID("8e0f6f0a-5b39-4f0e-9d5e-4d2b6c1f7a11")


def _alphanumeric(length: int) -> str:
    """Base 64 of random bytes with `+` and `/` replaced: letters and digits only."""
    raw = _random.getrandbits(length * 6).to_bytes((length * 6 + 7) // 8, "big")
    return base64.b64encode(raw, altchars=b"xZ")[:length].decode()


def metric_id() -> str:
    return _alphanumeric(6)


def profile_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base 32."""
    value = (int(time.time() * 1000) << 80) | _random.getrandbits(80)
    # 2 zero bits + 128 bits = 130 bits = exactly 26 base-32 characters (of 17 bytes' 28).
    encoded = base64.b32encode((value << 6).to_bytes(17, "big"))[:26]
    return encoded.translate(_CROCKFORD).decode()


def list_id() -> str:
    """Six letters and digits, like Klaviyo's `Y6nRLr`."""
    return _alphanumeric(6)


def event_id() -> str:
    return _alphanumeric(12)


def event_uuid(event_id: str) -> str:
    """The event's `uuid` attribute, derived from its id (computed when read, not stored)."""
    return str(uuid.uuid5(_EVENT_UUID_NAMESPACE, event_id))


def job_id() -> str:
    return _alphanumeric(20)
