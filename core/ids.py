"""Time-sortable event ids.

An id is 26 characters of Crockford base32: 48 bits of milliseconds since the epoch, then 80 bits
that are random for the first id of a millisecond and counted up after it, so that ids made by one
process sort in the order they were made, and ids made by two processes almost never collide.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(now_ms: int | None = None) -> str:
    """A new id, greater than every id this process made before."""
    global _last_ms, _last_random
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        if ms <= _last_ms:
            ms = _last_ms
            _last_random += 1
        else:
            _last_random = int.from_bytes(os.urandom(10)) >> 1  # room to count up
        _last_ms = ms
        return _encode(ms, 10) + _encode(_last_random, 16)


def id_time(event_id: str) -> float:
    """The time (seconds since the epoch) an id was made at."""
    ms = 0
    for char in event_id[:10]:
        ms = ms * 32 + _ALPHABET.index(char)
    return ms / 1000
