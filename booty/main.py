"""`app`, built by create_app()."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sentry_sdk.transport import Transport
from starlette.exceptions import HTTPException

from booty.config import (
    IN_APP_INCLUDE,
    SDK_OPTIONS,
    SECRET_ENV,
    default_sentry_spool_dir,
    load_booty_settings,
)
from booty.internal import internal_allowed
from booty.logs import configure_logging
from booty.webhooks import router as webhooks_router
from booty.worker import start_worker
from middleware import SentryLifespan, instrument, is_production

logger = logging.getLogger("booty.main")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    settings, problems = load_booty_settings()
    for problem in problems:
        logger.warning("invalid configuration: %s", problem)
    # Inside SentryLifespan: the worker starts after Sentry and stops before its flush.
    async with start_worker(settings) as services:
        yield {
            "settings": settings,
            "production": is_production(os.environ.get("SENTRY_ENVIRONMENT")),
            "queue": services.queue,
            "worker": services.worker,
        }


def create_app(*, sentry_transport: Transport | None = None) -> FastAPI:
    """Build Booty. `sentry_transport` replaces the sdk's HTTP transport (tests)."""
    configure_logging()
    production = is_production(os.environ.get("SENTRY_ENVIRONMENT"))
    app = FastAPI(
        title="Booty",
        lifespan=SentryLifespan(
            _lifespan,
            secret_env=SECRET_ENV,
            transport=sentry_transport,
            in_app_include=IN_APP_INCLUDE,
            # Envelopes wait on disk until Sentry answered them.
            spool_dir=default_sentry_spool_dir(),
            **SDK_OPTIONS,
        ),
        # In production the API's map is not published.
        docs_url=None if production else "/docs",
        redoc_url=None if production else "/redoc",
        openapi_url=None if production else "/openapi.json",
        # A redirect from /internal/x/ to /internal/x would reveal that the route exists.
        redirect_slashes=False,
    )
    instrument(app)
    app.include_router(webhooks_router)

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/internal/sentry-test", include_in_schema=False)
    async def sentry_test(request: Request) -> None:
        if not internal_allowed(request):
            raise HTTPException(status_code=404)
        raise RuntimeError("Sentry test error")

    return app


app = create_app()
