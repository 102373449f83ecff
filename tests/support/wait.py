"""Waiting on real processes and sockets: a free port, a condition with a deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a server answers `url` with 200 now; False while nothing listens yet."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.TransportError:
        return False


def wait_until(
    predicate: Callable[[], T | None],
    what: str,
    timeout: float = 10.0,
    *,
    interval: float = 0.01,
    detail: Callable[[], object] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy; fail naming `what`.

    The predicate may raise to stop early (a server process that exited); `detail`
    adds what explains a timeout (a server's log) to the failure.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f":\n{detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(interval)
