"""Waiting on real processes and sockets: a free port, a condition with a deadline."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")


# Ports free_port() handed out in this process: none is handed out twice.
_HANDED_OUT: set[int] = set()
# How many ports below the kernel's ephemeral range free_port() draws from.
_SPAN = 8000


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range, whence it picks a port for a bind to 0."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server started next.

    Drawn below the kernel's ephemeral range: a port the kernel picks (a server
    bound to port 0, such as an envelope server started after this call, or a
    client's outgoing connection) comes from that range, and could otherwise
    take this one in the moment between this call and the server's bind.
    """
    low = ephemeral_low()
    candidates = range(max(1024, low - _SPAN), low)
    if len(candidates) < 1000:  # an ephemeral range from 1024 up: let the kernel pick
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port
    for _ in range(200):
        port = random.choice(candidates)  # noqa: S311 - a port, not a secret
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {candidates.start}..{candidates.stop - 1}")


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
