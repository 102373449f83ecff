"""Under a real uvicorn: the app's own handler answers and the server still logs the error
once; a client that hangs up mid-body leaves no event and no traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.compat.support import Served


async def test_under_uvicorn_the_app_handles_the_server_logs_and_disconnects_are_quiet(
    tmp_path: Path,
) -> None:
    served = Served("uvicorn", "tests.compat.apps.dropin_app:app", tmp_path / "uvicorn.log")
    try:
        async with httpx.AsyncClient() as client:
            await served.wait_ready(client)
            response = await client.get(
                f"{served.base_url}/handled", headers={"X-Request-ID": "dropin-1"}
            )
            assert response.status_code == 503, served.tail()
            assert response.json() == {"handled": True, "request_id": "dropin-1"}
            assert response.headers["x-request-id"] == "dropin-1"

            # A webhook cut halfway: the client sends part of the body and hangs up.
            _, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(
                b"POST /webhook HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"half": '
            )
            await writer.drain()
            await asyncio.sleep(0.3)
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.5)
            assert (await client.get(f"{served.base_url}/ok")).status_code == 200
        served.terminate()
        served.output.flush()
        log = served.log.read_text(errors="replace")
        assert log.count("Exception in ASGI application") == 1, log
        assert log.count("Traceback") == 1, log  # the handled error's, not the disconnect's
        events = served.envelopes.events
        assert [e["exception"]["values"][-1]["type"] for e in events] == ["RuntimeError"]
        assert events[0]["tags"]["request_id"] == "dropin-1"
    finally:
        served.close()
