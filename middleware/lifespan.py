"""The lifespan plugin: validate the environment, initialise sentry-sdk, flush."""

from __future__ import annotations

import gc
import logging
import os
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import sentry_sdk
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.transport import Transport

from middleware import log_scrubbing, storm
from middleware._sdk import BaseClient
from middleware._secrets import TextScrubber
from middleware.capture import capture_unhandled, logging_integration, set_local_variables
from middleware.logs import log_options
from middleware.scrubbing import Scrubber
from middleware.settings import SentryConfig, load_sentry_config, parse_dsn

logger = logging.getLogger("middleware.sentry")

AppLifespan = Callable[[Any], AbstractAsyncContextManager[Any]]
TracesSampler = Callable[[dict[str, Any]], float | bool]

# Envelopes waiting for the sdk's sending thread (its default is 100).
TRANSPORT_QUEUE_SIZE = 1000

DISABLED_MESSAGE = "Sentry disabled — no DSN configured (environment=%s)"
STARTUP_MECHANISM = "asgi.lifespan.startup"

SERVER_LOGGERS = (
    "uvicorn.error",  # uvicorn: "Exception in ASGI application"
    "hypercorn.error",  # hypercorn: "Error in ASGI Framework"
    "_granian.utils",  # granian: "Application callable raised an exception"
    "daphne.server",  # daphne: "Exception inside application"
)


def secret_values(secret_env: Iterable[str], dsn: str | None) -> list[str]:
    """The exact values of the process's own secrets, for the scrubber."""
    values = [os.environ.get(name, "") for name in secret_env]
    if dsn:
        parsed = parse_dsn(dsn)
        values += [parsed.public_key, parsed.secret_key or ""]
    return [v for v in values if v]


def init_sentry(
    config: SentryConfig,
    *,
    secret_env: Iterable[str] = (),
    transport: Transport | None = None,
    in_app_include: Iterable[str] = (),
    traces_sampler: TracesSampler | None = None,
) -> BaseClient:
    """Initialise the sdk from validated settings and return the client."""
    settings = config.settings
    dsn = settings.dsn_value
    scrubber = Scrubber(
        secrets=secret_values(secret_env, dsn), send_default_pii=settings.send_default_pii
    )
    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": settings.environment,
        "release": settings.release,
        "sample_rate": settings.sample_rate,
        # None, not 0.0: with a rate the sdk builds an unsampled transaction per request.
        "traces_sample_rate": settings.traces_sample_rate or None,
        # Called with the request's ASGI scope as sampling_context["asgi_scope"].
        "traces_sampler": traces_sampler,
        "shutdown_timeout": settings.shutdown_timeout,
        "spotlight": settings.spotlight,
        # Starlette/FastAPI integrations patch Starlette.__call__ and cost a transaction
        # per request even at traces 0; RequestContextMiddleware does their work.
        "auto_enabling_integrations": False,
        "integrations": [logging_integration()],
        "event_scrubber": scrubber.event_scrubber,
        "before_send": scrubber.before_send,
        "before_send_transaction": scrubber.before_send_transaction,
        "before_breadcrumb": scrubber.before_breadcrumb,
        "transport": transport,
        # The sdk's sending thread waits for the GIL behind a busy event loop, so a
        # burst of errors outruns it; its default queue of 100 then drops the rest.
        # Storm events are lean (a few KB), so a deeper queue costs little memory.
        # keep_alive is TCP keep-alive, not connection reuse (urllib3 reuses anyway),
        # and the HTTP/2 transport is experimental and needs h2: neither helps here.
        "transport_queue_size": TRANSPORT_QUEUE_SIZE,
        # The sdk's own events (logged errors) follow SENTRY_LOCAL_VARIABLES=none too.
        "include_local_variables": settings.local_variables != "none",
        "in_app_include": sorted({*in_app_include, *settings.in_app_packages}),
        # A trace is continued only from our own organisation: a foreign baggage
        # must not decide our sampling nor put its key and release on our traces.
        "strict_trace_continuation": True,
        **log_options(enabled=settings.enable_logs, scrubber=scrubber, release=settings.release),
    }
    if settings.traces_sample_rate and settings.profiles_sample_rate:
        options["profiles_sample_rate"] = settings.profiles_sample_rate
    if settings.send_default_pii:
        options["send_default_pii"] = True
    with warnings.catch_warnings():
        # send_default_pii is deprecated in favour of data_collection, but
        # data_collection disables the EventScrubber we build on.
        warnings.filterwarnings("ignore", "The send_default_pii option", DeprecationWarning)
        # Continuous profiling samples a whole process; profiles_sample_rate is
        # still the sdk's only way to profile a share of sampled transactions.
        warnings.filterwarnings("ignore", "Transaction-based profiling", DeprecationWarning)
        sentry_sdk.init(**options)
    # Each server logs every error the request middleware already captured; that
    # would be a second event per error (and ~1 ms to build it).
    for server_logger in SERVER_LOGGERS:
        ignore_logger(server_logger)
    # The guard's counts travel on the events themselves (their storm context).
    ignore_logger(storm.logger.name)
    client = sentry_sdk.get_client()
    # The sdk keeps its logger at DEBUG and filters each record afterwards, which
    # costs every breadcrumb and transaction ~12 us per debug line, debug or not.
    debug = client.options["debug"]
    logging.getLogger("sentry_sdk.errors").setLevel(logging.DEBUG if debug else logging.WARNING)
    storm.install_from_settings(
        client,
        limit=settings.storm_limit,
        window=settings.storm_window,
        ceiling=settings.storm_ceiling,
    )
    set_local_variables(client, settings.local_variables)
    # With release=None the sdk guesses one (git rev-parse HEAD, CIRCLE_SHA1, ...).
    # Release is exactly SENTRY_RELEASE or absent, so the guess is discarded.
    client.options["release"] = settings.release
    return client


@dataclass
class _Owner:
    client: BaseClient
    previous: BaseClient | None
    refs: int = 1


_owner: _Owner | None = None
_disabled_logged = False


def _acquire(
    config: SentryConfig,
    secret_env: Iterable[str],
    transport: Transport | None,
    in_app_include: Iterable[str],
    traces_sampler: TracesSampler | None = None,
) -> None:
    global _owner
    if _owner is not None:
        _owner.refs += 1
        return
    previous = sentry_sdk.get_global_scope().client
    client = init_sentry(
        config,
        secret_env=secret_env,
        transport=transport,
        in_app_include=in_app_include,
        traces_sampler=traces_sampler,
    )
    _owner = _Owner(client, previous)


async def _release(shutdown_timeout: float) -> None:
    global _owner
    owner = _owner
    if owner is None:
        return
    owner.refs -= 1
    if owner.refs:
        # Still owned (another app, or init_from_environment): flush, do not close.
        await anyio.to_thread.run_sync(owner.client.flush, shutdown_timeout)
        return
    _owner = None
    # Under uvicorn SIGTERM skips the sdk's atexit flush, so flush here, off the loop.
    await anyio.to_thread.run_sync(owner.client.close, shutdown_timeout)
    sentry_sdk.get_global_scope().set_client(owner.previous)


def _log_config(config: SentryConfig) -> None:
    global _disabled_logged
    for line in config.warnings():
        logger.warning("%s", line)
    if config.mode == "disabled" and not _disabled_logged:
        _disabled_logged = True
        logger.info(DISABLED_MESSAGE, config.settings.environment)


@contextmanager
def _frozen_startup_heap() -> Iterator[None]:
    """Keep the startup heap out of the garbage collector's full collections.

    Each request's objects (two forked sdk scopes, the server's protocol
    objects) are alive when a young collection runs and get promoted; every
    few thousand requests that triggers a full collection, which walks every
    object the imports and startup made (sentry-sdk, FastAPI, pydantic): tens
    of milliseconds on the event loop, the service's tail latency. The heap
    that exists once startup is done lives as long as the process, so it is
    frozen, as long-lived servers do (gc.freeze); shutdown thaws it.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def init_from_environment(
    *,
    secret_env: Iterable[str] = (),
    in_app_include: Iterable[str] = (),
    traces_sampler: TracesSampler | None = None,
    transport: Transport | None = None,
) -> bool:
    """Initialise Sentry now, for servers that run no lifespan (daphne).

    Call it where the app is built, at import time. It validates SENTRY_* as
    SentryLifespan does (ConfigError refuses the import in production) and
    returns whether Sentry is on. The client stays for the life of the process;
    the sdk's exit hook flushes it. A SentryLifespan that runs later shares it.
    """
    config = load_sentry_config()
    _log_config(config)
    secret_env = tuple(secret_env)
    # As SentryLifespan does, for the life of the process: log lines are scrubbed
    # like events, with Sentry on or off.
    hide_pii = not config.settings.send_default_pii
    log_scrubbing.install(
        TextScrubber(secret_values(secret_env, config.settings.dsn_value), hide_pii=hide_pii),
        hide_clients=hide_pii,
    )
    if config.mode != "enabled":
        return False
    _acquire(config, secret_env, transport, in_app_include, traces_sampler)
    return True


class SentryLifespan:
    """Wrap an app's lifespan: Sentry starts first and flushes last.

    `secret_env` names environment variables whose exact values must never
    leave the process (tokens, webhook secrets); the DSN key is always added.
    """

    def __init__(
        self,
        app_lifespan: AppLifespan | None = None,
        *,
        secret_env: Iterable[str] = (),
        transport: Transport | None = None,
        in_app_include: Iterable[str] = (),
        traces_sampler: TracesSampler | None = None,
    ) -> None:
        self.app_lifespan = app_lifespan
        self.secret_env = tuple(secret_env)
        self.transport = transport
        self.in_app_include = tuple(in_app_include)
        self.traces_sampler = traces_sampler

    def __call__(self, app: Any) -> AbstractAsyncContextManager[Any]:
        return self._lifespan(app)

    @asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[Any]:
        config = load_sentry_config()
        _log_config(config)
        # Logs are scrubbed like events, with Sentry on or off.
        hide_pii = not config.settings.send_default_pii
        unscrub_logs = log_scrubbing.install(
            TextScrubber(
                secret_values(self.secret_env, config.settings.dsn_value), hide_pii=hide_pii
            ),
            hide_clients=hide_pii,
        )
        enabled = config.mode == "enabled"
        if enabled:
            _acquire(
                config, self.secret_env, self.transport, self.in_app_include, self.traces_sampler
            )
        started = False
        try:
            # The app's own startup runs in a scope of its own, so tags it sets
            # never leak into the requests that fork from the process scope.
            with sentry_sdk.isolation_scope():
                if self.app_lifespan is None:
                    started = True
                    with _frozen_startup_heap():
                        yield None
                else:
                    async with self.app_lifespan(app) as state:
                        started = True
                        with _frozen_startup_heap():
                            yield state
        except Exception as exc:
            if not started:
                # The server only logs it and exits; the finally below flushes it.
                capture_unhandled(exc, STARTUP_MECHANISM)
            raise
        finally:
            if enabled:
                await _release(config.settings.shutdown_timeout)
            unscrub_logs()
