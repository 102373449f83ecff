"""The outbound HTTP client shared by the GitHub and LLM clients."""

from __future__ import annotations

import functools
import ssl

import httpx
from pydantic import SecretStr

from middleware import get_request_id


async def _add_request_id(request: httpx.Request) -> None:
    # The id of the request (or the job's originating request) lets the other
    # side's logs be joined with ours; a caller's own header is kept.
    request_id = get_request_id()
    if request_id is not None and "x-request-id" not in request.headers:
        request.headers["X-Request-ID"] = request_id


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~0.1 s; every client of the process shares one context.
    return httpx.create_ssl_context()


def make_client(
    base_url: str, *, token: SecretStr | None, timeout: float, user_agent: str = "booty"
) -> httpx.AsyncClient:
    headers = {"User-Agent": user_agent}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        verify=_ssl_context(),
        event_hooks={"request": [_add_request_id]},
    )
