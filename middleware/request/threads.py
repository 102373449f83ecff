"""Sync endpoints name the thread that ran them to the request's transaction and profile.

Starlette and FastAPI run a plain `def` endpoint on a threadpool thread, while
the transaction and its profile were started on the event loop's: without
this, a profile's active thread and the trace's `thread.id` name the loop,
which did nothing. The stock integrations patch Starlette's `request_response`
and FastAPI's `get_request_handler` for every app in the process; this wraps
the endpoints of the instrumented app only, before its first transaction. An
app that never traces keeps its endpoints as they are: FastAPI names the
wrapper's file in the endpoint context of its validation errors.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from starlette.routing import Route, request_response

from middleware._sdk import mark_active_thread

_MARK = "__request_layer_thread__"
_REQUEST_RESPONSE_APP = request_response.__qualname__ + ".<locals>.app"


def mark_sync_endpoints(routes: Iterable[Any]) -> None:
    """Wrap every plain sync endpoint reachable from `routes`, through Mounts and routers."""
    pending = [(route, False) for route in routes]
    seen: set[int] = set()
    while pending:
        route, included = pending.pop()
        if id(route) in seen:
            continue
        seen.add(id(route))
        dependant = getattr(route, "dependant", None)
        if included and isinstance(route, Route) and _is_plain_sync(route.endpoint):
            # FastAPI (0.137 and later) builds an included router's routes again
            # from their endpoints, at the first request that reaches them.
            route.endpoint = _marking(route.endpoint)
        elif dependant is not None:
            # FastAPI reads dependant.call at each request (and decided at build
            # time that it is sync, which the wrapper keeps true).
            if _is_plain_sync(dependant.call):
                dependant.call = _marking(dependant.call)
        elif (
            isinstance(route, Route)
            and _is_plain_sync(route.endpoint)
            and getattr(route.app, "__qualname__", "") == _REQUEST_RESPONSE_APP
        ):
            # Starlette built route.app around the endpoint: rebuilt only when
            # nothing else (route-level middleware) sits in between. The route
            # keeps its endpoint, which names the transaction.
            route.app = request_response(_marking(route.endpoint))
        # Mounts and sub-apps, and FastAPI's included routers.
        pending += [(child, included) for child in getattr(route, "routes", None) or ()]
        router = getattr(route, "original_router", None)
        pending += [(child, True) for child in getattr(router, "routes", None) or ()]


def _is_plain_sync(call: object) -> bool:
    return (
        inspect.isfunction(call)
        and not getattr(call, _MARK, False)
        and not inspect.iscoroutinefunction(call)
        and not inspect.isgeneratorfunction(call)
        and not inspect.isasyncgenfunction(call)
    )


def _marking(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    def marked(*args: Any, **kwargs: Any) -> Any:
        mark_active_thread()
        return endpoint(*args, **kwargs)

    setattr(marked, _MARK, True)
    return marked
