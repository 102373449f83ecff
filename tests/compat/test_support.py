"""The compat harness itself: a server counts as started only when the app answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.compat.support import Served
from tests.support import EnvelopeServer


async def test_an_answer_from_another_server_on_the_port_is_not_the_server(
    tmp_path: Path,
) -> None:
    # What happened in CI: an envelope server held the port the app's server was
    # given. That server cannot bind it and exits; until then every answer is the
    # envelope server's (501 to a GET), which carries no X-Request-ID.
    foreign = EnvelopeServer()
    served = Served(
        "uvicorn", "tests.compat.apps.starlette_app:app", tmp_path / "u.log", port=foreign.port
    )
    try:
        async with httpx.AsyncClient() as client:
            with pytest.raises(AssertionError, match=r"exited early .*without X-Request-ID"):
                await served.wait_ready(client)
    finally:
        served.close()
        foreign.close()
