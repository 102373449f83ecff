"""The lifespan plugin: validate the environment, initialise sentry-sdk, flush."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Unpack

import sentry_sdk
from sentry_sdk.transport import Transport

from middleware._runtime import Runtime, acquire, release
from middleware.capture import capture_unhandled
from middleware.config import SentryConfig, load_sentry_config
from middleware.request import quiet_disconnects
from middleware.scrub import TextScrubber, log_scrubbing
from middleware.startup.app_lifespan import AppLifespan, lifespan_context
from middleware.startup.options import SdkOptions, check_sdk_options, refuse_foreign_client
from middleware.startup.sdk import SERVER_LOGGERS, TracesSampler, init_sentry, secret_values

__all__ = [
    "SERVER_LOGGERS",
    "SentryLifespan",
    "TracesSampler",
    "init_from_environment",
    "init_sentry",
]

logger = logging.getLogger("middleware.sentry")

DISABLED_MESSAGE = "Sentry disabled — no DSN configured (environment=%s)"
STARTUP_MECHANISM = "asgi.lifespan.startup"


def _start(
    config: SentryConfig,
    *,
    secret_env: tuple[str, ...],
    transport: Transport | None,
    in_app_include: tuple[str, ...],
    traces_sampler: TracesSampler | None,
    sdk_options: SdkOptions,
    spool_dir: Path | None = None,
) -> Runtime:
    """Own the process's runtime, and say what the configuration lacks."""
    refuse_foreign_client()
    for line in config.warnings():
        logger.warning("%s", line)
    if config.mode != "enabled":
        runtime = acquire({}, None)
        if not runtime.disabled_logged:
            runtime.disabled_logged = True
            logger.info(DISABLED_MESSAGE, config.settings.environment)
        return runtime
    options = {
        "secret_env": secret_env,
        "transport": transport,
        "in_app_include": in_app_include,
        "traces_sampler": traces_sampler,
        "sdk options": sdk_options,
        "spool_dir": spool_dir,
        "SENTRY_* settings": config.settings,
    }
    return acquire(
        options,
        lambda: init_sentry(
            config,
            secret_env=secret_env,
            transport=transport,
            in_app_include=in_app_include,
            traces_sampler=traces_sampler,
            spool_dir=spool_dir,
            **sdk_options,
        ),
    )


def _scrub_logs(config: SentryConfig, secret_env: Iterable[str]) -> Callable[[], None]:
    """Log lines are scrubbed like events, with Sentry on or off; return the undo.

    The servers log no traceback for a client that went away either.
    """
    settings = config.settings
    scrub = TextScrubber(
        secret_values(secret_env, settings.dsn_value), hide_pii=not settings.send_default_pii
    )
    unscrub = log_scrubbing.install(
        log_scrubbing.LogPolicy(scrub, hide_clients=not settings.local_logs_client_address)
    )
    unquiet = quiet_disconnects(SERVER_LOGGERS)

    def undo() -> None:
        unquiet()
        unscrub()

    return undo


def _scrub_on_its_way_out(exc: BaseException) -> None:
    # Some servers print a failed startup's error without logging (hypercorn).
    policy = log_scrubbing.current_policy()
    if policy is not None:
        log_scrubbing.scrub_exception(exc, policy)


def _freeze_startup_heap() -> None:
    """Keep the startup heap out of the garbage collector's full collections, once.

    Each request's objects (two forked sdk scopes, the server's protocol
    objects) are alive when a young collection runs and get promoted; every
    few thousand requests that triggers a full collection, which walks every
    object the imports and startup made (sentry-sdk, FastAPI, pydantic): a
    pause of the event loop, the service's tail latency. That heap lives as
    long as the process, so it is frozen, as long-lived servers do
    (gc.freeze). Once per process: the collection before it costs a large
    heap most of a second, which a test suite starting an app per test would
    pay at every start; a heap something already froze is left as it is.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def init_from_environment(
    *,
    secret_env: Iterable[str] = (),
    in_app_include: Iterable[str] = (),
    traces_sampler: TracesSampler | None = None,
    transport: Transport | None = None,
    **sdk_options: Unpack[SdkOptions],
) -> bool:
    """Initialise Sentry now, for servers that run no lifespan (daphne).

    Call it where the app is built, at import time. It validates SENTRY_* as
    SentryLifespan does (ConfigError refuses the import in production) and
    returns whether Sentry is on. The client stays for the life of the process;
    the sdk's exit hook flushes it. A SentryLifespan that runs later shares it.
    """
    config = load_sentry_config()
    secret_env = tuple(secret_env)
    # As SentryLifespan does, for the life of the process.
    _scrub_logs(config, secret_env)
    _start(
        config,
        secret_env=secret_env,
        transport=transport,
        in_app_include=tuple(in_app_include),
        traces_sampler=traces_sampler,
        sdk_options=sdk_options,
    )
    return config.mode == "enabled"


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
        spool_dir: Path | None = None,
        **sdk_options: Unpack[SdkOptions],
    ) -> None:
        check_sdk_options(sdk_options)
        self.app_lifespan = lifespan_context(app_lifespan)
        # Where envelopes are spooled when SENTRY_SPOOL_DIR is unset (none: in memory).
        self.spool_dir = spool_dir
        self.secret_env = tuple(secret_env)
        self.transport = transport
        self.in_app_include = tuple(in_app_include)
        self.traces_sampler = traces_sampler
        self.sdk_options = sdk_options

    def __call__(self, app: Any) -> AbstractAsyncContextManager[Any]:
        return self._lifespan(app)

    @asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[Any]:
        config = load_sentry_config()
        unscrub_logs = _scrub_logs(config, self.secret_env)
        runtime = _start(
            config,
            secret_env=self.secret_env,
            transport=self.transport,
            in_app_include=self.in_app_include,
            traces_sampler=self.traces_sampler,
            sdk_options=self.sdk_options,
            spool_dir=self.spool_dir,
        )
        started = False
        try:
            # The app's own startup runs in a scope of its own, so tags it sets
            # never leak into the requests that fork from the process scope.
            with sentry_sdk.isolation_scope():
                async with self.app_lifespan(app) as state:
                    started = True
                    _freeze_startup_heap()
                    yield state
        except Exception as exc:
            if not started:
                # The server only logs it and exits; the finally below flushes it.
                capture_unhandled(exc, STARTUP_MECHANISM)
                _scrub_on_its_way_out(exc)
            raise
        finally:
            await release(runtime, config.settings.shutdown_timeout)
        # Only after a clean shutdown: after a failure the server still logs its
        # traceback, so scrubbing stays on for the rest of the process.
        unscrub_logs()
