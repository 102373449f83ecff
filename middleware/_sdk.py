"""The one module that touches sentry-sdk beyond its documented API.

Everything else in `middleware/` uses `sentry_sdk`'s top-level functions, its
`types`, `transport.Transport`, `scrubber`, `crons` and the logging
integration's `ignore_logger`, which the sdk documents. What it does not
document lives here, each name with a contract test in
tests/middleware/test_sdk.py, so that an sdk upgrade breaks this file loudly
instead of six modules quietly.
"""

from __future__ import annotations

import inspect
import logging
import math
import sys
from collections import deque
from collections.abc import Callable, Collection, Mapping
from contextvars import Token
from copy import deepcopy
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import sentry_sdk
from sentry_sdk import consts
from sentry_sdk import integrations as _integrations
from sentry_sdk import scope as _scope
from sentry_sdk import serializer as _serializer
from sentry_sdk import utils as _utils
from sentry_sdk._types import AnnotatedValue
from sentry_sdk.client import BaseClient, NonRecordingClient
from sentry_sdk.consts import DEFAULT_ADD_FULL_STACK, EndpointType
from sentry_sdk.envelope import Envelope, Item
from sentry_sdk.integrations import Integration
from sentry_sdk.integrations._wsgi_common import _filter_headers
from sentry_sdk.integrations.logging import EventHandler, LoggingIntegration
from sentry_sdk.scope import Scope, _current_scope, _isolation_scope
from sentry_sdk.serializer import MAX_DATABAG_BREADTH, MAX_DATABAG_DEPTH, serialize
from sentry_sdk.tracing import Span, Transaction, TransactionSource
from sentry_sdk.tracing_utils import PropagationContext, has_tracing_enabled
from sentry_sdk.transport import HttpTransport
from sentry_sdk.types import Event, Hint
from sentry_sdk.utils import (
    MAX_STACK_FRAMES,
    BadDsn,
    Dsn,
    capture_internal_exceptions,
    event_from_exception,
    format_timestamp,
    iter_stacks,
    safe_repr,
    serialize_frame,
    set_in_app_in_frames,
    should_hide_frame,
    single_exception_from_error_tuple,
    strip_string,
)

__all__ = [
    "MAX_STACK_FRAMES",
    "AnnotatedValue",
    "BadDsn",
    "BaseClient",
    "Dsn",
    "EventHandler",
    "LoggingIntegration",
    "ScopeTokens",
    "Span",
    "Transaction",
    "TransactionSource",
    "active_client",
    "attach",
    "attached",
    "auto_integrations_found",
    "can_record",
    "capture_internal_exceptions",
    "drop_disabled_integrations",
    "event_from_exception",
    "exception_value",
    "filter_headers",
    "fork_scopes",
    "frame_template",
    "frames_from_code_alone",
    "handle_response",
    "has_tracing_enabled",
    "hidden_by_code",
    "http_sender",
    "inactive_client",
    "is_rate_limited",
    "iter_stacks",
    "keep_event",
    "keep_plain_parts",
    "keep_serialized",
    "mark_active_thread",
    "named",
    "parent_sampled",
    "pending_client_report",
    "pending_sessions",
    "post_envelope",
    "prepare_envelope",
    "record_lost_event",
    "restore_scopes",
    "safe_repr",
    "sdk_option_names",
    "serialize_vars",
    "session_aggregate",
    "set_in_app_in_frames",
    "set_logging_handler",
    "set_sample_rate",
    "should_hide_frame",
    "start_trace",
    "strip_string",
]


def filter_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The sdk's own header filter for request data (auth and cookies without PII)."""
    # With use_annotated_value=False every value is a plain string.
    return {k: str(v) for k, v in _filter_headers(headers, use_annotated_value=False).items()}


def sdk_option_names() -> frozenset[str]:
    """Every option `sentry_sdk.init` takes, in the installed sdk."""
    return frozenset(consts.DEFAULT_OPTIONS)


def set_logging_handler(integration: LoggingIntegration, handler: EventHandler) -> None:
    """Replace the integration's event handler: the sdk offers no hook for it."""
    integration._handler = handler


def can_record(handler: EventHandler, record: logging.LogRecord) -> bool:
    """The handler's own rule: not the sdk's own loggers, not an ignored logger."""
    return bool(handler._can_record(record))


def record_lost_event(client: BaseClient, reason: str, category: str) -> None:
    """Count a dropped event in the client reports, as the sdk does for its own drops."""
    if client.transport is not None:
        client.transport.record_lost_event(reason, data_category=category)  # type: ignore[arg-type]


def start_trace(scope: sentry_sdk.Scope, headers: Mapping[str, Any] | None) -> None:
    """Give a forked scope its own trace: the caller's (headers), else a new one.

    A forked isolation scope shares its parent's propagation context.
    """
    if headers and "sentry-trace" in headers:
        scope.generate_propagation_context(dict(headers))
    else:
        scope.set_new_propagation_context()


ScopeTokens = tuple[Token[Scope | None], Token[Scope | None]]


def active_client() -> BaseClient | None:
    """`sentry_sdk.get_client()` when it is active, else None.

    The sdk's get_client() builds a new NonRecordingClient for each call that
    finds no active client: with Sentry off, for every request.
    """
    for scope in (_current_scope.get(), _isolation_scope.get(), _scope._global_scope):
        # A scope always has a client: a NonRecordingClient until one is set.
        if scope is not None and scope.client.is_active():
            return scope.client
    return None


def fork_scopes(
    tag: tuple[str, str], processor: Callable[[Event, Hint], Event | None]
) -> tuple[Scope, Scope, ScopeTokens]:
    """What entering `sentry_sdk.isolation_scope()` does, without its context manager,
    with a breadcrumb buffer and a trace of the request's own.

    The isolation scope and the current scope are forked and made the context's;
    returns the forked isolation scope, the forked current scope, and what
    `restore_scopes` needs to put the previous ones back. The forked isolation
    scope starts with no breadcrumbs, as after `clear_breadcrumbs()` (a request's
    story starts with the request, not with the server's startup logs), and with
    a new trace, `tag` and `processor`, as `set_new_propagation_context()`,
    `set_tag()` and `add_event_processor()` would leave it: written here, in the
    fork's own containers, rather than by three more calls on every request.
    """
    # The context's scopes as get_current_scope() and get_isolation_scope() find
    # them, without their calls when there are some.
    parent = _current_scope.get()
    current = _fork(Scope.get_current_scope() if parent is None else parent, breadcrumbs=True)
    parent = _isolation_scope.get()
    isolation = _fork(Scope.get_isolation_scope() if parent is None else parent, breadcrumbs=False)
    isolation._propagation_context = PropagationContext()
    isolation._tags[tag[0]] = tag[1]
    isolation._event_processors.append(processor)
    return isolation, current, (_current_scope.set(current), _isolation_scope.set(isolation))


# Scope's slots as `_fork` copies them: an sdk whose Scope has any other set
# forks with its own `__copy__`.
_FORKED_SLOTS = frozenset(
    {
        "_attachments",
        "_attributes",
        "_breadcrumbs",
        "_contexts",
        "_error_processors",
        "_event_processors",
        "_extras",
        "_fingerprint",
        "_flags",
        "_force_auto_session_tracking",
        "_gen_ai_conversation_id",
        "_gen_ai_original_message_count",
        "_last_event_id",
        "_level",
        "_n_breadcrumbs_truncated",
        "_name",
        "_profile",
        "_propagation_context",
        "_server_segment_span",
        "_session",
        "_should_capture",
        "_span",
        "_tags",
        "_transaction",
        "_transaction_info",
        "_type",
        "_user",
        "client",
    }
)
_FORK_BY_HAND = frozenset(Scope.__slots__) == _FORKED_SLOTS


def _fork(scope: Scope, *, breadcrumbs: bool) -> Scope:
    """`Scope.__copy__`, written out for the request path.

    The sdk's copy goes through `copy.copy` for the breadcrumbs and
    `copy.deepcopy` for the feature flags even when there are none, on every
    request and for both scopes. Without breadcrumbs
    the copy gets an empty buffer, as `clear_breadcrumbs()` leaves one.
    """
    if not _FORK_BY_HAND:
        rv = scope.__copy__()
        if not breadcrumbs:
            rv.clear_breadcrumbs()
        return rv
    rv = object.__new__(Scope)
    rv._type = scope._type
    rv.client = scope.client
    rv._level = scope._level
    rv._name = scope._name
    rv._fingerprint = scope._fingerprint
    rv._transaction = scope._transaction
    rv._transaction_info = scope._transaction_info.copy()
    rv._user = scope._user
    rv._tags = scope._tags.copy()
    rv._contexts = scope._contexts.copy()
    rv._extras = scope._extras.copy()
    if breadcrumbs:
        rv._breadcrumbs = scope._breadcrumbs.copy()
        rv._n_breadcrumbs_truncated = scope._n_breadcrumbs_truncated
    else:
        rv._breadcrumbs = deque()
        rv._n_breadcrumbs_truncated = 0
    rv._gen_ai_original_message_count = scope._gen_ai_original_message_count.copy()
    rv._event_processors = scope._event_processors.copy()
    rv._error_processors = scope._error_processors.copy()
    rv._propagation_context = scope._propagation_context
    rv._should_capture = scope._should_capture
    rv._span = scope._span
    rv._server_segment_span = scope._server_segment_span  # type: ignore[attr-defined,unused-ignore]
    rv._session = scope._session
    rv._force_auto_session_tracking = scope._force_auto_session_tracking
    rv._attachments = scope._attachments.copy()
    rv._profile = scope._profile
    rv._last_event_id = scope._last_event_id
    flags = scope._flags
    rv._flags = None if flags is None else deepcopy(flags)
    rv._attributes = scope._attributes.copy()
    rv._gen_ai_conversation_id = scope._gen_ai_conversation_id
    return rv


def restore_scopes(tokens: ScopeTokens) -> None:
    """What leaving `sentry_sdk.isolation_scope()` does: the scopes before the fork return.

    Called in the context `fork_scopes` ran in (a token from another context raises).
    """
    _current_scope.reset(tokens[0])
    _isolation_scope.reset(tokens[1])


def named(scope: Scope) -> bool:
    """Whether a transaction name (or its source) was set on `scope` or the scope it forked."""
    return scope._transaction is not None or bool(scope._transaction_info)


def drop_disabled_integrations(client: BaseClient) -> None:
    """Turn off, on `client`, the integrations its `disabled_integrations` names.

    The sdk sets an integration up once per process and enables it on every
    later client that asks for it; one an earlier client set up stays enabled
    even when a later client disables it (a process whose first client used the
    defaults: a test suite, a script that called `sentry_sdk.init()`). Its
    patches read `client.get_integration()` at each call, so this turns them off.
    """
    for disabled in client.options.get("disabled_integrations") or ():
        client.integrations.pop(disabled.identifier, None)


def auto_integrations_found() -> list[type[Integration]] | None:
    """The auto-enabling integrations an earlier init in this process set up, else None.

    At each init the sdk imports every auto-enabling integration's module to
    find the libraries the process has. A module whose library is missing
    raises and is imported anew at the next init: forty-odd modules, most of
    the time an init takes, at every lifespan start of a test suite. After one
    init has looked, the outcome is in the sdk's own record: the modules that
    imported are loaded, and the integrations that set up are installed; one
    that did not cannot be set up later, the sdk sets each up once. The
    Starlette integration's module always imports where the layer runs (the
    layer needs Starlette), so its identifier among the processed ones says an
    init has looked. None: none has, or a module loaded since then has not been
    set up yet; the init must look itself.
    """
    processed = _integrations._processed_integrations
    if "starlette" not in processed:
        return None
    found: list[type[Integration]] = []
    for path in _integrations._AUTO_ENABLING_INTEGRATIONS:
        module_name, name = path.rsplit(".", 1)
        module = sys.modules.get(module_name)
        if module is None:
            continue
        integration: type[Integration] = getattr(module, name)
        if integration.identifier not in processed:
            return None
        if integration.identifier in _integrations._installed_integrations:
            found.append(integration)
    return found


def mark_active_thread() -> None:
    """Tell the request's transaction and profile that this thread runs it.

    Both take the thread that started them, the event loop's; a sync endpoint
    runs on a threadpool thread (what the stock integrations' wrapper does).
    """
    transaction = sentry_sdk.get_current_scope().transaction
    if transaction is not None:
        transaction.update_active_thread()
    profile = sentry_sdk.get_isolation_scope().profile
    if profile is not None:
        profile.update_active_thread_id()


def parent_sampled(scope: sentry_sdk.Scope) -> bool | None:
    """The incoming trace's sampling decision, if the caller sent one."""
    sampled: bool | None = scope.get_active_propagation_context().parent_sampled
    return sampled


def set_sample_rate(scope: sentry_sdk.Scope, transaction: Transaction, rate: float) -> None:
    """Record `rate` as the rate a transaction sampled here was sampled at.

    A transaction given `sampled=True` is recorded by the sdk as sampled at 1.0,
    in its dynamic sampling context too: Sentry would then count each such
    transaction once instead of 1/rate times. This writes the sample rate where
    `Scope.start_transaction` writes it when it rolls the dice itself.
    """
    transaction.sample_rate = rate
    for baggage in (scope.get_active_propagation_context().baggage, transaction._baggage):
        if baggage is not None:
            baggage.sentry_items["sample_rate"] = str(rate)


def session_aggregate(
    client: BaseClient, attrs: tuple[tuple[str, str], ...], minute: int
) -> dict[str, Any]:
    """The sdk's own aggregate of request-mode sessions for `attrs` and a minute, to count into.

    `attrs` is the sdk's key (sorted release and environment) and `minute` the
    Unix minute the sessions started. The dict maps "exited", "errored" and
    "crashed" to counts, as add_aggregate_session fills it; the sdk's flusher
    sends it each minute and on flush() and close(), then starts a new
    pending_aggregates (see pending_sessions).
    """
    flusher = client.session_flusher  # type: ignore[attr-defined]  # a Client, never the base
    with flusher._aggregate_lock:
        states = flusher.pending_aggregates.setdefault(attrs, {})
        state: dict[str, Any] | None = states.get(minute)
        if state is None:
            started = datetime.fromtimestamp(minute * 60, UTC)
            state = states[minute] = {"started": format_timestamp(started)}
    flusher._ensure_running()
    return state


def pending_sessions(client: BaseClient) -> object:
    """The sdk's current pending aggregates: a new object once it has sent the previous ones."""
    pending: object = client.session_flusher.pending_aggregates  # type: ignore[attr-defined]
    return pending


def exception_value(
    exc: BaseException, options: dict[str, Any], mechanism: dict[str, Any]
) -> dict[str, Any]:
    """The sdk's entry for `exc` in an event's exception values, without its stack trace.

    Type, module, message (with notes), mechanism and errno, as event_from_exception
    writes them for each exception of a chain that is not an exception group.
    """
    value: dict[str, Any] = single_exception_from_error_tuple(
        type(exc), exc, None, client_options=options, mechanism=mechanism
    )
    return value


def frame_template(frame: FrameType) -> dict[str, Any]:
    """The sdk's frame for `frame`'s code, without its line, source context and locals."""
    template: dict[str, Any] = serialize_frame(
        frame, include_local_variables=False, include_source_context=False
    )
    del template["lineno"]
    return template


_HIDING_LOCALS = ("__traceback_hide__", "__tracebackhide__")


def hidden_by_code(frame: FrameType) -> bool | None:
    """should_hide_frame's answer for every frame of `frame`'s code and module, if it has one.

    None: it depends on the frame's locals. A function's locals are the names its
    code declares, so a function that declares neither hiding variable is never
    hidden by one; reading `f_locals` builds a dict of every local of every frame,
    which was most of what the sdk's walk over a traceback cost.
    """
    module = frame.f_globals.get("__name__")
    if isinstance(module, str) and module.startswith("sentry_sdk."):
        return True
    code = frame.f_code
    if code.co_flags & inspect.CO_OPTIMIZED:
        names = (*code.co_varnames, *code.co_cellvars, *code.co_freevars)
        if not any(name in names for name in _HIDING_LOCALS):
            return False
    return None


def frames_from_code_alone(options: dict[str, Any]) -> bool:
    """Whether the sdk builds an exception's frames from the include_* options alone.

    Not when `data_collection` decides what frames carry, nor when `add_full_stack`
    merges the calling stack into them.
    """
    # Older sdks have no data_collection option: their frames follow include_* alone.
    data_collection = getattr(_utils, "has_data_collection_enabled", None)
    if data_collection is not None and data_collection(options):
        return False
    return not options.get("add_full_stack", DEFAULT_ADD_FULL_STACK)


def serialize_vars(
    local_variables: dict[str, Any],
    *,
    max_value_length: int | None,
    custom_repr: Any = None,
) -> Any:
    """A frame's locals as the sdk sends them: its depth, breadth and length limits, safe_repr."""
    return serialize(
        local_variables,
        is_vars=True,
        custom_repr=custom_repr,
        max_value_length=max_value_length,
    )


class _Serialized(dict[str, Any]):
    # `__sentry_repr__` is the serializer's hook for an object's own form: the
    # client's walk over the event returns it as is instead of visiting each node.
    def __sentry_repr__(self) -> dict[str, Any]:
        return dict(self)


def keep_serialized(part: Mapping[str, Any]) -> dict[str, Any]:
    """An event part already in its wire form, which the client's serializer keeps as is."""
    return _Serialized(part)


class _WholeEvent(dict[str, Any]):
    # The serializer calls `__sentry_repr__` on the event itself before visiting
    # any of its parts: the parts already in wire form are then passed along here
    # instead of as one node each, and the rest go through the serializer after all.
    serialize_options: dict[str, Any]
    # Parts added by the scope's processors that this event is sent without.
    left_out: frozenset[str]

    def __sentry_repr__(self) -> dict[str, Any]:
        max_length = self.serialize_options.get("max_value_length")
        left_out = self.left_out
        kept: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for name, part in self.items():
            kind = type(part)
            if name in left_out:
                continue
            if kind is _Serialized:
                kept[name] = dict(part)
            elif kind is datetime:
                kept[name] = format_timestamp(part)
            elif (kind is str and _short(part, max_length)) or (
                part is None or kind is int or kind is bool
            ):
                kept[name] = part
            elif kind is dict and _flat(part, max_length):
                kept[name] = dict(part)
            else:
                rest[name] = part
        if rest:
            # Last: a nested serialize() ends by turning the sdk's capture guard off.
            kept.update(serialize(rest, **self.serialize_options))
        return kept


def keep_event(
    event: Mapping[str, Any], options: Mapping[str, Any], *, left_out: Collection[str] = ()
) -> dict[str, Any]:
    """`event`, to hand to the client: serialised part by part, not node by node.

    The client serialises an event with the options it was given, as this does
    with `options`. What the scope, its processors and the client add to the
    event (the installed modules, request data, the scrubber's replacements) is
    still serialised here, each part in wire form passed along as it is: the
    serializer's visit of each top-level part cost more than this look at it.
    The parts named in `left_out` are not sent, whoever added them: the
    serializer runs after the scope's processors and before `before_send`.
    """
    whole = _WholeEvent(event)
    whole.left_out = frozenset(left_out)
    whole.serialize_options = {
        "max_request_body_size": options.get("max_request_body_size"),
        "max_value_length": options.get("max_value_length"),
        "custom_repr": options.get("custom_repr"),
    }
    return whole


def _flat(part: dict[Any, Any], max_length: int | None) -> bool:
    # The installed modules, and transaction_info: its source is a str enum, which
    # the serializer returns as it is.
    for key, value in part.items():
        if type(key) is not str:
            return False
        kind = type(value)
        if (kind is not str and kind is not TransactionSource) or not _short(value, max_length):
            return False
    return True


def _short(text: str, max_length: int | None) -> bool:
    # At most 4 bytes a character: most strings need no encoding to be measured.
    return max_length is None or len(text) * 4 <= max_length or len(text.encode()) <= max_length


# Event parts the client's serializer walks without limits ("request" only without
# a body), and the one it trims as a databag at the top.
_OPEN_PARTS = ("contexts", "tags", "user", "sdk", "transaction_info", "request")
_DATABAG_PARTS = ("extra",)
# Deeper than this, a part is left to the serializer (and its cycle guard), and
# larger than this too: the look must cost far less than the walk it saves,
# whatever the event holds.
_PLAIN_DEPTH = 32
_PLAIN_NODES = 2_000


def keep_plain_parts(event: dict[str, Any], *, max_value_length: int | None) -> None:
    """Mark the event's parts that the client's serializer would return unchanged.

    A part made only of dicts with str keys, lists, str, int, bool, finite floats
    and None, within the serializer's limits for where it sits, comes out of the
    serializer equal to itself: it is kept as is, and the serializer's walk (a few
    microseconds a node) is skipped. Anything else is left to the serializer.
    """
    for name in _OPEN_PARTS:
        part = event.get(name)
        if (
            type(part) is dict
            and not (name == "request" and "data" in part)
            and _Plain(max_value_length).check(part, None, 0)
        ):
            event[name] = _Serialized(part)
    if _serializer.global_repr_processors:
        return  # they may turn any databag value into something else
    for name in _DATABAG_PARTS:
        part = event.get(name)
        if type(part) is dict and _Plain(max_value_length).check(part, MAX_DATABAG_DEPTH, 0):
            event[name] = _Serialized(part)
    crumbs = _plain_breadcrumbs(event.get("breadcrumbs"), max_value_length)
    if crumbs is not None:
        event["breadcrumbs"] = _Serialized(crumbs)


def _plain_breadcrumbs(crumbs: Any, max_value_length: int | None) -> dict[str, Any] | None:
    """The breadcrumbs in wire form, if each one is a plain databag; else None.

    Each one's datetime timestamp is formatted as the serializer formats it, in a
    new dict: the scope keeps its own.
    """
    if type(crumbs) is not dict or len(crumbs) != 1 or type(crumbs.get("values")) is not list:
        return None
    look = _Plain(max_value_length)
    kept = []
    for crumb in crumbs["values"]:
        if type(crumb) is not dict:
            return None
        stamp = crumb.get("timestamp")
        if type(stamp) is datetime:
            crumb = {**crumb, "timestamp": format_timestamp(stamp)}
        if not look.check(crumb, MAX_DATABAG_DEPTH, 0):
            return None
        kept.append(crumb)
    return {"values": kept}


class _Plain:
    """One part's look, with its own bound on the nodes it reads."""

    def __init__(self, max_length: int | None) -> None:
        self.max_length = max_length
        self.nodes = _PLAIN_NODES

    def check(self, value: Any, depth: int | None, level: int) -> bool:
        """`depth`: what the serializer has left of a databag's depth here (None: no limit)."""
        if depth is not None and depth <= 0:
            return False
        kind = type(value)
        if kind is not dict and kind is not list:
            return self._scalar(value, kind)
        self.nodes -= len(value)
        if self.nodes < 0 or level >= _PLAIN_DEPTH:
            return False
        if depth is not None and len(value) > MAX_DATABAG_BREADTH:
            return False
        below = None if depth is None else depth - 1
        if below is not None and below <= 0 and value:
            return False  # every item would be cut
        # Loops, not all() over a generator: this look runs on every event.
        if kind is dict:
            for key in value:
                if type(key) is not str:
                    return False
            items = value.values()
        else:
            items = value
        longest = self.max_length
        for item in items:
            kind = type(item)
            if kind is str:
                # At most 4 bytes a character: most strings need no encoding to be measured.
                if (
                    longest is not None
                    and len(item) * 4 > longest
                    and len(item.encode()) > longest
                ):
                    return False
            elif kind is dict or kind is list:
                if not self.check(item, below, level + 1):
                    return False
            elif not self._scalar(item, kind):
                return False
        return True

    def _scalar(self, value: Any, kind: type) -> bool:
        if kind is str:
            return self.max_length is None or len(value.encode()) <= self.max_length
        if value is None or kind is int or kind is bool:
            return True
        if kind is float:
            return math.isfinite(value)  # inf and nan are sent as their repr
        return False


# Our own attribute on the sdk's client object: the sdk offers no slot for an
# integration's per-client state, and a registry keyed by client would be
# module state. The client lives exactly as long as what hangs on it.
_RUNTIME_ATTRIBUTE = "_middleware_runtime"


def attached(client: BaseClient) -> Any:
    """What `attach` put on `client`, or None."""
    return getattr(client, _RUNTIME_ATTRIBUTE, None)


def attach(client: BaseClient, value: object) -> None:
    setattr(client, _RUNTIME_ATTRIBUTE, value)


def inactive_client() -> BaseClient:
    """A client that sends nothing, as the global scope holds before sentry_sdk.init."""
    return NonRecordingClient()


class _Sender(HttpTransport):
    """The sdk's HTTP transport as a sender only: its pool, rate limits and client reports."""

    connections = 1

    def _get_pool_options(self) -> dict[str, Any]:
        options: dict[str, Any] = super()._get_pool_options()
        # urllib3 keeps one connection per host by default: a second sending
        # thread would open and discard one for every envelope.
        options["maxsize"] = self.connections
        return options


def http_sender(options: dict[str, Any], connections: int) -> HttpTransport:
    """An HttpTransport whose pool keeps `connections` connections to Sentry."""
    sender: type[_Sender] = type("HttpSender", (_Sender,), {"connections": connections})
    # gzip at level 1, unless the app chose a level: the sdk's 9 (or brotli) costs
    # several times the CPU for a few percent fewer bytes, and each sender's
    # compression competes with the event loop for the interpreter lock.
    experiments = options.get("_experiments") or {}
    if "transport_compression_level" not in experiments:
        options = {**options, "_experiments": {**experiments, "transport_compression_level": 1}}
    return sender(options)


def prepare_envelope(
    sender: HttpTransport, envelope: Envelope
) -> tuple[Envelope, bytes, dict[str, str]] | None:
    """What the sdk would send: rate-limited items dropped (and counted), a pending
    client report added, the body compressed; None when nothing is left to send."""
    prepared = sender._prepare_envelope(envelope)
    if prepared is None:
        return None
    envelope, body, headers = prepared
    return envelope, body.getvalue(), headers


def post_envelope(sender: HttpTransport, body: bytes, headers: dict[str, str]) -> Any:
    """POST a prepared envelope with the sdk's auth header; raises on a network error."""
    sender._update_headers(headers)
    return sender._request("POST", EndpointType.ENVELOPE, body, headers)


def handle_response(sender: HttpTransport, response: Any, envelope: Envelope) -> None:
    """The sdk's reading of Sentry's answer: rate limits, and losses for a 4xx or 5xx."""
    try:
        sender._handle_response(response=response, envelope=envelope)
    finally:
        response.close()


def is_rate_limited(sender: HttpTransport, category: str) -> bool:
    """Whether Sentry asked for no more of `category` (or of anything) for now."""
    return bool(sender._check_disabled(category))


def pending_client_report(sender: HttpTransport, *, force: bool) -> Item | None:
    """The counted losses as a client report item, when one is due (or `force`)."""
    item: Item | None = sender._fetch_pending_client_report(force=force, interval=60)
    return item
