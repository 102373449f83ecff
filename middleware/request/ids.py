"""Request ids: uuid4().hex strings, many from one read of the system's randomness."""

from __future__ import annotations

import os
import weakref

_PER_READ = 64
_ID_BYTES = 16
# Over each id's 16 bytes: the version (4) and RFC 4122 variant bits of uuid4.
_MASK = int.from_bytes(bytes.fromhex("ffffffffffff0fff3fffffffffffffff") * _PER_READ)
_BITS = int.from_bytes(bytes.fromhex("00000000000040008000000000000000") * _PER_READ)

# Every generator, for the fork hook below.
_GENERATORS: weakref.WeakSet[RandomIds] = weakref.WeakSet()


class RandomIds:
    """A new id for each call: 32 hex digits of a version 4 UUID, as uuid4().hex.

    One `os.urandom` call per id is a system call on every request; 64 ids are
    drawn, masked and hex-encoded at once here, and each call pops the next
    one. `list.pop` hands each id out once even to threads racing for it; a
    thread that finds the list empty draws a list of its own. A process forked
    with ids in hand (the same ids in parent and child) has them dropped in the
    child by a fork hook (`os.register_at_fork`), as the `random` module reseeds:
    the child draws its own, and no call pays for a pid check.
    """

    __slots__ = ("__weakref__", "ids")

    def __init__(self) -> None:
        self.ids: list[str] = []
        _GENERATORS.add(self)

    def __call__(self) -> str:
        try:
            return self.ids.pop()
        except IndexError:
            self.ids = ids = _draw()
            return ids.pop()


def _draw() -> list[str]:
    raw = int.from_bytes(os.urandom(_ID_BYTES * _PER_READ)) & _MASK | _BITS
    # The hex of each id's 16 bytes, split apart by the C code of bytes.hex and str.split.
    return raw.to_bytes(_ID_BYTES * _PER_READ).hex(" ", _ID_BYTES).split()


def _forget_drawn_ids() -> None:
    for generator in _GENERATORS:
        generator.ids = []


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_drawn_ids)
