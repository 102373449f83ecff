"""Worker: serve one variant with uvicorn on a listening socket it inherits.

python -m bench.serve VARIANT FD

The parent binds and listens before it starts the worker, so no other process
can take the port between the choice of a port and the server's bind.
"""

from __future__ import annotations

import socket
import sys

import uvicorn

from bench.apps import build


def main() -> None:
    variant, fd = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(fileno=fd)  # family and type read from the descriptor
    # No access log: it would cost every variant the same and hide the differences.
    config = uvicorn.Config(build(variant), log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
