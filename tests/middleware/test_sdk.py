"""Contract tests for middleware/_sdk.py: what the layer relies on in sentry-sdk's internals.

Each test pins one behaviour of one name, so an sdk upgrade that moves it fails here,
by name, before anything else.
"""

from __future__ import annotations

import contextvars
import gzip
import logging
import sys
import threading
from datetime import UTC, datetime
from types import FrameType, FunctionType
from typing import Any

import pytest
import sentry_sdk
from hypothesis import given, settings
from hypothesis import strategies as st
from sentry_sdk.envelope import Envelope
from sentry_sdk.serializer import serialize
from sentry_sdk.transport import HttpTransport
from sentry_sdk.types import Event, Hint

from middleware import _sdk
from tests.support import FAKE_DSN, CapturingTransport, EnvelopeServer, free_port


def _client(transport: CapturingTransport, **options: object) -> sentry_sdk.Client:
    """A client on the global scope; without integrations unless `options` name some,
    as the sdk's Starlette integration would patch Starlette for every later test."""
    options.setdefault("default_integrations", False)
    client = sentry_sdk.Client(FAKE_DSN, transport=transport, **options)  # type: ignore[arg-type]
    sentry_sdk.get_global_scope().set_client(client)
    return client


def _unset(transport: CapturingTransport) -> sentry_sdk.Client:
    """A client without integrations, set on no scope."""
    return sentry_sdk.Client(FAKE_DSN, transport=transport, default_integrations=False)


def _options(**options: object) -> dict[str, Any]:
    """A client's resolved options, without setting up any integration (see _client)."""
    client = sentry_sdk.Client(FAKE_DSN, default_integrations=False, **options)  # type: ignore[arg-type]
    return client.options


def test_annotated_value_is_what_the_scrubber_substitutes() -> None:
    value = _sdk.AnnotatedValue.substituted_because_contains_sensitive_data()
    assert value.value == "[Filtered]"
    assert value.metadata == {"rem": [["!config", "s"]]}


def test_dsn_parses_and_rejects() -> None:
    dsn = _sdk.Dsn("https://key@example.invalid/42")
    assert (dsn.public_key, dsn.host, dsn.project_id) == ("key", "example.invalid", "42")
    with pytest.raises(_sdk.BadDsn):
        _sdk.Dsn("ftp://key@example.invalid/42")


def test_base_client_is_the_type_of_get_client() -> None:
    assert isinstance(sentry_sdk.get_client(), _sdk.BaseClient)


def test_filter_headers_filters_auth_and_cookies_without_pii() -> None:
    _client(CapturingTransport())
    headers = {"authorization": "Bearer x", "cookie": "a=b", "accept": "*/*"}
    assert _sdk.filter_headers(headers) == {
        "authorization": "[Filtered]",
        "cookie": "[Filtered]",
        "accept": "*/*",
    }


def test_logging_handler_can_be_replaced_and_asked() -> None:
    class Handler(_sdk.EventHandler):
        pass

    handler = Handler(level=logging.ERROR)
    integration = _sdk.LoggingIntegration(level=None, event_level=logging.ERROR)
    _sdk.set_logging_handler(integration, handler)
    assert integration._handler is handler
    mine = logging.LogRecord("app", logging.ERROR, __file__, 1, "x", None, None)
    sdks = logging.LogRecord("sentry_sdk.errors", logging.ERROR, __file__, 1, "x", None, None)
    assert _sdk.can_record(handler, mine)
    assert not _sdk.can_record(handler, sdks)


def test_event_from_exception_builds_an_unhandled_event() -> None:
    error = KeyError("x")
    try:
        raise error
    except KeyError as exc:
        event, hint = _sdk.event_from_exception(
            exc,
            client_options={
                "include_local_variables": True,
                "include_source_context": False,
                "max_value_length": 1024,
                "custom_repr": None,
            },
            mechanism={"type": "test", "handled": False},
        )
    (value,) = event["exception"]["values"]
    assert value["type"] == "KeyError"
    assert value["mechanism"] == {"type": "test", "handled": False}
    assert value["stacktrace"]["frames"][-1]["function"] == (
        "test_event_from_exception_builds_an_unhandled_event"
    )
    assert hint["exc_info"][1] is error


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as exc:
        return exc


def test_exception_value_is_the_sdks_entry_without_its_stack_trace() -> None:
    raised = OSError(2, "gone")
    raised.add_note("while reading the spool")
    error = _raised(raised)
    options = _options()
    mechanism = {"type": "test", "handled": False}
    event, _ = _sdk.event_from_exception(error, client_options=options, mechanism=mechanism)
    (expected,) = event["exception"]["values"]
    del expected["stacktrace"]
    value = _sdk.exception_value(error, options, mechanism)
    assert value == expected
    assert value["mechanism"]["meta"] == {"errno": {"number": 2}}
    assert value["value"] == "[Errno 2] gone\nwhile reading the spool"


def test_frame_template_is_the_sdks_frame_without_line_context_and_locals() -> None:
    error = _raised(KeyError("x"))
    options = _options()
    event, _ = _sdk.event_from_exception(error, client_options=options)
    (frame,) = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert error.__traceback__ is not None
    template = _sdk.frame_template(error.__traceback__.tb_frame)
    assert frame["lineno"] == error.__traceback__.tb_lineno
    assert "vars" in frame
    assert "context_line" in frame
    assert template == {
        k: v for k, v in frame.items() if k not in ("lineno", "vars") and "context" not in k
    }
    assert template["function"] == "_raised"


def test_frames_from_code_alone_unless_data_collection_or_full_stack() -> None:
    assert _sdk.frames_from_code_alone(_options())
    assert not _sdk.frames_from_code_alone(_options(add_full_stack=True))
    if "data_collection" in _sdk.sdk_option_names():  # newer sdks only
        collect = _options(data_collection={"frame_context_lines": False})
        assert not _sdk.frames_from_code_alone(collect)


def _frame_of_function(x: int) -> FrameType:
    return sys._getframe()


def _frame_of_hiding_function(hide: bool) -> FrameType:
    __tracebackhide__ = hide
    return sys._getframe()


class _ClassBody:
    frame = sys._getframe()  # its locals are a namespace, not declared names


def test_hidden_by_code_agrees_with_should_hide_frame_or_defers_to_it() -> None:
    function = _frame_of_function(1)
    assert _sdk.hidden_by_code(function) is False
    assert not _sdk.should_hide_frame(function)
    assert _sdk.hidden_by_code(_ClassBody.frame) is None
    globals_of_sdk = {"__name__": "sentry_sdk.client", "sys": sys}
    in_sdk = FunctionType(_frame_of_function.__code__, globals_of_sdk)(1)
    assert _sdk.hidden_by_code(in_sdk) is True
    assert _sdk.should_hide_frame(in_sdk)
    hiding, not_hiding = _frame_of_hiding_function(True), _frame_of_hiding_function(False)
    assert _sdk.hidden_by_code(hiding) is None
    assert _sdk.should_hide_frame(hiding)
    assert not _sdk.should_hide_frame(not_hiding)


def test_max_stack_frames_is_the_limit_past_which_the_sdk_sends_no_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _sdk.MAX_STACK_FRAMES == sentry_sdk.utils.MAX_STACK_FRAMES
    monkeypatch.setattr(sentry_sdk.utils, "MAX_STACK_FRAMES", 1)
    event, _ = _sdk.event_from_exception(_raised(KeyError("x")))
    assert "frames" in event["exception"]["values"][0]["stacktrace"]
    try:
        raise _raised(KeyError("y"))  # two frames: this one and _raised's
    except KeyError as exc:
        event, _ = _sdk.event_from_exception(exc)
    assert isinstance(event["exception"]["values"][0]["stacktrace"], _sdk.AnnotatedValue)


def test_strip_string_and_safe_repr() -> None:
    stripped = _sdk.strip_string("x" * 20, max_length=10)
    assert isinstance(stripped, _sdk.AnnotatedValue)
    assert stripped.value == "xxxxxxx..."
    assert _sdk.safe_repr(object()).startswith("<object object at")


def test_set_in_app_in_frames_marks_included_modules() -> None:
    frames: list[dict[str, object]] = [
        {"module": "booty.main", "abs_path": "/x/booty/main.py"},
        {"module": "other"},
    ]
    _sdk.set_in_app_in_frames(frames, [], ["booty"], None)
    assert frames[0]["in_app"] is True
    assert frames[1].get("in_app") is not True


def test_capture_internal_exceptions_swallows_and_reports(
    internal_exceptions: list[BaseException],
) -> None:
    with _sdk.capture_internal_exceptions():
        raise RuntimeError("inside the sdk's guard")
    assert [str(e) for e in internal_exceptions] == ["inside the sdk's guard"]
    internal_exceptions.clear()


def test_has_tracing_enabled_reads_the_rate() -> None:
    assert not _sdk.has_tracing_enabled({"traces_sample_rate": None, "traces_sampler": None})
    assert _sdk.has_tracing_enabled({"traces_sample_rate": 0.5, "traces_sampler": None})


def test_record_lost_event_reaches_the_client_report(envelope_server: EnvelopeServer) -> None:
    client = sentry_sdk.Client(envelope_server.dsn, send_client_reports=True)
    try:
        _sdk.record_lost_event(client, "backpressure", "error")
        client.flush(timeout=5)
        envelope_server.wait_for(lambda: bool(envelope_server.items("client_report")))
    finally:
        client.close(timeout=0)
    (report,) = envelope_server.items("client_report")
    assert report["discarded_events"] == [
        {"reason": "backpressure", "category": "error", "quantity": 1}
    ]


def test_start_trace_continues_or_starts_and_reports_parent_sampling() -> None:
    trace_id = "771a43a4192642f0b136d5159a501700"
    with sentry_sdk.isolation_scope() as scope:
        _sdk.start_trace(scope, {"sentry-trace": f"{trace_id}-1234567890abcdef-0"})
        assert scope.get_active_propagation_context().trace_id == trace_id
        assert _sdk.parent_sampled(scope) is False
    with sentry_sdk.isolation_scope() as scope:
        _sdk.start_trace(scope, None)
        assert scope.get_active_propagation_context().trace_id != trace_id
        assert _sdk.parent_sampled(scope) is None


def test_active_client_is_the_active_client_get_client_finds_else_none() -> None:
    sentry_sdk.get_global_scope().set_client(_sdk.inactive_client())
    assert _sdk.active_client() is None
    assert not sentry_sdk.get_client().is_active()
    clients = [_client(CapturingTransport())]
    assert _sdk.active_client() is clients[0] is sentry_sdk.get_client()
    with sentry_sdk.isolation_scope() as isolation:
        clients.append(_unset(CapturingTransport()))
        isolation.set_client(clients[1])
        assert _sdk.active_client() is clients[1] is sentry_sdk.get_client()
        with sentry_sdk.new_scope() as current:
            clients.append(_unset(CapturingTransport()))
            current.set_client(clients[2])
            assert _sdk.active_client() is clients[2] is sentry_sdk.get_client()
    for client in clients:
        client.close(timeout=0)


def _filled_scope() -> sentry_sdk.Scope:
    scope = sentry_sdk.Scope()
    scope.set_tag("tag", "value")
    scope.set_context("ctx", {"a": 1})
    scope.set_extra("extra", 2)
    scope.set_user({"id": "u1"})
    scope.set_transaction_name("/named")
    scope.set_level("warning")
    scope.fingerprint = ["fp"]
    scope.add_breadcrumb(message="crumb")
    scope.add_event_processor(lambda event, hint: event)
    scope.add_error_processor(lambda event, exc_info: event)
    scope.add_attachment(bytes=b"data", filename="a.txt")
    scope.set_attribute("attr", "value")
    scope.flags.set("flag", True)
    return scope


@pytest.mark.parametrize("breadcrumbs", [True, False])
def test_fork_copies_every_slot_as_the_sdks_copy_does(breadcrumbs: bool) -> None:
    """The hand-written fork and Scope.__copy__ agree slot by slot: equal values, and
    a container of the fork's own wherever the sdk's copy has one."""
    _client(CapturingTransport())
    parent = _filled_scope()
    expected, forked = parent.__copy__(), _sdk._fork(parent, breadcrumbs=breadcrumbs)
    if not breadcrumbs:
        expected.clear_breadcrumbs()
    for slot in sentry_sdk.Scope.__slots__:
        want, got = getattr(expected, slot), getattr(forked, slot)
        if slot == "_flags":
            assert got is not want and got.get() == want.get()
        else:
            assert got == want or (slot == "_breadcrumbs" and list(got) == list(want)), slot
        if getattr(parent, slot) is not want:  # the sdk copies this container
            assert got is not getattr(parent, slot), slot
    assert [crumb["message"] for crumb in forked._breadcrumbs] == (
        ["crumb"] if breadcrumbs else []
    )
    # Writing to the fork leaves the parent as it was.
    forked.set_tag("tag", "changed")
    forked.add_breadcrumb(message="later")
    assert parent._tags == {"tag": "value"} and len(parent._breadcrumbs) == 1


def test_fork_is_written_for_the_installed_sdks_scope() -> None:
    """Scope's slots are the ones _fork copies; with any other set the sdk's own copy runs."""
    assert frozenset(sentry_sdk.Scope.__slots__) == _sdk._FORKED_SLOTS or not _sdk._FORK_BY_HAND


def test_fork_scopes_enters_what_isolation_scope_enters_and_restore_scopes_leaves() -> None:
    transport = CapturingTransport()
    _client(transport)

    def processor(event: Event, hint: Hint) -> Event:
        event.setdefault("extra", {})["processed"] = True
        return event

    with sentry_sdk.isolation_scope() as isolation:
        current = sentry_sdk.get_current_scope()
        isolation.set_tag("outer", "isolation")
        current.set_tag("outer-current", "current")
        sentry_sdk.add_breadcrumb(message="before the fork")
        forked, forked_current, tokens = _sdk.fork_scopes(("request_id", "r1"), processor)
        assert sentry_sdk.get_isolation_scope() is forked and forked is not isolation
        assert sentry_sdk.get_current_scope() is forked_current and forked_current is not current
        forked.set_tag("inner", "isolation")
        forked_current.set_tag("inner-current", "current")
        sentry_sdk.add_breadcrumb(message="inside the fork")
        sentry_sdk.capture_message("inside")
        _sdk.restore_scopes(tokens)
        assert sentry_sdk.get_isolation_scope() is isolation
        assert sentry_sdk.get_current_scope() is current
        sentry_sdk.capture_message("after")
    inside, after = transport.events
    assert inside["tags"] == {
        "outer": "isolation",
        "outer-current": "current",
        "inner": "isolation",
        "inner-current": "current",
        "request_id": "r1",
    }
    assert inside["extra"]["processed"] is True
    assert [c["message"] for c in inside["breadcrumbs"]["values"]] == ["inside the fork"]
    # The fork has a trace of its own.
    assert inside["contexts"]["trace"]["trace_id"] != after["contexts"]["trace"]["trace_id"]
    assert after["tags"] == {"outer": "isolation", "outer-current": "current"}
    assert "processed" not in after.get("extra", {})
    assert [c["message"] for c in after["breadcrumbs"]["values"]] == ["before the fork"]


def test_named_says_whether_a_scope_has_a_transaction_name_of_its_own_or_inherited() -> None:
    scope = sentry_sdk.Scope()
    assert not _sdk.named(scope)
    assert not _sdk.named(scope.fork())
    scope.set_transaction_name("startup", source="custom")
    assert _sdk.named(scope)
    assert _sdk.named(scope.fork())


def test_set_sample_rate_is_what_the_transaction_s_trace_header_carries() -> None:
    sentry_sdk.init(traces_sample_rate=0.25)
    with sentry_sdk.isolation_scope() as scope:
        _sdk.start_trace(scope, None)
        transaction = sentry_sdk.continue_trace({}, name="t")
        transaction.sampled = True
        with sentry_sdk.start_transaction(transaction):
            assert transaction.sample_rate == 1.0  # what a forced decision records
            _sdk.set_sample_rate(sentry_sdk.get_current_scope(), transaction, 0.25)
            assert transaction.get_baggage().sentry_items["sample_rate"] == "0.25"
            assert transaction.sample_rate == 0.25


@pytest.mark.filterwarnings("ignore:Transaction-based profiling is deprecated")
def test_mark_active_thread_names_the_calling_thread_to_transaction_and_profile() -> None:
    sentry_sdk.init(traces_sample_rate=1.0, profiles_sample_rate=1.0)
    ran: list[int] = []
    with sentry_sdk.start_transaction(name="t") as transaction:
        profile = sentry_sdk.get_isolation_scope().profile
        assert profile is not None

        def worker() -> None:
            _sdk.mark_active_thread()
            ran.append(threading.get_ident())

        thread = threading.Thread(target=contextvars.copy_context().run, args=(worker,))
        thread.start()
        thread.join()
        assert transaction.get_trace_context()["data"]["thread.id"] == str(ran[0])
        assert profile.active_thread_id == ran[0]


def test_drop_disabled_integrations_turns_off_what_the_options_disable() -> None:
    from sentry_sdk.integrations.starlette import StarletteIntegration

    client = sentry_sdk.Client(FAKE_DSN, disabled_integrations=[StarletteIntegration])
    # What the sdk does when an earlier client in the process set it up.
    client.integrations["starlette"] = StarletteIntegration()
    _sdk.drop_disabled_integrations(client)
    assert client.get_integration(StarletteIntegration) is None
    assert client.get_integration("logging") is not None
    client.close(timeout=0)


def test_auto_integrations_found_are_the_auto_enabling_ones_the_sdks_own_look_enables() -> None:
    from sentry_sdk.integrations import _AUTO_ENABLING_INTEGRATIONS

    from middleware.startup.options import framework_integrations

    # The sdk looks for them at a client with its defaults; one that set the
    # framework integrations up would leave them on for the rest of the process.
    client = sentry_sdk.Client(FAKE_DSN, disabled_integrations=[*framework_integrations()])
    found = _sdk.auto_integrations_found()
    assert found is not None
    enabled = {
        name
        for name, integration in client.integrations.items()
        if f"{type(integration).__module__}.{type(integration).__name__}"
        in _AUTO_ENABLING_INTEGRATIONS
    }
    assert {integration.identifier for integration in found} == enabled
    assert {"httpx", "sqlalchemy"} <= enabled
    client.close(timeout=0)


def test_transaction_and_span_types() -> None:
    transaction = _sdk.Transaction(name="t", source=_sdk.TransactionSource.ROUTE)
    assert transaction.source == "route"
    assert issubclass(_sdk.Transaction, _sdk.Span)


def test_serialize_vars_applies_the_sdks_limits_and_repr() -> None:
    deep: dict[str, object] = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    out = _sdk.serialize_vars(
        {"text": "x" * 50, "n": 1, "wide": list(range(20)), "deep": deep},
        max_value_length=20,
    )
    assert out["n"] == "1"
    assert out["text"] == "'" + "x" * 16 + "..."
    assert len(out["wide"]) == 10
    assert out["deep"]["a"]["b"]["c"]["d"] == "{'e': {'f': 1}}"


def test_keep_serialized_parts_pass_the_client_serializer_untouched() -> None:
    transport = CapturingTransport()
    _client(transport, max_value_length=5)
    kept = _sdk.keep_serialized({"values": [{"type": "E", "value": "long text kept"}]})
    sentry_sdk.capture_event({"exception": kept, "extra": {"walked": "long text trimmed"}})  # type: ignore[typeddict-item]
    (event,) = transport.events
    assert event["exception"] == {"values": [{"type": "E", "value": "long text kept"}]}
    assert event["extra"]["walked"] == "lo..."


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=12) | st.dictionaries(st.text(max_size=6), inner, max_size=12)
    ),
    max_leaves=40,
)


_SERIALIZE = {"max_request_body_size": "medium", "max_value_length": 12, "custom_repr": None}


def _event_parts() -> dict[str, Any]:
    return {
        "level": "error",
        "event_id": "0" * 32,
        "timestamp": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "release": "r" * 20,  # trimmed
        "server_name": None,
        "count": 3,
        "flag": True,
        "ratio": float("inf"),
        "transaction_info": {"source": _sdk.TransactionSource.ROUTE},
        "tags": {"long": "t" * 20},
        "request": {"headers": {"Authorization": _sdk.AnnotatedValue("[Filtered]", {"x": 1})}},
        "extra": {"deep": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "obj": object()},
        "exception": _sdk.keep_serialized({"values": [{"type": "E", "value": "v" * 20}]}),
        "breadcrumbs": {"values": [{"timestamp": datetime(2026, 1, 2, tzinfo=UTC)}]},
    }


def test_keep_event_is_serialised_as_the_serializer_serialises_the_event() -> None:
    whole = _sdk.keep_event(_event_parts(), _SERIALIZE)
    kept = serialize(whole, **_SERIALIZE)
    walked = serialize(_event_parts(), **_SERIALIZE)
    # object() has its own address in each event.
    assert kept["extra"].pop("obj").startswith("<object")
    assert walked["extra"].pop("obj").startswith("<object")
    assert kept == walked
    assert kept["_meta"]["release"] == {"": {"len": 20, "rem": [["!limit", "x", 9, 12]]}}
    assert kept["exception"]["values"][0]["value"] == "v" * 20  # kept as it was
    assert kept["timestamp"] == "2026-01-02T03:04:05.000006Z"


def test_keep_event_leaves_out_what_it_is_told_to_whoever_added_it() -> None:
    whole = _sdk.keep_event({"level": "error"}, _SERIALIZE, left_out=("modules",))
    whole["modules"] = {"sentry-sdk": "2"}  # as the sdk's modules processor adds them
    whole["tags"] = {"a": "b"}
    assert serialize(whole, **_SERIALIZE) == {"level": "error", "tags": {"a": "b"}}
    kept = _sdk.keep_event({"level": "error", "modules": {"x": "1"}}, _SERIALIZE)
    assert serialize(kept, **_SERIALIZE)["modules"] == {"x": "1"}


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["level", "release", "tags", "extra", "n", "contexts"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=10,
        ),
    )
)
def test_keep_event_of_any_event_is_what_the_serializer_makes_of_it(event: dict[str, Any]) -> None:
    assert serialize(_sdk.keep_event(event, _SERIALIZE), **_SERIALIZE) == serialize(
        dict(event), **_SERIALIZE
    )


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from(["contexts", "tags", "user", "sdk", "request", "extra"]),
    part=st.dictionaries(st.text(max_size=6), _JSON, max_size=12),
    max_value_length=st.sampled_from([None, 8]),
)
def test_keep_plain_parts_keeps_only_what_the_serializer_returns_unchanged(
    name: str, part: dict[str, object], max_value_length: int | None
) -> None:
    event: dict[str, object] = {name: part}
    _sdk.keep_plain_parts(event, max_value_length=max_value_length)
    walked = serialize({name: part}, max_value_length=max_value_length)[name]
    if event[name] is not part:
        assert walked == part
        assert serialize(event, max_value_length=max_value_length)[name] == part


_CRUMB = st.dictionaries(st.text(max_size=6), _JSON, max_size=12)
_STAMP = st.datetimes(timezones=st.just(UTC)) | st.datetimes() | _JSON


@settings(max_examples=100, deadline=None)
@given(
    crumbs=st.lists(st.tuples(_CRUMB, st.none() | _STAMP), max_size=4),
    max_value_length=st.sampled_from([None, 8]),
)
def test_keep_plain_parts_keeps_breadcrumbs_only_as_the_serializer_sends_them(
    crumbs: list[tuple[dict[str, object], object]], max_value_length: int | None
) -> None:
    values = [crumb if stamp is None else {**crumb, "timestamp": stamp} for crumb, stamp in crumbs]
    part = {"values": values}
    event: dict[str, object] = {"breadcrumbs": part}
    _sdk.keep_plain_parts(event, max_value_length=max_value_length)
    walked = serialize({"breadcrumbs": part}, max_value_length=max_value_length)["breadcrumbs"]
    if event["breadcrumbs"] is not part:
        assert serialize(event, max_value_length=max_value_length)["breadcrumbs"] == walked
    # The scope's own breadcrumbs are left as they were.
    assert part == {"values": values}


def test_keep_plain_parts_formats_breadcrumb_timestamps_as_the_serializer_does() -> None:
    crumb = {"category": "http", "timestamp": datetime(2026, 1, 1, 12, 30, tzinfo=UTC)}
    event: dict[str, object] = {"breadcrumbs": {"values": [crumb]}}
    _sdk.keep_plain_parts(event, max_value_length=None)
    assert type(event["breadcrumbs"]) is not dict
    assert (
        serialize(event)["breadcrumbs"]
        == serialize({"breadcrumbs": {"values": [crumb]}})["breadcrumbs"]
    )
    assert crumb["timestamp"] == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "part", "max_value_length"),
    [
        ("extra", {f"k{i}": i for i in range(11)}, None),  # wider than a databag keeps
        ("extra", {"a": {"b": {"c": {"d": {"e": 1}}}}}, None),  # deeper than a databag keeps
        ("contexts", {"app": {"name": "x" * 9}}, 8),  # longer than max_value_length
        ("tags", {"ratio": float("inf")}, None),  # sent as its repr
        ("tags", {"when": datetime(2026, 1, 1, tzinfo=UTC)}, None),  # sent as a timestamp
        ("user", {"ids": (1, 2)}, None),  # sent as a list
        ("contexts", {1: "x"}, None),  # sent with a str key
    ],
)
def test_keep_plain_parts_leaves_what_the_serializer_changes(
    name: str, part: dict[Any, Any], max_value_length: int | None
) -> None:
    assert serialize({name: part}, max_value_length=max_value_length)[name] != part
    event: dict[str, object] = {name: part}
    _sdk.keep_plain_parts(event, max_value_length=max_value_length)
    assert event[name] is part


def test_keep_plain_parts_keeps_plain_parts_and_a_request_without_a_body() -> None:
    request = {"method": "GET", "headers": {"accept": "*/*"}}
    contexts = {"trace": {"trace_id": "a" * 32, "sampled": None, "rate": 0.5}}
    extra = {"argv": ["serve", "--port", "8000"]}
    event: dict[str, object] = {"request": request, "contexts": contexts, "extra": extra}
    _sdk.keep_plain_parts(event, max_value_length=None)
    assert serialize(event) == {"request": request, "contexts": contexts, "extra": extra}
    assert all(
        event[name] is not part
        for name, part in [("request", request), ("contexts", contexts), ("extra", extra)]
    )
    with_body: dict[str, object] = {"request": {**request, "data": {"a": 1}}}
    _sdk.keep_plain_parts(with_body, max_value_length=None)
    assert type(with_body["request"]) is dict


def test_keep_plain_parts_leaves_a_huge_part_to_the_serializer_unread() -> None:
    # The look is bounded: on a part this large it would cost what it saves.
    wide = {f"key{i}": {"value": i} for i in range(3_000)}
    event: dict[str, object] = {"contexts": wide, "tags": {"a": "b"}}
    _sdk.keep_plain_parts(event, max_value_length=None)
    assert event["contexts"] is wide
    assert type(event["tags"]) is not dict


def test_iter_stacks_yields_the_traceback_entries_the_sdk_reports() -> None:
    def hidden() -> None:
        __tracebackhide__ = True
        raise ValueError("x")

    try:
        hidden()
    except ValueError as exc:
        error = exc
    names = [tb.tb_frame.f_code.co_name for tb in _sdk.iter_stacks(error.__traceback__)]
    assert names == ["test_iter_stacks_yields_the_traceback_entries_the_sdk_reports"]


def test_what_is_attached_to_a_client_is_reached_through_get_client() -> None:
    client = _client(CapturingTransport())
    marker = object()
    _sdk.attach(client, marker)
    with sentry_sdk.isolation_scope():
        assert _sdk.attached(sentry_sdk.get_client()) is marker
    assert _sdk.attached(_sdk.inactive_client()) is None


def test_an_inactive_client_sends_nothing() -> None:
    client = _sdk.inactive_client()
    assert isinstance(client, _sdk.BaseClient)
    assert not client.is_active()
    sentry_sdk.get_global_scope().set_client(client)
    assert sentry_sdk.capture_message("nothing") is None


def test_session_aggregate_is_the_one_the_sdk_counts_and_sends() -> None:
    transport = CapturingTransport()
    client = _client(transport, release="r@1", environment="e")
    # The sdk's own request session, for the same release and environment.
    with sentry_sdk.isolation_scope() as scope:
        scope.start_session(session_mode="request")
        scope.end_session()
    attrs = (("environment", "e"), ("release", "r@1"))
    pending = _sdk.pending_sessions(client)
    counts = _sdk.session_aggregate(client, attrs, 29_000_000)
    counts["crashed"] = 1
    counts["exited"] = 2
    assert _sdk.session_aggregate(client, attrs, 29_000_000) is counts
    client.flush()
    assert _sdk.pending_sessions(client) is not pending
    (sessions,) = transport.items("sessions")
    assert sessions["attrs"] == {"release": "r@1", "environment": "e"}
    started = "2025-02-19T21:20:00.000000Z"
    ours = [a for a in sessions["aggregates"] if a["started"] == started]
    assert ours == [{"started": started, "crashed": 1, "exited": 2}]
    assert sum(a.get("exited", 0) for a in sessions["aggregates"]) == 3
    client.close(timeout=0)


def test_sdk_option_names_are_sentry_sdk_inits_keywords() -> None:
    names = _sdk.sdk_option_names()
    assert {"before_send", "integrations", "disabled_integrations", "ignore_errors"} <= names
    assert "before_sned" not in names
    sentry_sdk.init(**dict.fromkeys(["before_send", "ignore_errors"]))  # type: ignore[arg-type]
    assert sentry_sdk.get_client().options["before_send"] is None


def _sender_options(dsn: str) -> dict[str, object]:
    client = sentry_sdk.Client(dsn, send_client_reports=True)
    options = dict(client.options)
    client.close(timeout=0)
    return options


def test_http_sender_keeps_a_connection_per_sending_thread(
    envelope_server: EnvelopeServer,
) -> None:
    sender = _sdk.http_sender(_sender_options(envelope_server.dsn), 4)
    assert isinstance(sender, HttpTransport)
    pool = sender._pool.connection_from_url(envelope_server.dsn.replace("publickey", "x"))
    assert pool.pool.maxsize == 4  # type: ignore[union-attr]


def test_http_sender_compresses_fast_unless_the_app_chose_a_level(
    envelope_server: EnvelopeServer,
) -> None:
    envelope = Envelope()
    envelope.add_event({"event_id": "a" * 32, "message": "x" * 20_000})
    options = _sender_options(envelope_server.dsn)
    levels = [None, {"transport_compression_level": 9}]
    bodies = []
    for experiments in levels:
        sender = _sdk.http_sender({**options, "_experiments": experiments or {}}, 1)
        prepared = _sdk.prepare_envelope(sender, envelope)
        assert prepared is not None
        _, body, headers = prepared
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == envelope.serialize()
        bodies.append(body)
    # Level 1 by default: the app's own choice (9 here) is kept.
    assert gzip.compress(envelope.serialize(), compresslevel=1, mtime=0)[10:] == bodies[0][10:]
    assert len(bodies[1]) < len(bodies[0])


def test_prepare_post_and_handle_an_envelope_as_the_sdk_sends_it(
    envelope_server: EnvelopeServer,
) -> None:
    sender = _sdk.http_sender(_sender_options(envelope_server.dsn), 1)
    envelope = Envelope()
    envelope.add_event({"event_id": "a" * 32, "message": "m"})
    prepared = _sdk.prepare_envelope(sender, envelope)
    assert prepared is not None
    sent, body, headers = prepared
    response = _sdk.post_envelope(sender, body, headers)
    envelope_server.status = 429
    envelope_server.response_headers = {"X-Sentry-Rate-Limits": "60:error:organization"}
    _sdk.handle_response(sender, response, sent)
    assert response.status == 200
    assert [e["event_id"] for e in envelope_server.events] == ["a" * 32]
    limited = _sdk.post_envelope(sender, body, dict(headers))
    _sdk.handle_response(sender, limited, sent)
    # Rate-limited: nothing left to send, and the item counted as the sdk counts it.
    assert _sdk.is_rate_limited(sender, "error")
    assert not _sdk.is_rate_limited(sender, "transaction")
    assert _sdk.prepare_envelope(sender, envelope) is None
    report = _sdk.pending_client_report(sender, force=True)
    assert report is not None and report.payload.json is not None
    assert report.payload.json["discarded_events"] == [
        {"reason": "ratelimit_backoff", "category": "error", "quantity": 1}
    ]
    assert _sdk.pending_client_report(sender, force=True) is None


def test_post_envelope_raises_when_sentry_is_unreachable() -> None:
    dsn = f"http://publickey0123456789abcdef@127.0.0.1:{free_port()}/42"
    sender = _sdk.http_sender(_sender_options(dsn), 1)
    with pytest.raises(Exception, match=r"Connection refused|Max retries"):
        _sdk.post_envelope(sender, b"{}\n", {})
