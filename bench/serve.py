"""Worker: serve one variant with uvicorn on loopback.

python -m bench.serve VARIANT PORT
"""

from __future__ import annotations

import sys

import uvicorn

from bench.apps import build


def main() -> None:
    variant, port = sys.argv[1], int(sys.argv[2])
    # No access log: it would cost every variant the same and hide the differences.
    uvicorn.run(
        build(variant),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
