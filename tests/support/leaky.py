"""An app whose errors carry what the caller sent, served by a real uvicorn in tests."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from middleware import SentryLifespan, instrument
from tests.support.corpus import SECRET_ENV_VALUES


async def _reject(request: Request) -> None:
    raise RuntimeError(f"rejected {request.query_params.get('value', '')}")


def app() -> Starlette:
    built = Starlette(
        routes=[Route("/reject", _reject)],
        lifespan=SentryLifespan(secret_env=tuple(SECRET_ENV_VALUES)),
    )
    instrument(built)
    return built
