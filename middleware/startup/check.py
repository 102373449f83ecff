"""What the layer would do with this process's SENTRY_* variables, for any app.

`python -m middleware check` prints it; a service's own check (Booty's
`check-config`) adds what it passes in code. Nothing printed holds a DSN's key.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

from middleware.config import ConfigError, SentryConfig, load_sentry_config, redact_dsn
from middleware.startup.options import FRAMEWORK_INTEGRATIONS, HOOKS

EX_OK = 0
EX_CONFIG = 78  # sysexits.h


def describe_config(
    config: SentryConfig,
    *,
    in_app_include: Iterable[str] = (),
    secret_env: Iterable[str] = (),
    sdk_options: Mapping[str, object] | None = None,
    service: str | None = None,
) -> list[str]:
    """One `name: value` line per thing the layer would do, the code's options included."""
    s = config.settings
    code = dict(sdk_options or {})
    in_app = sorted({*in_app_include, *s.in_app_packages})
    hooks = [name for name in HOOKS if code.get(name) is not None]
    others = sorted(name for name in code if name not in HOOKS)
    disabled = ", ".join(module for module, _ in FRAMEWORK_INTEGRATIONS)
    sources = s.trusted_trace_sources
    default_sources = "none" if config.production else "*"
    return [
        f"sentry: {config.mode}",
        f"environment: {s.environment}",
        f"release: {s.release or '(none)'}",
        f"dsn: {redact_dsn(s.dsn_value)}",
        f"sample_rate: {s.sample_rate}",
        f"traces_sample_rate: {s.traces_sample_rate}",
        f"profiles_sample_rate: {s.profiles_sample_rate}",
        f"send_default_pii: {str(s.send_default_pii).lower()}",
        f"shutdown_timeout: {s.shutdown_timeout}",
        f"storm_limit: {s.storm_limit} per {s.storm_window}s",
        f"storm_ceiling: {s.storm_ceiling or '(none)'}",
        f"local_variables: {s.local_variables}",
        f"in_app_include: {','.join(in_app) or '(none)'}",
        f"worker_monitor: {s.worker_monitor or service or '(the name given to WorkerMonitor)'}",
        f"enable_logs: {str(s.enable_logs).lower()}",
        f"local_logs_client_address: {str(s.local_logs_client_address).lower()}",
        f"trusted_trace_sources: {sources or f'{default_sources} (the default)'}",
        f"auto_session_tracking: {str(s.auto_session_tracking).lower()}",
        f"spotlight: {str(s.spotlight).lower() if isinstance(s.spotlight, bool) else 'set'}",
        f"secret_env: {', '.join(secret_env) or '(none)'} (and the DSN's key)",
        "integrations: the sdk's defaults and those of the installed libraries, "
        f"but for {disabled} (the request layer does their work)",
        f"hooks in code: {', '.join(hooks) or '(none)'} (then the layer's scrubbing)",
        f"sdk options in code: {', '.join(others) or '(none)'}",
    ]


def refuse(exc: ConfigError, prog: str, out: TextIO) -> int:
    for problem in exc.problems:
        print(f"{prog}: configuration error: {problem}", file=out)
    print(f"{prog}: refusing to start (exit {EX_CONFIG})", file=out)
    return EX_CONFIG


def check(prog: str = "middleware", out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Print what the layer would do, or why it would refuse to start (exit 78)."""
    try:
        config = load_sentry_config()
    except ConfigError as exc:
        print("sentry: refused", file=out)
        return refuse(exc, prog, err)
    for line in config.warnings():
        print(f"warning: {line}", file=out)
    for line in describe_config(config):
        print(line, file=out)
    return EX_OK
