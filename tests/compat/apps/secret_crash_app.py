"""A Starlette app whose startup fails with a configured secret in the error's message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from middleware import SentryLifespan, instrument
from tests.support.corpus import INTERNAL_TOKEN, SECRET_ENV_VALUES


@asynccontextmanager
async def broken_startup(app: Starlette) -> AsyncIterator[None]:
    # As psycopg words a bad BOOTY_DATABASE_URL: the password in clear.
    raise ValueError(f'invalid percent-encoded token: "{INTERNAL_TOKEN}"')
    yield


app = Starlette(lifespan=SentryLifespan(broken_startup, secret_env=tuple(SECRET_ENV_VALUES)))
instrument(app)
