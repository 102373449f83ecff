"""What each server process writes (stdout and stderr) holds none of the planted corpus."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest

from tests.compat.support import SERVER_MODULES, Served, require
from tests.oracle import assert_nothing_left
from tests.support.corpus import CORPUS, INTERNAL_TOKEN, SECRET_ENV_VALUES

TARGET = "tests.compat.apps.logs_app:app"
# The servers' own access lines (off by default in hypercorn and granian), with the
# query and the referer, which their default formats leave out.
ACCESS_ARGS = {
    "uvicorn": ("--ws", "wsproto"),
    "hypercorn": ("--access-logfile", "-", "--access-logformat", '%(h)s "%(R)s" %(s)s "%(f)s"'),
    "granian": (
        "--access-log",
        "--access-log-fmt",
        '%(addr)s "%(method)s %(path)s?%(query_string)s" %(status)d',
    ),
    "daphne": (),
}
# Short enough for a request line.
IN_QUERY = [planted for planted in CORPUS if len(planted.text) < 1000]


def websocket_handshake(port: int, target: str) -> bytes:
    request = (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request.encode())
        return conn.recv(1024)


async def plant(served: Served, client: httpx.AsyncClient) -> None:
    await served.wait_ready(client)
    base = served.base_url
    for index in range(len(CORPUS)):
        # The server closes a connection whose request raised.
        response = await client.get(f"{base}/boom/{index}", headers={"Connection": "close"})
        assert response.status_code == 500
    assert (await client.get(f"{base}/late")).status_code == 200
    # daphne writes its access line straight to stdout, not through logging.
    if served.server != "daphne":
        for planted in IN_QUERY:
            value = quote_plus(planted.text)
            response = await client.get(
                f"{base}/ok?q={value}&page=2&token=plain-{value}",
                headers={"Referer": f"https://example.org/?q={value}"},
            )
            assert response.status_code == 200
    if served.server in ("uvicorn", "hypercorn"):
        answer = websocket_handshake(served.port, "/ws?code=oauthcode123&page=2")
        assert answer.startswith(b"HTTP/1.1 403")


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn", "granian", "daphne"])
async def test_no_planted_secret_in_the_server_s_output(server: str, tmp_path: Path) -> None:
    require(SERVER_MODULES[server])
    served = Served(
        server,
        TARGET,
        tmp_path / "log",
        delay=0,
        extra_args=ACCESS_ARGS[server],
        extra_env=dict(SECRET_ENV_VALUES),
    )
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await plant(served, client)
        served.terminate()
        events = served.envelopes.events
        output = served.log.read_text(errors="replace")
    finally:
        served.close()

    assert len(events) == len(CORPUS) + 1  # and the late handler's logged error
    assert_nothing_left(events)
    # Each traceback was written, scrubbed (daphne writes none), and the late handler's lines.
    if server != "daphne":
        assert output.count("RuntimeError: upstream refused token") >= len(CORPUS)
    assert output.count("late: refused ") == len(CORPUS)
    for planted in CORPUS:
        for needle in planted.all_needles:
            assert needle not in output, planted.name
    assert "oauthcode123" not in output
    if server != "daphne":
        # What is no secret stays for the operator: the client and page=2.
        access = [line for line in output.splitlines() if "/ok?q=" in line]
        assert len(access) == len(IN_QUERY), output[-2000:]
        assert all("127.0.0.1" in line and "page=2" in line for line in access)
    if server == "uvicorn":
        assert '"WebSocket /ws?code=[Filtered]&page=2" 403' in output


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn", "granian"])  # daphne: no lifespan
def test_a_failed_startup_s_traceback_is_written_scrubbed(server: str, tmp_path: Path) -> None:
    require(SERVER_MODULES[server])
    served = Served(
        server,
        "tests.compat.apps.secret_crash_app:app",
        tmp_path / "log",
        delay=0,
        extra_env=dict(SECRET_ENV_VALUES),
    )
    try:
        served.process.wait(30)
        output = served.log.read_text(errors="replace")
    finally:
        served.close()
    # The server writes the traceback after the lifespan has ended.
    assert 'ValueError: invalid percent-encoded token: "[Filtered]"' in output
    assert INTERNAL_TOKEN not in output
