"""Random events with secrets planted anywhere: none is sent, ordinary data survives."""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
import sentry_sdk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentry_sdk.types import Event

from middleware.scrub.scrubber import Scrubber
from tests.oracle import assert_nothing_left
from tests.support import CapturingTransport, SentryInit, examples

CONFIGURED = "cfg-4f1d9c2b7a0e"
MARKER = "xyzzy 42"
SECRET_KEYS = (
    "password",
    "X-Api-Key",
    "client_secret",
    "Authorization",
    "access_token",
    "dbPassword",
    "SESSION_ID",
    "private-key",
    "webhook_signature",
    "SENTRY_DSN",
    "Cookie",
    "apiKey",
)
ORDINARY_KEYS = ("page", "sort", "name", "count", "status", "region", "item_id", "mode")
ORDINARY_WORDS = ("alpha", "build 42", "GET /items", "2026-11-22", "ok", "status: done", "v1.2.3")
SEPARATORS = (" ", ", ", "(", "'", "\n", "/")
ALNUM = string.ascii_letters + string.digits


def _luhn_complete(body: str) -> str:
    total = 0
    for i, char in enumerate(reversed(body)):
        n = int(char)
        if i % 2 == 0:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return body + str(-total % 10)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _alnum(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(ALNUM, min_size=low, max_size=high)


# Each strategy gives (text to plant, the part of it that must never be sent).
SHAPED: st.SearchStrategy[tuple[str, str]] = st.one_of(
    st.tuples(st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]), _alnum(36, 40)).map(
        lambda p: (p[0] + p[1], p[1])
    ),
    _alnum(60, 70).map(lambda s: ("github_pat_" + s, s)),
    _alnum(24, 40).map(lambda s: ("sk-" + s, s)),
    st.tuples(st.binary(min_size=12, max_size=30), st.binary(min_size=16)).map(
        lambda p: (
            f"eyJ{_b64(b'x' + p[0])}.eyJ{_b64(b'y' + p[1])}.{_b64(p[1])}",
            _b64(b"y" + p[1]),
        )
    ),
    st.text(string.ascii_uppercase + string.digits, min_size=16, max_size=16).map(
        lambda s: ("AKIA" + s, s)
    ),
    st.text(string.digits, min_size=14, max_size=14).map(
        lambda s: (_luhn_complete("4" + s), _luhn_complete("4" + s))
    ),
    _alnum(20, 40).map(lambda s: ("Bearer " + s, s)),
    st.binary(min_size=24, max_size=90).map(
        lambda raw: (
            "-----BEGIN PRIVATE KEY-----\n"
            f"{base64.b64encode(raw).decode()}\n-----END PRIVATE KEY-----",
            base64.b64encode(raw).decode(),
        )
    ),
    st.text("0123456789abcdef", min_size=32, max_size=32).map(
        lambda s: (f"https://{s}@o1.ingest.sentry.io/5", s)
    ),
    st.just((CONFIGURED, CONFIGURED)),
)

ORDINARY: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(ORDINARY_WORDS),
    st.integers(-1000, 10**6),
    st.integers(0, 99).map(lambda n: f"page={n}"),
)


@dataclass
class Plan:
    event: dict[str, Any]
    secrets: list[str] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)


def _tree(draw: st.DrawFn) -> Any:
    leaves = ORDINARY
    return draw(
        st.recursive(
            leaves,
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(ORDINARY_KEYS), inner, max_size=3)
            ),
            max_leaves=6,
        )
    )


def _text(draw: st.DrawFn, plan: Plan) -> str:
    """A string with a secret at a random position in it."""
    shaped, core = draw(SHAPED)
    plan.secrets.append(core)
    before = draw(st.sampled_from(("", *ORDINARY_WORDS)))
    after = draw(st.sampled_from(("", *ORDINARY_WORDS)))
    sep = draw(st.sampled_from(SEPARATORS))
    return f"{before}{sep if before else ''}{shaped}{sep if after else ''}{after}"


def _keyed(draw: st.DrawFn, plan: Plan) -> tuple[str, str]:
    value = "kv" + draw(_alnum(10, 24))
    plan.secrets.append(value)
    return draw(st.sampled_from(SECRET_KEYS)), value


def _plant(draw: st.DrawFn, plan: Plan, tree: Any) -> Any:
    """Put a keyed or a shaped secret somewhere in `tree`, at a random depth."""
    node = tree
    while isinstance(node, (dict, list)) and node and draw(st.booleans()):
        children = [v for v in (node.values() if isinstance(node, dict) else node)]
        containers = [c for c in children if isinstance(c, (dict, list))]
        if not containers:
            break
        node = draw(st.sampled_from(containers))
    if draw(st.booleans()):
        key, value = _keyed(draw, plan)
        entry: Any = {key: value} if draw(st.booleans()) else [key, value]
    else:
        entry = _text(draw, plan)
    if isinstance(node, dict):
        node[draw(st.sampled_from(ORDINARY_KEYS)) + "_x"] = entry
        return tree
    if isinstance(node, list):
        node.append(entry)
        return tree
    return {"value": tree, "planted": entry}


def _marker(draw: st.DrawFn, plan: Plan) -> str:
    marker = f"{draw(st.sampled_from(ORDINARY_WORDS))} page={draw(st.integers(0, 10**6))}"
    plan.markers.append(marker)
    return marker


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    plan = Plan({})
    key, value = _keyed(draw, plan)
    query_key, query_value = _keyed(draw, plan)
    header_key, header_value = _keyed(draw, plan)
    plan.event = {
        "message": f"{_marker(draw, plan)} {_text(draw, plan)}",
        "extra": {"tree": _plant(draw, plan, _tree(draw)), "marker": _marker(draw, plan)},
        "contexts": {"job": {"tree": _plant(draw, plan, _tree(draw))}},
        "tags": {key: value, "shaped": _text(draw, plan), "plain": _marker(draw, plan)},
        "user": {"id": "42", "data": _plant(draw, plan, _tree(draw))},
        "request": {
            "url": f"https://ann:{_keyed(draw, plan)[1]}@example.com/items",
            "query_string": f"{query_key}={query_value}&page=2",
            "headers": {header_key: header_value, "X-Note": _text(draw, plan)},
            "data": {"tree": _plant(draw, plan, _tree(draw)), "marker": _marker(draw, plan)},
        },
        "breadcrumbs": {
            "values": [
                {"message": _text(draw, plan), "data": _plant(draw, plan, _tree(draw))},
                {"message": _marker(draw, plan)},
            ]
        },
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": f"{_marker(draw, plan)} {_text(draw, plan)}",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "handler",
                                "vars": {
                                    "tree": _plant(draw, plan, _tree(draw)),
                                    "marker": _marker(draw, plan),
                                },
                            }
                        ]
                    },
                }
            ]
        },
    }
    return plan


@pytest.fixture
def client(sentry_init: SentryInit) -> CapturingTransport:
    return sentry_init(secret_env=("GITHUB_TOKEN",), GITHUB_TOKEN=CONFIGURED)


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=plans())
def test_no_planted_secret_is_sent_and_ordinary_data_survives(
    client: CapturingTransport, plan: Plan
) -> None:
    client.envelopes.clear()

    with sentry_sdk.isolation_scope() as scope:
        scope.clear_breadcrumbs()
        sentry_sdk.capture_event(cast(Event, plan.event))

    sent = client.serialized()
    assert len(client.events) == 1
    for secret in plan.secrets:
        assert secret.encode() not in sent
    for marker in plan.markers:
        assert marker.encode() in sent
    assert b"page=2" in sent
    assert_nothing_left(client.events)


FIELD_NAMES = st.sampled_from(
    (
        *("values", "frames", "vars", "data", "message", "formatted", "params", "headers"),
        *("cookies", "query_string", "stacktrace", "mechanism", "id", "ip_address", "env"),
    )
)
JSON_LIKE: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(st.text(max_size=12), inner)
        | st.dictionaries(st.text(max_size=12) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)
SECTION_NAMES = st.sampled_from(
    (
        *("request", "extra", "contexts", "user", "breadcrumbs", "exception", "threads"),
        *("stacktrace", "logentry", "spans", "tags", "message", "transaction", "other"),
    )
)


def _plain(value: Any) -> Any:
    """`value` as the scrubber returns it when nothing in it is secret: lists for tuples."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# Text no rule can read as a secret, a key word, a number or an address: none of the
# letters of a key word, no digit run long enough for a card, no "@" or ".".
HARMLESS_TEXT = st.text("xyzqvkXYZ 0123-_:=,/", max_size=11)
HARMLESS_KEYS = FIELD_NAMES.filter(lambda name: name != "cookies") | HARMLESS_TEXT
HARMLESS: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12) + 1, 10**12 - 1)
    | st.floats(allow_nan=False)
    | HARMLESS_TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(HARMLESS_TEXT, inner)
        | st.dictionaries(HARMLESS_KEYS | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=examples(200), deadline=None)
@given(event=st.dictionaries(SECTION_NAMES, HARMLESS, max_size=6))
def test_an_event_without_secrets_comes_back_as_it_was(event: dict[str, Any]) -> None:
    scrubbed = Scrubber(secrets=[CONFIGURED], send_default_pii=True).scrub_event(
        cast(Event, event)
    )

    assert scrubbed == _plain(event)


@st.composite
def planted(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """Any JSON-like event, with secrets put into it at random places."""
    event = draw(st.dictionaries(SECTION_NAMES, JSON_LIKE, min_size=1, max_size=6))
    secrets = [CONFIGURED, "kv" + draw(_alnum(10, 24)), "sk-" + draw(_alnum(24, 30))]
    for secret in secrets:
        name = draw(st.sampled_from(sorted(event)))
        entry = {draw(st.sampled_from(SECRET_KEYS)): secret} if secret[:2] == "kv" else secret
        node = event[name]
        while isinstance(node, dict) and node and draw(st.booleans()):
            inner = [v for v in node.values() if isinstance(v, (dict, list))]
            if not inner:
                break
            node = draw(st.sampled_from(inner))
        if isinstance(node, dict):
            node[draw(st.sampled_from(ORDINARY_KEYS))] = entry
        elif isinstance(node, list):
            node.append(entry)
        else:
            event[name] = [node, entry]
    # Ordinary data beside them, where no section drops it (user and request do).
    kept = [n for n in event if n not in ("user", "request")] or ["extra"]
    name = draw(st.sampled_from(kept))
    marker = {"marker_page": MARKER}
    node = event.get(name)
    if isinstance(node, dict):
        node["marker_page"] = MARKER
    elif isinstance(node, list):
        node.append(marker)
    else:
        event[name] = marker if node is None else [node, marker]
    return event, secrets


@settings(max_examples=examples(300), deadline=None)
@given(case=planted())
def test_any_json_like_event_is_scrubbed_without_error(
    case: tuple[dict[str, Any], list[str]],
) -> None:
    event, secrets = case

    scrubbed = Scrubber(secrets=[CONFIGURED]).scrub_event(cast(Event, event))

    sent = json.dumps(scrubbed)
    for secret in secrets:
        assert secret not in sent
    assert MARKER in sent
    assert set(scrubbed) == set(event)
