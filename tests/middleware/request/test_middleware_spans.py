"""middleware_spans: a span per middleware of the stack, as the stock integration's option."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from middleware import SentryLifespan, instrument
from tests.support import CapturingTransport, running


class Stamp:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def stacked_app(transport: CapturingTransport, *, spans: bool | None) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    app.add_middleware(CORSMiddleware, allow_origins=["https://example.com"])
    app.add_middleware(Stamp)
    if spans is None:
        instrument(app)
    else:
        instrument(app, middleware_spans=spans)

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    return app


def middleware_spans(transport: CapturingTransport) -> list[tuple[str, str, str]]:
    (transaction,) = transport.transactions
    root = transaction["contexts"]["trace"]["span_id"]
    by_id = {s["span_id"]: s for s in transaction["spans"]}
    found = []
    for span in transaction["spans"]:
        if span["op"] == "middleware.starlette":
            parent = by_id.get(span["parent_span_id"])
            found.append(
                (
                    span["description"],
                    span["tags"]["starlette.middleware_name"],
                    "root"
                    if span["parent_span_id"] == root
                    else parent["description"]
                    if parent
                    else "?",
                )
            )
    return found


async def test_each_middleware_gets_a_span_nested_as_the_stack(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    async with running(stacked_app(capture, spans=True)) as client:
        assert (await client.get("/ok")).status_code == 200
    found = middleware_spans(capture)
    # The layer wraps the whole stack: the framework's outer layers (Starlette's
    # ServerErrorMiddleware, FastAPI's own) come first, then the app's, each span
    # inside the one before it, down to the router.
    assert found[0][2] == "root"
    for (name, tag, parent), (outer, _, _) in zip(found[1:], found, strict=False):
        assert tag == name
        assert parent == outer
    names = [name for name, _, _ in found]
    assert "ServerErrorMiddleware" in names[: names.index("Stamp")]
    start = names.index("Stamp")
    assert names[start : start + 3] == ["Stamp", "CORSMiddleware", "ExceptionMiddleware"]
    assert all(name.endswith("Middleware") for name in names[start + 1 :])


@pytest.mark.parametrize("spans", [None, False])
async def test_off_by_default_as_in_the_stock_integration(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, spans: bool | None
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    async with running(stacked_app(capture, spans=spans)) as client:
        assert (await client.get("/ok")).status_code == 200
    assert middleware_spans(capture) == []


async def test_no_span_and_no_orphan_without_a_transaction(capture: CapturingTransport) -> None:
    async with running(stacked_app(capture, spans=True)) as client:
        assert (await client.get("/ok")).status_code == 200
    assert capture.envelopes == []
