"""The route a request matched, as a template with every router's and Mount's prefix."""

from __future__ import annotations

from typing import Any, NamedTuple

from starlette.routing import Match, Mount
from starlette.types import Scope


class Entry(NamedTuple):
    """Where a request entered the app: what re-matching its Mounts needs after routing.

    A tuple: every request with Sentry on takes one as it starts, and a frozen
    dataclass costs several times as much to build.
    """

    app: Any
    path: str
    root_path: str

    @classmethod
    def of(cls, scope: Scope) -> Entry:
        return cls(scope.get("app"), scope.get("path") or "/", scope.get("root_path") or "")


def route_template(scope: Scope, entry: Entry | None = None) -> str | None:
    """The matched route's path template with the prefix of every router it went through.

    FastAPI (0.137 and later) keeps an included router's routes as they were
    declared, with the prefix on its own route context; Starlette's Mount keeps
    only the concrete prefix (ids and all) in root_path, so its template is
    found by matching the Mounts again from the app's router.
    """
    route = scope.get("route")
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    if entry is None or (scope.get("root_path") or "") == entry.root_path:
        return path
    prefix = _mount_prefix(scope, entry)
    return path if prefix is None else prefix + path


def _mount_prefix(scope: Scope, entry: Entry) -> str | None:
    router = getattr(entry.app, "router", None)
    target = scope.get("root_path") or ""
    current: Scope = {
        "type": scope["type"],
        "path": entry.path,
        "root_path": entry.root_path,
        "method": scope.get("method"),
        "headers": scope.get("headers", []),
        "path_params": {},
    }
    prefix = ""
    while router is not None and current["root_path"] != target:
        for route in getattr(router, "routes", ()):
            if isinstance(route, Mount):
                match, child = route.matches(current)
                if match == Match.FULL:
                    prefix += route.path
                    current = {**current, **child}
                    router = route
                    break
        else:
            return None
    return prefix if router is not None else None
