"""Start sentry-sdk from validated settings, with the layer's runtime on its client."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sentry_sdk
from sentry_sdk.integrations import Integration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.transport import Transport

from middleware._runtime import Runtime
from middleware._sdk import (
    BaseClient,
    attach,
    auto_integrations_found,
    drop_disabled_integrations,
)
from middleware.capture import DeferringEventHandler, logging_integration, storm
from middleware.config import SentryConfig, parse_dsn
from middleware.delivery import transport_from_settings
from middleware.logs import log_options
from middleware.scrub import Scrubber
from middleware.startup.options import compose, framework_integrations, refuse_foreign_client

if TYPE_CHECKING:
    from typing import Unpack

    from middleware.startup.options import SdkOptions

TracesSampler = Callable[[dict[str, Any]], float | bool]

# Envelopes waiting for the sdk's sending thread (its default is 100).
TRANSPORT_QUEUE_SIZE = 1000

SERVER_LOGGERS = (
    "uvicorn.error",  # uvicorn: "Exception in ASGI application"
    "hypercorn.error",  # hypercorn: "Error in ASGI Framework"
    "_granian.utils",  # granian: "Application callable raised an exception"
    "daphne.server",  # daphne: "Exception inside application"
    # Litestar with debug or log_exceptions: "Uncaught exception", for a 404 too;
    # its after_exception hook captures the errors it answers with a 5xx.
    "litestar",
)


def secret_values(secret_env: Iterable[str], dsn: str | None) -> list[str]:
    """The exact values of the process's own secrets, for the scrubber."""
    # Read as settings read them: pydantic-settings matches names in any case.
    wanted = {name.upper() for name in secret_env}
    values = [value for name, value in os.environ.items() if name.upper() in wanted]
    if dsn:
        parsed = parse_dsn(dsn)
        values += [parsed.public_key, parsed.secret_key or ""]
    return [v for v in values if v]


def _reuse_auto_integrations(
    options: dict[str, Any], found: list[type[Integration]], disabled: list[Any]
) -> None:
    """Name the auto-enabling integrations an earlier init found, instead of looking again.

    The sdk looks by importing every one of them, at each init: most of what a
    lifespan start costs with Sentry on (bench/README.md), which a test suite
    starting an app per test pays each time. The same integrations are set up
    as the sdk would, and the sdk's own look runs when nothing in the process
    has looked yet (auto_integrations_found gives None).
    """
    disabled_types = {d if isinstance(d, type) else type(d) for d in disabled}
    given = [*options.get("integrations", ())]
    named = {integration.identifier for integration in given}
    options["integrations"] = given + [
        integration()
        for integration in found
        if integration.identifier not in named and integration not in disabled_types
    ]
    options["auto_enabling_integrations"] = False


def init_sentry(
    config: SentryConfig,
    *,
    secret_env: Iterable[str] = (),
    transport: Transport | None = None,
    in_app_include: Iterable[str] = (),
    traces_sampler: TracesSampler | None = None,
    spool_dir: Path | None = None,
    **sdk_options: Unpack[SdkOptions],
) -> BaseClient:
    """Initialise the sdk from validated settings and return the client.

    `sdk_options` are sentry_sdk.init's own (middleware/startup/options.py):
    the app's hooks run before the layer's scrubbing, its integrations beside
    the layer's. RuntimeError if the app's own sentry_sdk.init() runs already.
    `spool_dir` is where envelopes are spooled when SENTRY_SPOOL_DIR is unset.
    """
    refuse_foreign_client()
    settings = config.settings
    dsn = settings.dsn_value
    handler = DeferringEventHandler(level=logging.ERROR)
    runtime = Runtime(
        local_variables=settings.local_variables,
        handler=handler,
        trace_sources=settings.trace_networks(production=config.production),
    )
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
        "integrations": [logging_integration(handler)],
        "event_scrubber": scrubber.event_scrubber,
        "before_send": scrubber.before_send,
        "before_send_transaction": scrubber.before_send_transaction,
        "before_breadcrumb": scrubber.before_breadcrumb,
        # Without a spool directory, the sdk's own transport.
        "transport": (
            transport if transport is not None else transport_from_settings(config, spool_dir)
        ),
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
        # Read by the request layer, which counts one session per request.
        "auto_session_tracking": settings.auto_session_tracking,
        **log_options(enabled=settings.enable_logs, scrubber=scrubber, release=settings.release),
    }
    if settings.traces_sample_rate and settings.profiles_sample_rate:
        options["profiles_sample_rate"] = settings.profiles_sample_rate
    if settings.send_default_pii:
        options["send_default_pii"] = True
    options = compose(options, sdk_options)
    if options.get("auto_enabling_integrations", True):
        # The sdk's integrations stay on (httpx, SQLAlchemy, redis... give breadcrumbs
        # and spans) but for the ASGI framework ones: they patch Starlette.__call__
        # and cost a transaction per request even at traces 0, and
        # RequestContextMiddleware does their work.
        found = auto_integrations_found() if options.get("default_integrations", True) else None
        framework = framework_integrations(loaded=found is not None)
        disabled = [*framework, *options.get("disabled_integrations", ())]
        options["disabled_integrations"] = disabled
        if found is not None:
            _reuse_auto_integrations(options, found, disabled)
    with warnings.catch_warnings():
        # send_default_pii is deprecated in favour of data_collection, but
        # data_collection disables the EventScrubber we build on.
        warnings.filterwarnings("ignore", "The send_default_pii option", DeprecationWarning)
        # Continuous profiling samples a whole process; profiles_sample_rate is
        # still the sdk's only way to profile a share of sampled transactions.
        warnings.filterwarnings("ignore", "Transaction-based profiling", DeprecationWarning)
        sentry_sdk.init(**options)
    # Each server logs every error the request middleware already captured; that
    # would be a second event per error, built for nothing.
    for server_logger in SERVER_LOGGERS:
        ignore_logger(server_logger)
    # The guard's counts travel on the events themselves (their storm context).
    ignore_logger(storm.logger.name)
    client = sentry_sdk.get_client()
    drop_disabled_integrations(client)
    attach(client, runtime)
    # The sdk keeps its logger at DEBUG and filters each record afterwards, so every
    # breadcrumb and transaction formats debug lines that no one sees.
    debug = client.options["debug"]
    logging.getLogger("sentry_sdk.errors").setLevel(logging.DEBUG if debug else logging.WARNING)
    runtime.guard = storm.guard_from_settings(
        client,
        limit=settings.storm_limit,
        window=settings.storm_window,
        ceiling=settings.storm_ceiling,
    )
    # With release=None the sdk guesses one (git rev-parse HEAD, CIRCLE_SHA1, ...).
    # Release is exactly SENTRY_RELEASE or absent, so the guess is discarded.
    client.options["release"] = settings.release
    return client
