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


_ulid_time: tuple[int, str] = (-1, "")  # the last millisecond and its 10 characters
_ulid_random: list[str] = []  # random halves made ahead, many at once
ULID_RANDOM_AHEAD = 1024
# A random byte's low 5 bits as a Crockford character (256 is a multiple of 32: uniform).
_BYTE_TO_CROCKFORD = bytes(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"[byte & 31] for byte in range(256))


def _ulid_random_half() -> str:
    try:
        return _ulid_random.pop()
    except IndexError:  # none left (a thread may refill beside this one: no harm)
        text = _random.randbytes(16 * ULID_RANDOM_AHEAD).translate(_BYTE_TO_CROCKFORD).decode()
        _ulid_random.extend(text[start : start + 16] for start in range(0, len(text), 16))
        return _ulid_random.pop()


def profile_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base 32: 2 zero bits and
    the time in 10 characters (the same for a whole millisecond: encoded once), the random
    bits in 16 characters of 5 bits each."""
    global _ulid_time
    millisecond = int(time.time() * 1000)
    if _ulid_time[0] != millisecond:
        # The 50 high bits of 80 (10 bytes, 16 characters): the first 10 characters.
        encoded = base64.b32encode((millisecond << 30).to_bytes(10, "big"))[:10]
        _ulid_time = (millisecond, encoded.translate(_CROCKFORD).decode())
    return _ulid_time[1] + _ulid_random_half()


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
