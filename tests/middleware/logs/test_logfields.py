"""The structlog processor, on the lines a real structlog logger writes."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from typing import Any

import pytest
from fastapi import FastAPI

from middleware import SentryLifespan, add_request_ids, instrument, scrub_secrets
from middleware.jobs.scope import job_scope
from tests.support import running
from tests.support.corpus import INTERNAL_TOKEN
from tests.test_docs import readme_blocks

try:
    import structlog
except ImportError:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI"):
        raise
    pytest.skip("structlog is not installed (pip install -e '.[test]')", allow_module_level=True)


def json_logger(out: io.StringIO) -> Any:
    return structlog.wrap_logger(
        structlog.PrintLogger(file=out),
        processors=[add_request_ids, structlog.processors.JSONRenderer(sort_keys=True)],
    )


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_request_s_lines_carry_its_request_id() -> None:
    out = io.StringIO()
    log = json_logger(out)
    app = FastAPI(lifespan=SentryLifespan())
    instrument(app)

    @app.get("/work")
    async def work() -> dict[str, str]:
        log.info("working", step=1)
        return {}

    async with running(app) as client:
        await client.get("/work", headers={"x-request-id": "req-42"})
        fresh = await client.get("/work")
    log.info("idle")
    assert lines(out) == [
        {"event": "working", "step": 1, "request_id": "req-42", "job_id": "-"},
        {
            "event": "working",
            "step": 1,
            "request_id": fresh.headers["x-request-id"],
            "job_id": "-",
        },
        {"event": "idle", "request_id": "-", "job_id": "-"},
    ]


def test_a_job_s_lines_carry_its_job_id_and_request_id() -> None:
    out = io.StringIO()
    log = json_logger(out)
    with job_scope("build", "j-1", request_id="req-9"):
        log.info("queued by a request")
    with job_scope("build", "j-2"):
        log.info("queued by a timer")
    log.bind(request_id="mine").info("bound")
    assert lines(out) == [
        {"event": "queued by a request", "request_id": "req-9", "job_id": "j-1"},
        {"event": "queued by a timer", "request_id": "j-2", "job_id": "j-2"},
        {"event": "bound", "request_id": "mine", "job_id": "-"},
    ]


def test_the_processor_needs_no_structlog() -> None:
    # structlog is an optional extra: the middleware imports and runs without it.
    code = (
        "import sys; sys.modules['structlog'] = None\n"
        "from middleware import add_request_ids\n"
        "print(add_request_ids(None, 'info', {'event': 'x'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "{'event': 'x', 'request_id': '-', 'job_id': '-'}"


def readme_block(marker: str) -> str:
    (block,) = [b for b in readme_blocks("python") if marker in b]
    return block


async def test_the_readme_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        exec(compile(readme_block("RequestIdFilter()"), "README.md", "exec"), {})  # noqa: S102
        exec(compile(readme_block("structlog.configure"), "README.md", "exec"), {})  # noqa: S102
        with job_scope("build", "j-1", request_id="req-9"):
            logging.getLogger("tests.readme").warning("from stdlib")
            structlog.get_logger().info("from structlog")
    finally:
        structlog.reset_defaults()
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
    captured = capsys.readouterr()
    assert "WARNING [req-9] from stdlib\n" in captured.err
    assert json.loads(captured.out) == {
        "event": "from structlog",
        "request_id": "req-9",
        "job_id": "j-1",
    }


async def test_scrub_secrets_filters_what_stdlib_lines_filter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOOTY_INTERNAL_TOKEN", INTERNAL_TOKEN)
    out = io.StringIO()
    log = structlog.wrap_logger(
        structlog.PrintLogger(file=out),
        processors=[
            structlog.processors.format_exc_info,
            scrub_secrets,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
    )
    app = FastAPI(lifespan=SentryLifespan(secret_env=("BOOTY_INTERNAL_TOKEN",)))
    async with running(app):
        log.info("refused", token="plainvalue-1234", detail=f"upstream said {INTERNAL_TOKEN}")
        log.info("nested", data={"auth": {"x": 1}, "items": [f"key {INTERNAL_TOKEN}"]})
        try:
            raise RuntimeError(f"upstream refused token {INTERNAL_TOKEN}")
        except RuntimeError:
            log.exception("failed")

    text = out.getvalue()
    assert INTERNAL_TOKEN not in text and "plainvalue-1234" not in text
    refused, nested, failed = lines(out)
    assert refused["token"] == "[Filtered]"
    assert refused["detail"] == "upstream said [Filtered]"
    assert nested["data"] == {"auth": "[Filtered]", "items": ["key [Filtered]"]}
    assert "RuntimeError: upstream refused token [Filtered]" in failed["exception"]
