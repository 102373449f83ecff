"""`{{ sentry_trace_meta }}` puts the request's trace into a server-rendered page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from middleware import SentryLifespan, add_sentry_trace_meta, instrument
from tests.support import TRACE_ID, CapturingTransport, running

PAGE = "<html><head>{{ sentry_trace_meta }}</head><body>{{ title }}</body></html>"


def page_app(transport: CapturingTransport, directory: Path) -> FastAPI:
    (directory / "page.html").write_text(PAGE)
    templates = Jinja2Templates(directory=directory)
    add_sentry_trace_meta(templates)
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app)

    @app.get("/page", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "page.html", {"title": "<b>hi</b>"})

    return app


@pytest.mark.parametrize("traces", ["0", "1.0"])
async def test_each_page_carries_its_own_requests_trace(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    traces: str,
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", traces)
    async with running(page_app(capture, tmp_path)) as client:
        first = (await client.get("/page")).text
        second = (await client.get("/page")).text
        incoming = (
            await client.get("/page", headers={"sentry-trace": f"{TRACE_ID}-{'b' * 16}-1"})
        ).text
    traces_seen = [
        re.search(r'<meta name="sentry-trace" content="([0-9a-f]{32})-', page)
        for page in (first, second, incoming)
    ]
    ids = [m.group(1) for m in traces_seen if m is not None]
    assert len(ids) == 3
    assert ids[0] != ids[1]
    assert ids[2] == TRACE_ID
    assert '<meta name="baggage" content="sentry-trace_id=' in first
    assert "&lt;b&gt;hi&lt;/b&gt;" in first  # the page's own escaping is untouched
    if traces == "1.0":
        spans = {t["contexts"]["trace"]["trace_id"] for t in capture.transactions}
        assert set(ids) == spans


def test_the_layer_never_imports_jinja2() -> None:
    code = "import sys, middleware; print('jinja2' in sys.modules, 'markupsafe' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
