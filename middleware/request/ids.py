"""Request ids: uuid4().hex strings, many from one read of the system's randomness."""

from __future__ import annotations

import os
from collections.abc import Iterator

_PER_READ = 64
_ID_BYTES = 16
# Over each id's 16 bytes: the version (4) and RFC 4122 variant bits of uuid4.
_MASK = int.from_bytes(bytes.fromhex("ffffffffffff0fff3fffffffffffffff") * _PER_READ)
_BITS = int.from_bytes(bytes.fromhex("00000000000040008000000000000000") * _PER_READ)

Batch = tuple[int, str, Iterator[int]]


class RandomIds:
    """A new id for each call: 32 hex digits of a version 4 UUID, as uuid4().hex.

    One `os.urandom` call per id is a system call on every request; the digits
    of 64 ids are drawn, masked and hex-encoded at once here, and each call
    hands out the next 32 of them. A batch is one tuple (the pid that drew it,
    its digits, an iterator over its offsets) swapped whole: the iterator gives
    each offset once even to threads racing for it, a thread that finds it spent
    draws a batch of its own, and a process forked with a batch in hand (same
    digits in parent and child) sees another pid and draws its own.
    """

    __slots__ = ("batch",)

    def __init__(self) -> None:
        self.batch: Batch = (0, "", iter(()))

    def __call__(self) -> str:
        pid, digits, offsets = self.batch
        offset = next(offsets, None)
        if offset is None or pid != os.getpid():
            pid, digits, offsets = self.batch = _draw()
            offset = next(offsets)
        return digits[offset : offset + 2 * _ID_BYTES]


def _draw() -> Batch:
    raw = int.from_bytes(os.urandom(_ID_BYTES * _PER_READ)) & _MASK | _BITS
    digits = raw.to_bytes(_ID_BYTES * _PER_READ).hex()
    return os.getpid(), digits, iter(range(0, len(digits), 2 * _ID_BYTES))
