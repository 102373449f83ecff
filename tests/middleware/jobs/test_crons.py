"""The worker as a cron monitor, on check-ins received by a real envelope server."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
import sentry_sdk
from anyio.streams.memory import MemoryObjectReceiveStream

from middleware.config.settings import ConfigError, load_sentry_config
from middleware.jobs.crons import WorkerMonitor
from middleware.jobs.scope import job_scope
from middleware.startup.lifespan import init_sentry
from tests.support import INCOMING, TRACE_ID, EnvelopeServer
from tests.test_docs import readme_blocks

EVERY = 0.1


class Boom(Exception):
    pass


@pytest.fixture
def server(envelope_server: EnvelopeServer, monkeypatch: pytest.MonkeyPatch) -> EnvelopeServer:
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)
    return envelope_server


def start_sentry() -> None:
    init_sentry(load_sentry_config())


def check_ins(server: EnvelopeServer) -> list[dict[str, Any]]:
    sentry_sdk.flush(timeout=5)
    return server.items("check_in")


async def worker(jobs: MemoryObjectReceiveStream[str], monitor: WorkerMonitor) -> list[str]:
    """A small worker loop: each job kind reports its own runs, the loop its heartbeat."""
    done = []
    with jobs:
        async with monitor.running():
            async for kind in jobs:
                with monitor.job(kind, every=300):
                    await anyio.sleep(0.01)
                    if kind == "fail":
                        raise Boom(kind)
                    done.append(kind)
    return done


def heartbeat(items: list[dict[str, Any]], slug: str) -> list[dict[str, Any]]:
    return [item for item in items if item["monitor_slug"] == slug]


async def test_loop_checks_in_at_a_steady_heartbeat(server: EnvelopeServer) -> None:
    start_sentry()
    monitor = WorkerMonitor.from_env(service="booty", every=EVERY)
    send, receive = anyio.create_memory_object_stream[str](10)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, receive, monitor)
        await anyio.sleep(0.01)
        # The first check-in is sent as the loop starts, before any beat.
        server.wait_for(lambda: len(check_ins(server)) == 1)
        await anyio.sleep(EVERY * 3.5)
        await send.aclose()

    items = heartbeat(check_ins(server), "booty")
    statuses = [item["status"] for item in items]
    assert statuses[0] == "in_progress"
    assert statuses == ["in_progress", "ok"] * (len(items) // 2)
    assert len(items) >= 8  # the first run and at least three beats
    first = items[0]
    assert first["monitor_config"] == {
        "schedule": {"type": "interval", "value": 1, "unit": "minute"},
        "checkin_margin": 1,
        "max_runtime": 2,
    }
    assert first["environment"] == "development"
    # Every ok closes the run its in_progress opened, a heartbeat later.
    for opened, closed in zip(items[::2], items[1::2], strict=True):
        assert closed["check_in_id"] == opened["check_in_id"]
        assert EVERY * 0.5 < closed["duration"] < EVERY * 10
    assert len({item["check_in_id"] for item in items}) == len(items) // 2


async def test_a_blocked_loop_stops_checking_in(server: EnvelopeServer) -> None:
    start_sentry()
    monitor = WorkerMonitor.from_env(service="booty", every=EVERY / 2)
    async with monitor.running():
        await anyio.sleep(EVERY * 2)
        before = len(check_ins(server))
        assert before >= 3
        # A job that blocks the event loop: the heartbeat cannot run.
        time.sleep(EVERY * 5)  # noqa: ASYNC251
        assert len(check_ins(server)) == before
        await anyio.sleep(EVERY * 2)
        # Once the loop runs again, so does the heartbeat.
        resumed = len(check_ins(server))
    assert resumed > before
    items = check_ins(server)
    # The run open while the loop was blocked is closed once it resumes, late.
    assert max(item.get("duration") or 0 for item in items) > EVERY * 4


async def test_a_loop_stopped_by_cancellation_closes_its_run_as_ok(server: EnvelopeServer) -> None:
    start_sentry()
    monitor = WorkerMonitor.from_env(service="booty", every=EVERY)
    # A service shutting down cancels its worker: that is the loop's clean stop.
    with anyio.move_on_after(EVERY * 1.5):
        async with monitor.running():
            await anyio.sleep(60)
    statuses = [item["status"] for item in check_ins(server)]
    assert statuses == ["in_progress", "ok", "in_progress", "ok"]


async def test_job_kinds_report_their_own_runs(server: EnvelopeServer) -> None:
    start_sentry()
    monitor = WorkerMonitor.from_env(service="booty", every=60)
    send, receive = anyio.create_memory_object_stream[str](10)
    for kind in ("pipeline", "verifier", "fail"):
        send.send_nowait(kind)
    send.close()
    with pytest.raises(Boom):
        await worker(receive, monitor)

    items = check_ins(server)
    runs = {
        slug: [item["status"] for item in heartbeat(items, slug)]
        for slug in ("booty", "booty-pipeline", "booty-verifier", "booty-fail")
    }
    assert runs == {
        # The loop crashed: its open run is closed as an error.
        "booty": ["in_progress", "error"],
        "booty-pipeline": ["in_progress", "ok"],
        "booty-verifier": ["in_progress", "ok"],
        "booty-fail": ["in_progress", "error"],
    }
    (opened,) = [i for i in heartbeat(items, "booty-pipeline") if i["status"] == "in_progress"]
    assert opened["monitor_config"] == {
        "schedule": {"type": "interval", "value": 5, "unit": "minute"},
        "checkin_margin": 1,
    }


async def test_a_job_kind_check_in_is_linked_to_the_jobs_trace(server: EnvelopeServer) -> None:
    start_sentry()
    monitor = WorkerMonitor.from_env(service="booty")
    trace = {"sentry-trace": INCOMING["sentry-trace"]}
    with job_scope("pipeline", "j-1", trace=trace), monitor.job("pipeline"):
        pass
    items = check_ins(server)
    assert [item["status"] for item in items] == ["in_progress", "ok"]
    assert {item["contexts"]["trace"]["trace_id"] for item in items} == {TRACE_ID}
    assert "monitor_config" not in items[0]  # without `every` the monitor is made in Sentry


@pytest.mark.parametrize(
    ("variable", "slug"), [("nightly_worker", "nightly_worker"), (" Queue ", "queue")]
)
async def test_sentry_worker_monitor_sets_the_slug(
    server: EnvelopeServer, monkeypatch: pytest.MonkeyPatch, variable: str, slug: str
) -> None:
    monkeypatch.setenv("SENTRY_WORKER_MONITOR", variable)
    start_sentry()
    monitor = WorkerMonitor.from_env(service="booty", every=EVERY)
    async with monitor.running():
        await anyio.sleep(EVERY * 1.5)
    items = check_ins(server)
    assert {item["monitor_slug"] for item in items} == {slug}
    assert [item["status"] for item in items] == ["in_progress", "ok", "in_progress", "ok"]


async def test_off_sends_no_check_in(
    server: EnvelopeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_WORKER_MONITOR", "OFF")
    start_sentry()
    monitor = WorkerMonitor.from_env(service="booty", every=EVERY / 2)
    assert not monitor.enabled
    async with monitor.running():
        with monitor.job("pipeline", every=60):
            await anyio.sleep(EVERY * 2)
    sentry_sdk.capture_message("still sending")
    server.wait_for(lambda: len(check_ins(server) + server.events) > 0)
    assert [event["message"] for event in server.events] == ["still sending"]
    assert check_ins(server) == []


def test_an_invalid_slug_falls_back_outside_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_WORKER_MONITOR", "my worker!")
    config = load_sentry_config()
    assert config.settings.worker_monitor is None
    assert [str(p) for p in config.problems] == [
        "SENTRY_WORKER_MONITOR must be 'off' or a monitor slug: 1 to 50 of a-z, 0-9, '-' and "
        "'_'; using the default"
    ]
    monitor = WorkerMonitor.from_settings(config.settings, service="booty")
    assert monitor.slug == "booty"


def test_an_invalid_slug_refuses_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_DSN", "https://publickey0123456789abcdef@sentry.invalid/42")
    monkeypatch.setenv("SENTRY_WORKER_MONITOR", "x" * 51)
    with pytest.raises(ConfigError) as info:
        load_sentry_config()
    assert [p.variable for p in info.value.problems] == ["SENTRY_WORKER_MONITOR"]


def test_a_job_kind_that_makes_no_slug_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = WorkerMonitor("booty")
    assert monitor.job_slug("Pipeline") == "booty-pipeline"
    assert monitor.job_slug("a b") is None
    assert monitor.job_slug("a b") is None
    assert [r.getMessage() for r in caplog.records] == [
        "job kind 'a b': no check-ins, 'booty-a b' is not a monitor slug"
    ]


async def test_the_readme_example_runs(server: EnvelopeServer) -> None:
    (block,) = [b for b in readme_blocks("python") if "WorkerMonitor" in b]
    start_sentry()
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    ran: list[str] = []

    async def run(job: SimpleNamespace) -> None:
        ran.append(job.kind)

    send, receive = anyio.create_memory_object_stream[SimpleNamespace](1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(namespace["worker"], receive, run)
        await send.send(SimpleNamespace(kind="pipeline"))
        await send.aclose()
    receive.close()
    assert ran == ["pipeline"]
    items = check_ins(server)
    assert [(i["monitor_slug"], i["status"]) for i in items] == [
        ("booty", "in_progress"),
        ("booty-pipeline", "in_progress"),
        ("booty-pipeline", "ok"),
        ("booty", "ok"),
    ]


def test_a_run_may_last_a_heartbeat_and_a_minute() -> None:
    assert WorkerMonitor("booty", every=300).config == {
        "schedule": {"type": "interval", "value": 5, "unit": "minute"},
        "checkin_margin": 1,
        "max_runtime": 6,
    }
    with pytest.raises(ValueError, match="max_runtime"):
        WorkerMonitor("booty", every=300, max_runtime=5)
