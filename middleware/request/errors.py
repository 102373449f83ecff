"""The answer to an error nothing else answered: a JSON 500 with ids to quote."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse


def error_response(request_id: str, event_id: str | None) -> JSONResponse:
    """The answer when the app has no handler: ids the caller can quote."""
    payload: dict[str, str] = {"detail": "Internal Server Error", "request_id": request_id}
    if event_id is not None:
        payload["event_id"] = event_id
    return JSONResponse(payload, status_code=500)


def is_async(handler: Callable[..., Any]) -> bool:
    while isinstance(handler, functools.partial):
        handler = handler.func
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with async __call__
    )
