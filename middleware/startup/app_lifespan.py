"""The app's own lifespan, in each form Starlette takes, or the router's default one."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, cast

from starlette.applications import Starlette

# What Starlette takes as lifespan=: an async context manager factory, an async
# generator function or a generator function, each called with the app.
AppLifespan = Callable[
    [Any], AbstractAsyncContextManager[Any] | AsyncIterator[Any] | Iterator[Any]
]


def lifespan_context(
    lifespan: AppLifespan | None,
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    """The app's lifespan as an async context manager factory, in each form Starlette takes."""
    if lifespan is None:
        return _router_lifespan
    if inspect.isasyncgenfunction(lifespan):
        return asynccontextmanager(lifespan)
    if inspect.isgeneratorfunction(lifespan):
        sync = contextmanager(lifespan)

        @asynccontextmanager
        async def lifted(app: Any) -> AsyncIterator[Any]:
            # As Starlette runs it: on the event loop.
            with sync(app) as state:
                yield state

        return lifted
    return cast(Callable[[Any], AbstractAsyncContextManager[Any]], lifespan)


class _RouterLifespan:
    """The router's default lifespan, which `lifespan=` replaces: on_startup/on_shutdown.

    FastAPI's on_event("startup"), on_startup=[...] and the handlers of included
    routers land in the router's lists; Starlette before 1.0 keeps them there too.
    """

    def __init__(self, app: Any) -> None:
        # Only Starlette's: Litestar and Quart run their own on_startup lists.
        self.router = app.router if isinstance(app, Starlette) else None

    async def __aenter__(self) -> None:
        await _run(getattr(self.router, "on_startup", ()))

    async def __aexit__(self, *exc_info: object) -> None:
        # As the framework's default lifespan: shutdown handlers run whatever happened.
        await _run(getattr(self.router, "on_shutdown", ()))


def _router_lifespan(app: Any) -> AbstractAsyncContextManager[None]:
    return _RouterLifespan(app)


async def _run(handlers: Iterable[Callable[[], Any]]) -> None:
    for handler in handlers:
        result = handler()
        if inspect.isawaitable(result):
            await result
