"""Request bodies as the sdk's own integrations send them, after scrubbing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from starlette.requests import Request

from middleware import SentryLifespan, instrument
from tests.support import CapturingTransport, running

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
