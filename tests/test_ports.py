"""free_port(): a port that nothing the kernel hands out can take before its server binds."""

from __future__ import annotations

import socket

from tests.support.wait import ephemeral_low, free_port


def test_free_ports_are_distinct_and_below_the_kernel_s_ephemeral_range() -> None:
    low = ephemeral_low()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(port < low for port in ports)
    # A server bound to port 0 next (an envelope server, say) gets none of them.
    sockets = [socket.socket() for _ in range(200)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        assert not {sock.getsockname()[1] for sock in sockets} & set(ports)
    finally:
        for sock in sockets:
            sock.close()
