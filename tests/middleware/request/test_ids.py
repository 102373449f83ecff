"""Request ids drawn in batches: uuid4 hex, never repeated across calls, threads or a fork."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from middleware.request.ids import RandomIds


def test_each_id_is_the_hex_of_a_version_4_uuid() -> None:
    ids = RandomIds()
    drawn = [ids() for _ in range(1000)]  # many batches
    for value in drawn:
        parsed = uuid.UUID(hex=value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert value == parsed.hex
    assert len(set(drawn)) == len(drawn)


def test_two_generators_draw_their_own_ids() -> None:
    first, second = RandomIds(), RandomIds()
    assert not {first() for _ in range(200)} & {second() for _ in range(200)}


def test_threads_racing_for_one_generator_never_share_an_id() -> None:
    ids = RandomIds()
    results: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(results))

    def draw(out: list[str]) -> None:
        start.wait()
        out.extend(ids() for _ in range(3000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drawn = [value for out in results for value in out]
    assert len(set(drawn)) == len(drawn) == 8 * 3000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_ids_of_its_own() -> None:
    """A child forked with a batch in hand must not hand out the parent's next ids."""
    ids = RandomIds()
    ids()  # the parent holds a batch with 63 ids left
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, " ".join(ids() for _ in range(10)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {ids() for _ in range(10)}
    assert len(child) == 10
    assert not child & parent
