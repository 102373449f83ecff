"""`booty serve | check-config | send-test-event`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from booty.config import (
    IN_APP_INCLUDE,
    SDK_OPTIONS,
    SECRET_ENV,
    BootySettings,
    load_booty_settings,
    sentry_spool_dir,
)
from booty.queue import redact_database_url
from middleware import (
    ConfigError,
    Problem,
    SentryConfig,
    describe_config,
    init_sentry,
    load_sentry_config,
    parse_dsn,
    spool_problem,
    spool_status,
)

EX_OK = 0
EX_FAILURE = 1
EX_CONFIG = 78  # sysexits.h; uvicorn's own 3 also means "port busy"


def _load() -> tuple[SentryConfig, BootySettings, list[str]]:
    """Validate everything the service validates at startup; ConfigError if it would refuse."""
    problems: list[ConfigError] = []
    try:
        sentry = load_sentry_config()
    except ConfigError as exc:
        problems.append(exc)
    try:
        booty, booty_problems = load_booty_settings()
    except ConfigError as exc:
        problems.append(exc)
    if problems:
        raise ConfigError([p for exc in problems for p in exc.problems])
    warnings = sentry.warnings() + [f"invalid configuration: {p}" for p in booty_problems]
    spool = _spool_dir(sentry, booty)
    problem = spool_problem(spool) if sentry.mode == "enabled" else None
    if problem is not None:
        found = Problem("SENTRY_SPOOL_DIR", f"{spool} {problem}")
        if sentry.production:
            raise ConfigError([found])
        warnings.append(f"invalid configuration: {found}; sending from memory")
    return sentry, booty, warnings


def _spool_dir(sentry: SentryConfig, booty: BootySettings) -> Path:
    return sentry.settings.spool_dir or sentry_spool_dir(booty.booty_db_path)


def _spool(sentry: SentryConfig, booty: BootySettings) -> str:
    """The spool's path and what it holds: files, bytes, the oldest envelope's age."""
    directory = _spool_dir(sentry, booty)
    if not directory.is_dir():
        return f"{directory} (empty)"
    status = spool_status(directory)
    oldest = "" if status.oldest_age is None else f", oldest {status.oldest_age:.0f}s"
    return f"{directory} ({status.files} files, {status.bytes} bytes{oldest})"


def _refuse(exc: ConfigError) -> int:
    for problem in exc.problems:
        print(f"booty: configuration error: {problem}", file=sys.stderr)
    print("booty: refusing to start (exit 78)", file=sys.stderr)
    return EX_CONFIG


def serve(host: str, port: int) -> int:
    try:
        _load()
    except ConfigError as exc:
        return _refuse(exc)
    import uvicorn

    from booty.logs import uvicorn_log_config

    uvicorn.run(
        "booty.main:app",
        host=host,
        port=port,
        proxy_headers=False,
        log_config=uvicorn_log_config(),
    )
    return EX_OK


def check_config() -> int:
    try:
        sentry, booty, warnings = _load()
    except ConfigError as exc:
        print("sentry: refused")
        return _refuse(exc)
    for line in warnings:
        print(f"warning: {line}")
    # The library's own view (`python -m middleware check`), with what Booty passes in code.
    for line in describe_config(
        sentry,
        in_app_include=IN_APP_INCLUDE,
        secret_env=SECRET_ENV,
        sdk_options=SDK_OPTIONS,
        service="booty",
    ):
        print(line)
    print(f"spool: {_spool(sentry, booty)}")
    print(f"spool_max_mb: {sentry.settings.spool_max_mb}")
    print(f"send_concurrency: {sentry.settings.send_concurrency}")
    print(f"github_api_url: {booty.github_api_url}")
    print(f"llm_api_url: {booty.llm_api_url or '(none)'}")
    print(f"llm_model: {booty.llm_model}")
    print(f"db_path: {booty.booty_db_path}")
    queue, reachable = _queue(booty)
    print(f"queue: {queue}")
    print(f"job_lease: {booty.booty_job_lease}s")
    print(f"max_attempts: {booty.booty_max_attempts}")
    print(f"job_retention: {booty.booty_job_retention} days")
    print(f"max_webhook_bytes: {booty.booty_max_webhook_bytes}")
    print(f"workers: {booty.booty_workers}")
    print(f"shutdown_grace: {booty.booty_shutdown_grace}s")
    for name in SECRET_ENV:
        value = getattr(booty, name.lower())
        print(f"{name.lower()}: {'set' if value is not None else '(unset)'}")
    return EX_OK if reachable else EX_FAILURE


def _queue(booty: BootySettings) -> tuple[str, bool]:
    """The queue's backend and where it is, connecting to PostgreSQL; never the password."""
    if booty.booty_database_url is None:
        return f"sqlite {booty.booty_db_path}", True
    url = booty.booty_database_url.get_secret_value()
    shown = redact_database_url(url)
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        # The type only: a server's message may quote the connection string.
        return f"postgresql {shown} (cannot connect: {type(exc).__name__})", False
    return f"postgresql {shown} (connected)", True


class _Keep(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


def send_test_event() -> int:
    try:
        sentry, _, _ = _load()
    except ConfigError as exc:
        return _refuse(exc)
    dsn = sentry.settings.dsn_value
    if dsn is None:
        print("booty: not sent: no DSN configured (set SENTRY_DSN)", file=sys.stderr)
        return EX_FAILURE
    # The sdk's transport is asynchronous and never reports the answer, so the
    # event is built by a real client and posted here, synchronously.
    keep = _Keep()
    previous = sentry_sdk.get_global_scope().client
    client = init_sentry(sentry, secret_env=SECRET_ENV, transport=keep)
    try:
        try:
            raise RuntimeError("Sentry test event from booty send-test-event")
        except RuntimeError as exc:
            event_id = sentry_sdk.capture_exception(exc)
    finally:
        client.close(timeout=0)
        sentry_sdk.get_global_scope().set_client(previous)
    if event_id is None or not keep.envelopes:
        print("booty: not sent: the event was dropped before sending", file=sys.stderr)
        return EX_FAILURE
    return _post(dsn, keep.envelopes[0], event_id, sentry.settings.shutdown_timeout)


def _post(dsn: str, envelope: Envelope, event_id: str, timeout: float) -> int:
    auth = parse_dsn(dsn).to_auth(client="booty-send-test-event")
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "X-Sentry-Auth": auth.to_header(),
    }
    try:
        response = httpx.post(
            auth.get_api_url(), content=envelope.serialize(), headers=headers, timeout=timeout
        )
    except httpx.TimeoutException:
        print(f"booty: not sent: unreachable (no answer within {timeout}s)", file=sys.stderr)
        return EX_FAILURE
    except httpx.TransportError as exc:
        print(f"booty: not sent: unreachable ({type(exc).__name__})", file=sys.stderr)
        return EX_FAILURE
    if response.status_code == 429:
        retry = response.headers.get("retry-after", "unknown")
        print(f"booty: not sent: rate-limited (Retry-After: {retry})", file=sys.stderr)
        return EX_FAILURE
    if not response.is_success:
        reason = response.headers.get("x-sentry-error", "")[:200]
        print(
            f"booty: not sent: rejected with HTTP {response.status_code} {reason}".rstrip(),
            file=sys.stderr,
        )
        return EX_FAILURE
    print(event_id)
    return EX_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="booty")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="validate the configuration, then run")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    commands.add_parser("check-config", help="validate and print the resolved settings")
    commands.add_parser("send-test-event", help="send one event to the configured DSN")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.host, args.port)
    if args.command == "check-config":
        return check_config()
    return send_test_event()


if __name__ == "__main__":
    sys.exit(main())
