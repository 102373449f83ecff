"""The sdk's own options given in code, composed with the layer's.

An app that moves from `sentry_sdk.init(...)` keeps its hooks and integrations.
Its hooks run first and the layer's scrubbing last, on whatever they returned,
so nothing a hook adds leaves unscrubbed. What a SENTRY_* variable configures
is refused in code: it is validated, and refused in production, from the
environment only.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Generic, TypedDict, TypeVar, cast

import sentry_sdk
from sentry_sdk.integrations import DidNotEnable, Integration
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint, Log

from middleware._runtime import runtime_of
from middleware._sdk import sdk_option_names


class SdkOptions(TypedDict, total=False):
    """The sdk options an app may give in code (`sentry_sdk.init`'s, minus SENTRY_*'s)."""

    integrations: Sequence[Integration]
    disabled_integrations: Sequence[type[Integration] | Integration]
    default_integrations: bool
    auto_enabling_integrations: bool
    before_send: Callable[[Event, Hint], Event | None] | None
    before_send_transaction: Callable[[Event, Hint], Event | None] | None
    before_breadcrumb: Callable[[Breadcrumb, BreadcrumbHint], Breadcrumb | None] | None
    before_send_log: Callable[[Log, Hint], Log | None] | None
    error_sampler: Callable[[Event, Hint], float | bool] | None
    ignore_errors: Sequence[type[BaseException] | str]
    max_breadcrumbs: int
    attach_stacktrace: bool
    include_source_context: bool
    in_app_exclude: Sequence[str]
    max_value_length: int
    server_name: str
    dist: str
    debug: bool
    trace_propagation_targets: Sequence[str] | None
    functions_to_trace: Sequence[dict[str, str]]
    http_proxy: str
    https_proxy: str
    ca_certs: str
    keep_alive: bool


# Options whose value comes from a validated variable, never from code.
FROM_ENVIRONMENT = MappingProxyType(
    {
        "dsn": "SENTRY_DSN",
        "environment": "SENTRY_ENVIRONMENT",
        "release": "SENTRY_RELEASE",
        "sample_rate": "SENTRY_SAMPLE_RATE",
        "traces_sample_rate": "SENTRY_TRACES_SAMPLE_RATE",
        "enable_tracing": "SENTRY_TRACES_SAMPLE_RATE",
        "profiles_sample_rate": "SENTRY_PROFILES_SAMPLE_RATE",
        "send_default_pii": "SENTRY_SEND_DEFAULT_PII",
        "data_collection": "SENTRY_SEND_DEFAULT_PII",
        "shutdown_timeout": "SENTRY_SHUTDOWN_TIMEOUT",
        "spotlight": "SENTRY_SPOTLIGHT",
        "include_local_variables": "SENTRY_LOCAL_VARIABLES",
        "enable_logs": "SENTRY_ENABLE_LOGS",
    }
)
# Options the layer sets itself, with why an app cannot replace them.
OWNED = MappingProxyType(
    {
        "event_scrubber": "the layer scrubs every event itself; add a before_send",
        "transport": "pass transport= to SentryLifespan or init_sentry",
        "in_app_include": "pass in_app_include= or set SENTRY_IN_APP_INCLUDE",
        "traces_sampler": "pass traces_sampler= to SentryLifespan or init_sentry",
        "max_request_body_size": "pass max_request_body_size= to instrument()",
    }
)
# The request layer does the work of the sdk's ASGI framework integrations, which
# would patch the framework, capture each error a second time and start a second
# transaction per request. Each is (module under sentry_sdk.integrations, class).
FRAMEWORK_INTEGRATIONS = (
    ("starlette", "StarletteIntegration"),
    ("fastapi", "FastApiIntegration"),
    ("litestar", "LitestarIntegration"),
    ("starlite", "StarliteIntegration"),
    ("quart", "QuartIntegration"),
)
# The layer's own LoggingIntegration holds error records back until the request ends.
OWN_INTEGRATIONS = frozenset({"logging"})
HOOKS = ("before_send", "before_send_transaction", "before_breadcrumb", "before_send_log")

T = TypeVar("T")
H = TypeVar("H")


class Then(Generic[T, H]):
    """The app's hook, then the layer's on what the app's returned."""

    def __init__(
        self, first: Callable[[T, H], T | None], then: Callable[[T, H], T | None]
    ) -> None:
        self.first = first
        self.then = then

    def __call__(self, item: T, hint: H) -> T | None:
        returned = self.first(item, hint)
        return None if returned is None else self.then(returned, hint)


def check_sdk_options(options: Mapping[str, object]) -> None:
    """TypeError naming each option that is not the sdk's or belongs to SENTRY_* or the layer."""
    known = sdk_option_names()
    problems: list[str] = []
    for name in options:
        if name in FROM_ENVIRONMENT:
            problems.append(f"{name} is set by {FROM_ENVIRONMENT[name]}, not in code")
        elif name in OWNED:
            problems.append(f"{name}: {OWNED[name]}")
        elif name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"{name} is not a sentry-sdk option{hint}")
    framework = {module for module, _ in FRAMEWORK_INTEGRATIONS} | OWN_INTEGRATIONS
    for integration in _sequence(options.get("integrations")):
        identifier = getattr(integration, "identifier", None)
        if identifier in framework:
            problems.append(
                f"integrations: {type(integration).__name__} is replaced by the layer "
                "(docs/migrating.md)"
            )
    if problems:
        raise TypeError("; ".join(problems))


def _sequence(value: object) -> Sequence[Any]:
    return value if isinstance(value, Sequence) else ()


def framework_integrations(*, loaded: bool = False) -> Iterator[type[Integration]]:
    """The sdk's ASGI framework integrations whose framework is installed.

    `loaded`: only those already imported, once an init has looked for them
    all (one whose framework is missing would be imported again to find out).
    """
    for module, name in FRAMEWORK_INTEGRATIONS:
        path = f"sentry_sdk.integrations.{module}"
        try:
            found = sys.modules.get(path) if loaded else importlib.import_module(path)
        except (DidNotEnable, ImportError):
            continue
        if found is not None:
            yield getattr(found, name)


def compose(layer: dict[str, Any], app: Mapping[str, object]) -> dict[str, Any]:
    """The layer's options with the app's: hooks chained (the layer's last), lists joined."""
    check_sdk_options(app)
    options = dict(layer)
    for name, value in app.items():
        if name in HOOKS:
            # None is the sdk's "no hook": the layer's own stays.
            if value is not None:
                hook = cast(Callable[[Any, Any], Any], value)
                mine = options.get(name)
                options[name] = hook if mine is None else Then(hook, mine)
        elif name == "integrations":
            options[name] = [*_sequence(value), *options.get(name, ())]
        elif name == "disabled_integrations":
            options[name] = [*options.get(name, ()), *_sequence(value)]
        else:
            options[name] = value
    return options


def refuse_foreign_client() -> None:
    """RuntimeError when the app's own sentry_sdk.init() already runs the process's client.

    Starting the layer's would replace it, and with it the app's hooks and
    environment, with no word said.
    """
    client = sentry_sdk.get_client()
    if not client.is_active() or runtime_of(client) is not None:
        return
    given = [name for name in HOOKS if client.options.get(name) is not None]
    hooks = f", with {', '.join(given)}" if given else ""
    raise RuntimeError(
        "sentry_sdk.init() already ran in this process "
        f"(environment {client.options.get('environment')!r}{hooks}): the layer starts the "
        "sdk itself and will not replace the app's client. Remove that call and give its "
        "options to SentryLifespan(...) or init_sentry(...), and SENTRY_* for the rest "
        "(docs/migrating.md)"
    )
