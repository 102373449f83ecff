"""Request bodies as the sdk's own integrations send them, after scrubbing."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from middleware import SentryLifespan, instrument
from tests.support import CapturingTransport, running
from tests.support.raw import http_scope, raw_request

FILE_CONTENT = b"%PDF-1.7 confidential-file-content " * 20


def body_app(transport: CapturingTransport, **options: Any) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app, **options)

    @app.post("/raw")
    async def raw(request: Request) -> None:
        await request.body()
        raise RuntimeError("raw body failed")

    return app


def data_and_meta(transport: CapturingTransport) -> tuple[Any, Any]:
    (event,) = transport.events
    meta = event.get("_meta", {}).get("request", {}).get("data")
    return event["request"].get("data"), meta


async def test_a_multipart_form_sends_its_fields_and_only_the_name_and_size_of_files(
    capture: CapturingTransport,
) -> None:
    # Read as bytes: the layer parses the form itself, whether or not the app
    # has python-multipart for FastAPI's Form and File.
    async with running(body_app(capture)) as client:
        response = await client.post(
            "/raw",
            data={"title": "Q3 numbers", "password": "hunter2-secret"},
            files={"report": ("q3.pdf", FILE_CONTENT, "application/pdf")},
        )
    assert response.status_code == 500
    data, meta = data_and_meta(capture)
    assert data == {"title": "Q3 numbers", "password": "[Filtered]", "report": "q3.pdf"}
    assert meta["report"] == {"": {"rem": [["!raw", "s"]], "len": len(FILE_CONTENT)}}
    sent = capture.serialized()
    assert b"confidential-file-content" not in sent
    assert b"hunter2-secret" not in sent


async def test_an_over_limit_body_is_marked_too_large_not_scrubbed(
    capture: CapturingTransport,
) -> None:
    async with running(body_app(capture, max_request_body_size="small")) as client:
        await client.post("/raw", json={"note": "x" * 2000})
    data, meta = data_and_meta(capture)
    assert data == ""
    assert meta == {"": {"rem": [["!config", "x"]]}}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", b"\x00\x01binary\xff" * 10),
        ("application/json", b'{"not": json'),
        ("text/plain", b"plain words"),
    ],
)
async def test_a_raw_or_unparsable_body_is_marked_present_with_its_size(
    capture: CapturingTransport, content_type: str, body: bytes
) -> None:
    async with running(body_app(capture)) as client:
        await client.post("/raw", content=body, headers={"content-type": content_type})
    data, meta = data_and_meta(capture)
    assert data == ""
    assert meta == {"": {"rem": [["!raw", "x"]], "len": len(body)}}


@pytest.mark.parametrize(("query", "expected"), [("", None), ("?page=2", "page=2")])
async def test_an_empty_query_string_is_absent(
    capture: CapturingTransport, query: str, expected: str | None
) -> None:
    async with running(body_app(capture)) as client:
        await client.post(f"/raw{query}", content=b"")
    (event,) = capture.events
    assert event["request"].get("query_string") == expected


def streaming_app(transport: CapturingTransport, **options: Any) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app, **options)

    @app.post("/first-chunk")
    async def first_chunk(request: Request) -> None:
        async for _ in request.stream():
            break
        raise RuntimeError("read one chunk")

    @app.post("/until-gone")
    async def until_gone(request: Request) -> None:
        with contextlib.suppress(ClientDisconnect):
            async for _ in request.stream():
                pass
        raise RuntimeError("client left")

    return app


def json_messages(*chunks: bytes) -> list[Message]:
    *first, last = chunks
    return [
        *({"type": "http.request", "body": c, "more_body": True} for c in first),
        {"type": "http.request", "body": last, "more_body": False},
    ]


# Sent in chunks, as HTTP/1.1 announces a body of unknown length.
JSON = [
    (b"host", b"test"),
    (b"content-type", b"application/json"),
    (b"transfer-encoding", b"chunked"),
]


async def test_body_messages_that_leave_out_their_optional_keys_are_read_whole(
    capture: CapturingTransport,
) -> None:
    # The spec's defaults: no "body" is b"", no "more_body" is False.
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"a": ', "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": True},
        {"type": "http.request"},
    ]
    scope = http_scope("/raw", method="POST", headers=JSON)
    await raw_request(body_app(capture), scope, messages, raises="raw body failed")
    data, _ = data_and_meta(capture)
    assert data == {"a": 1}


async def test_a_body_the_app_read_only_in_part_is_not_sent(capture: CapturingTransport) -> None:
    scope = http_scope("/first-chunk", method="POST", headers=JSON)
    messages = json_messages(b'{"a": 1', b', "b": 2}')
    await raw_request(streaming_app(capture), scope, messages, raises="read one chunk")
    (event,) = capture.events
    assert "data" not in event["request"]


async def test_a_body_cut_off_by_the_client_leaving_is_not_sent(
    capture: CapturingTransport,
) -> None:
    scope = http_scope("/until-gone", method="POST", headers=JSON)
    messages: list[Message] = [{"type": "http.request", "body": b'{"a": 1', "more_body": True}]
    await raw_request(streaming_app(capture), scope, messages, raises="client left")
    (event,) = capture.events
    assert "data" not in event["request"]


async def test_a_body_exactly_at_the_limit_is_sent(capture: CapturingTransport) -> None:
    body = b'{"note": "' + b"x" * 988 + b'"}'
    assert len(body) == 1_000  # "small"
    async with running(body_app(capture, max_request_body_size="small")) as client:
        await client.post("/raw", content=body, headers={"content-type": "application/json"})
    data, _ = data_and_meta(capture)
    assert data == {"note": "x" * 988}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8; profile=v1",
        "application/vnd.api+json",
        "Application/Problem+JSON",
    ],
)
async def test_json_bodies_are_parsed_under_any_json_media_type(
    capture: CapturingTransport, content_type: str
) -> None:
    async with running(body_app(capture)) as client:
        await client.post("/raw", content=b'{"a": 1}', headers={"content-type": content_type})
    data, _ = data_and_meta(capture)
    assert data == {"a": 1}


async def test_a_form_field_left_blank_is_sent_blank(capture: CapturingTransport) -> None:
    async with running(body_app(capture)) as client:
        await client.post("/raw", data={"name": "ada", "note": ""})
    data, _ = data_and_meta(capture)
    assert data == {"name": "ada", "note": ""}


async def test_a_body_without_a_content_type_is_marked_present_with_its_size(
    capture: CapturingTransport,
) -> None:
    headers = [(b"host", b"test"), (b"content-length", b"5")]
    messages: list[Message] = [{"type": "http.request", "body": b"hello"}]
    scope = http_scope("/raw", method="POST", headers=headers)
    await raw_request(body_app(capture), scope, messages, raises="raw body failed")
    data, meta = data_and_meta(capture)
    assert data == ""
    assert meta == {"": {"rem": [["!raw", "x"]], "len": 5}}
