"""The compat harness itself: a server counts as started only when the app answers."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.compat.support import Served
from tests.support import free_port


class _Foreign(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def foreign_port() -> Iterator[int]:
    """A port another process's HTTP server already answers on, with 200."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Foreign)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def test_an_answer_from_another_process_on_the_port_is_not_the_server(
    foreign_port: int, tmp_path: Path
) -> None:
    # The app's server cannot bind the taken port and exits; until then every
    # answer is the foreign server's 200, which carries no X-Request-ID.
    served = Served(
        "uvicorn", "tests.compat.apps.starlette_app:app", tmp_path / "u.log", port=foreign_port
    )
    try:
        async with httpx.AsyncClient() as client:
            with pytest.raises(AssertionError, match=r"exited early .*without X-Request-ID"):
                await served.wait_ready(client)
    finally:
        served.close()
