"""The recipes in examples/ as users run them: uvicorn, a real envelope server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import EnvelopeServer, answers, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*_app.py"))
# Each framework's own form of the failing route.
ROUTES = {
    "fastapi_app": "/orders/{order_id}",
    "starlette_app": "/orders/{order_id:int}",
    "litestar_app": "/orders/{order_id}",
    "quart_app": "/orders/<int:order_id>",
}


@contextmanager
def uvicorn(example: str, server: EnvelopeServer, log: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    env.update(SENTRY_DSN=server.dsn, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "uvicorn", f"examples.{example}:app", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: answers(f"{url}/orders/1"), f"{example} to start", 60, interval=0.1)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_every_framework_has_a_recipe() -> None:
    assert sorted(ROUTES) == EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES)
def test_a_failing_request_is_one_event_named_by_its_route(
    example: str, envelope_server: EnvelopeServer, tmp_path: Path
) -> None:
    with uvicorn(example, envelope_server, tmp_path / "server.log") as url:
        assert httpx.get(f"{url}/orders/7", timeout=10).json() == {"order_id": 7}
        response = httpx.get(f"{url}/orders/0", headers={"X-Request-ID": "recipe-1"}, timeout=10)
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "recipe-1"
    # The server has stopped: the lifespan flushed before it exited.
    (event,) = envelope_server.events
    assert event["exception"]["values"][-1]["value"] == "order 0 was never placed"
    assert event["transaction"] == ROUTES[example]
    assert event["tags"]["request_id"] == "recipe-1"


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_readme_quotes_the_recipe(example: str) -> None:
    blocks = re.findall(
        r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.DOTALL | re.MULTILINE
    )
    assert (ROOT / "examples" / f"{example}.py").read_text() in blocks
