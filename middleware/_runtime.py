"""The one object that holds what the layer keeps between calls, per sdk client.

It hangs on the client `sentry_sdk.get_client()` hands out, so the request
middleware, job scopes, capture and the storm guard reach it without module
state, and it goes away with its client. The lifespan (or
init_from_environment) that starts a client owns its runtime; a second one in
the same process shares it when given the same options and is refused
otherwise, since one process has one global client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import TYPE_CHECKING, Literal

import anyio.to_thread
import sentry_sdk

from middleware._sdk import BaseClient, attach, attached, inactive_client

if TYPE_CHECKING:
    from middleware.capture import FrameTemplates, StormGuard

LocalVariables = Literal["in_app", "all", "none"]


@dataclass(eq=False)
class Runtime:
    # What startup builds for the client: its error log handler and storm guard.
    handler: logging.Handler | None = None
    guard: StormGuard | None = None
    # Each code object's part of an error event's frames, kept by capture.
    frame_templates: FrameTemplates | None = None
    # Whose frames send their locals in unhandled-error events.
    local_variables: LocalVariables = "in_app"
    # The networks whose callers' traces are continued (SENTRY_TRUSTED_TRACE_SOURCES);
    # None: not configured, the client's environment decides.
    trace_sources: tuple[IPv4Network | IPv6Network, ...] | None = None
    # Set by the owning lifespan: the client it hangs on (the lifespan closes it),
    # what it was started with (None: Sentry off), the global client before it.
    client: BaseClient | None = None
    options: Mapping[str, object] | None = None
    previous: BaseClient | None = None
    refs: int = 0
    disabled_logged: bool = False


def runtime_of(client: BaseClient) -> Runtime | None:
    found = attached(client)
    return found if isinstance(found, Runtime) else None


def runtime_for(client: BaseClient) -> Runtime:
    """`client`'s runtime, attached now if it has none (a client started by hand)."""
    runtime = runtime_of(client)
    if runtime is None:
        runtime = Runtime()
        attach(client, runtime)
    return runtime


def current(client: BaseClient | None = None) -> Runtime | None:
    """The runtime of the client in use, else the one Sentry-off hung on the global scope.

    None: neither a lifespan, init_from_environment nor init_sentry ran.
    """
    runtime = runtime_of(sentry_sdk.get_client() if client is None else client)
    # An inactive client is never handed out by get_client(): it makes a new one.
    return runtime or runtime_of(sentry_sdk.get_global_scope().client)


def _differing(running: Mapping[str, object], wanted: Mapping[str, object]) -> list[str]:
    return [name for name in wanted if running.get(name) != wanted[name]]


def acquire(options: Mapping[str, object], start: Callable[[], BaseClient] | None) -> Runtime:
    """Own the process's runtime: start a client with `start`, or share the running one.

    `start` None: Sentry is off. Then any runtime in place is shared, else an
    inactive client carries one, so that what is said once is said once.
    """
    scope = sentry_sdk.get_global_scope()
    running = runtime_of(scope.client)
    owned = running is not None and running.refs > 0 and running.options is not None
    if running is not None and (owned or start is None):
        if start is not None and running.options is not None:
            differing = _differing(running.options, options)
            if differing:
                raise RuntimeError(
                    f"Sentry already runs in this process with another {', '.join(differing)}: "
                    "one process has one Sentry client, so every SentryLifespan and "
                    "init_from_environment() in it must be given the same options"
                )
        running.refs += 1
        return running
    if start is None:
        # Nothing to start, but the runtime needs a client to hang on.
        client = scope.client if scope.client.is_active() else inactive_client()
        runtime = Runtime(client=client, previous=scope.client, refs=1)
        attach(client, runtime)
        scope.set_client(client)
        return runtime
    previous = scope.client
    client = start()
    runtime = runtime_for(client)
    runtime.client, runtime.options, runtime.previous, runtime.refs = client, options, previous, 1
    runtime.disabled_logged = running is not None and running.disabled_logged
    return runtime


async def release(runtime: Runtime, shutdown_timeout: float) -> None:
    """Give up one ownership: flush the client, and close it when it was the last."""
    runtime.refs -= 1
    client = runtime.client
    if runtime.options is None or client is None:
        # Sentry off: the runtime stays for the life of the process.
        return
    if runtime.refs:
        # Still owned (another app, or init_from_environment): flush, do not close.
        await anyio.to_thread.run_sync(client.flush, shutdown_timeout)
        return
    # Under uvicorn SIGTERM skips the sdk's atexit flush, so flush here, off the loop.
    await anyio.to_thread.run_sync(client.close, shutdown_timeout)
    sentry_sdk.get_global_scope().set_client(runtime.previous)
