"""The spooling transport against a real envelope server: what Sentry receives, and what
stays on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sentry_sdk

from middleware.config import ConfigError, SentryConfig, SentrySettings
from middleware.delivery import spool_transport, transport_from_settings
from tests.support import FAKE_DSN, EnvelopeServer, free_port, wait_until


def _client(
    dsn: str, spool: Path, *, concurrency: int = 4, **options: object
) -> sentry_sdk.Client:
    transport = spool_transport(spool, max_mb=1, concurrency=concurrency)
    return sentry_sdk.Client(dsn, transport=transport, **options)  # type: ignore[arg-type]


def _files(spool: Path) -> list[Path]:
    return sorted(p for p in spool.iterdir() if not p.name.startswith("."))


def _contents(spool: Path) -> list[bytes]:
    """Each spooled file's bytes, though a sender may rename one (claim) meanwhile."""
    for _ in range(100):
        try:
            return [p.read_bytes() for p in _files(spool)]
        except FileNotFoundError:
            continue  # renamed between the listing and the read: list again
    raise AssertionError(f"the files of {spool} kept moving")


@pytest.fixture
def clients() -> Iterator[list[sentry_sdk.Client]]:
    made: list[sentry_sdk.Client] = []
    yield made
    for client in made:
        client.close(timeout=0)


def _unreachable() -> tuple[str, int]:
    port = free_port()
    return f"http://publickey0123456789abcdef@127.0.0.1:{port}/42", port


def test_the_envelope_is_on_disk_when_capture_returns(
    tmp_path: Path, clients: list[sentry_sdk.Client]
) -> None:
    dsn, _ = _unreachable()
    clients.append(client := _client(dsn, tmp_path))
    event_id = client.capture_event({"message": "kept"})
    assert event_id is not None
    [spooled] = _contents(tmp_path)
    assert event_id.encode() in spooled


def test_an_answered_envelope_leaves_the_spool(
    tmp_path: Path, envelope_server: EnvelopeServer, clients: list[sentry_sdk.Client]
) -> None:
    clients.append(client := _client(envelope_server.dsn, tmp_path))
    event_id = client.capture_event({"message": "sent"})
    client.flush(timeout=5)
    assert [e["event_id"] for e in envelope_server.events] == [event_id]
    assert _files(tmp_path) == []


@pytest.mark.parametrize("status", [500, 413, 400])
def test_an_error_status_is_not_retried_and_counted_as_the_sdk_does(
    status: int,
    tmp_path: Path,
    envelope_server: EnvelopeServer,
    clients: list[sentry_sdk.Client],
) -> None:
    envelope_server.status = status
    clients.append(client := _client(envelope_server.dsn, tmp_path))
    client.capture_event({"message": "refused"})
    client.flush(timeout=5)
    assert len(envelope_server.events) == 1
    assert _files(tmp_path) == []
    envelope_server.status = 200
    client.flush(timeout=5)
    [report] = envelope_server.items("client_report")
    reason = "send_error" if status == 413 else "network_error"
    assert report["discarded_events"] == [{"reason": reason, "category": "error", "quantity": 1}]


def test_a_429_is_not_retried_and_its_retry_after_honoured(
    tmp_path: Path, envelope_server: EnvelopeServer, clients: list[sentry_sdk.Client]
) -> None:
    envelope_server.status = 429
    envelope_server.response_headers = {"Retry-After": "60"}
    clients.append(client := _client(envelope_server.dsn, tmp_path))
    client.capture_event({"message": "first"})
    client.flush(timeout=5)
    client.capture_event({"message": "rate-limited"})
    client.flush(timeout=5)
    assert [e["message"] for e in envelope_server.events] == ["first"]
    assert _files(tmp_path) == []
    assert not client.transport.is_healthy()  # type: ignore[union-attr]


def test_an_unreachable_sentry_keeps_the_envelope_and_gets_it_once_back(
    tmp_path: Path, clients: list[sentry_sdk.Client]
) -> None:
    dsn, port = _unreachable()
    clients.append(client := _client(dsn, tmp_path))
    event_id = client.capture_event({"message": "retried"})
    client.flush(timeout=1)
    assert len(_files(tmp_path)) == 1
    back = EnvelopeServer(port=port)
    try:
        wait_until(lambda: back.events, "the retried event", timeout=20)
        wait_until(lambda: not _files(tmp_path), "an empty spool", timeout=5)
    finally:
        back.close()
    assert [e["event_id"] for e in back.events] == [event_id]
    assert back.items("client_report") == []


def test_envelopes_go_several_at_a_time(tmp_path: Path, clients: list[sentry_sdk.Client]) -> None:
    slow = EnvelopeServer(delay=0.3)
    try:
        clients.append(client := _client(slow.dsn, tmp_path, concurrency=3))
        for i in range(9):
            client.capture_event({"message": f"event {i}"})
        client.flush(timeout=10)
        assert len(slow.events) == 9
        assert slow.most_in_flight == 3
    finally:
        slow.close()


def test_a_new_client_sends_what_an_earlier_one_left(
    tmp_path: Path, envelope_server: EnvelopeServer, clients: list[sentry_sdk.Client]
) -> None:
    dsn, _ = _unreachable()
    earlier = _client(dsn, tmp_path)
    left = [earlier.capture_event({"message": f"left {i}"}) for i in range(3)]
    earlier.close(timeout=0.5)
    assert len(_files(tmp_path)) == 3
    clients.append(_client(envelope_server.dsn, tmp_path))
    wait_until(lambda: len(envelope_server.events) == 3, "the events left", timeout=10)
    assert [e["event_id"] for e in envelope_server.events] == left  # oldest first
    wait_until(lambda: not _files(tmp_path), "an empty spool", timeout=5)


def test_a_limit_on_another_category_does_not_hold_back_the_spool(
    tmp_path: Path, envelope_server: EnvelopeServer, clients: list[sentry_sdk.Client]
) -> None:
    # Bugsink answers every envelope so: it takes no transactions for a day.
    envelope_server.response_headers = {"X-Sentry-Rate-Limits": "86400:transaction;span:key"}
    dsn, _ = _unreachable()
    earlier = _client(dsn, tmp_path)
    left = [earlier.capture_event({"message": f"left {i}"}) for i in range(3)]
    earlier.close(timeout=0.5)
    clients.append(client := _client(envelope_server.dsn, tmp_path))
    fresh = client.capture_event({"message": "fresh"})
    wait_until(lambda: len(envelope_server.events) == 4, "every event", timeout=10)
    assert {e["event_id"] for e in envelope_server.events} == {*left, fresh}


def _config(spool: Path, *, production: bool) -> SentryConfig:
    settings = SentrySettings(dsn=FAKE_DSN, spool_dir=spool)  # type: ignore[arg-type]
    return SentryConfig(settings, production)


def test_an_unusable_spool_refuses_production_and_falls_back_to_memory_elsewhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("")
    unusable = tmp_path / "file" / "spool"
    with pytest.raises(ConfigError, match=f"SENTRY_SPOOL_DIR {unusable} is not a directory"):
        transport_from_settings(_config(unusable, production=True))
    assert transport_from_settings(_config(unusable, production=False)) is None
    assert f"SENTRY_SPOOL_DIR {unusable} is not a directory" in caplog.text
    assert transport_from_settings(_config(tmp_path / "spool", production=True)) is not None
    assert (tmp_path / "spool").stat().st_mode & 0o777 == 0o700


def test_without_a_spool_directory_the_sdk_keeps_its_own_transport() -> None:
    assert transport_from_settings(SentryConfig(SentrySettings(), production=False)) is None


def _dropped_and_lost(server: EnvelopeServer) -> tuple[int, int]:
    """The `spool.dropped` counts on the events delivered, and the client reports' count
    of events the spool's bound dropped."""
    dropped = sum(e.get("contexts", {}).get("spool", {}).get("dropped", 0) for e in server.events)
    lost = sum(
        entry["quantity"]
        for report in server.items("client_report")
        for entry in report["discarded_events"]
        if (entry["reason"], entry["category"]) == ("cache_overflow", "error")
    )
    return dropped, lost


def _overflow(client: sentry_sdk.Client, events: int) -> None:
    """Capture `events` of about 150 KB each into a spool of 1 MB: six fit under the
    bound's 90%, so from the seventh on every capture drops the oldest, the last one's
    included."""
    bulk: dict[str, object] = {f"k{i}": "x" * 1000 for i in range(150)}
    for i in range(events):
        client.capture_event({"message": f"event {i}", "contexts": {"bulk": bulk}})


def test_the_events_delivered_after_an_outage_count_every_event_the_bound_dropped(
    tmp_path: Path, clients: list[sentry_sdk.Client]
) -> None:
    dsn, port = _unreachable()
    clients.append(client := _client(dsn, tmp_path))  # a spool of 1 MB
    _overflow(client, 20)
    back = EnvelopeServer(port=port)
    try:
        wait_until(lambda: not _files(tmp_path), "an empty spool", timeout=30)
        client.flush(timeout=5)  # the client report
    finally:
        back.close()
    dropped, lost = _dropped_and_lost(back)
    assert 0 < lost < 20
    assert len(back.events) + lost == 20
    assert dropped == lost


def test_the_drop_count_an_event_refused_by_sentry_carried_goes_on_the_next_event(
    tmp_path: Path, clients: list[sentry_sdk.Client]
) -> None:
    dsn, port = _unreachable()
    clients.append(client := _client(dsn, tmp_path))
    _overflow(client, 10)
    back = EnvelopeServer(port=port)
    back.status = 500
    try:
        wait_until(lambda: not _files(tmp_path), "an empty spool", timeout=30)
        back.status = 200
        fresh = client.capture_event({"message": "fresh"})
        client.flush(timeout=5)
    finally:
        back.close()
    [taken] = [e for e in back.events if e["event_id"] == fresh]
    _, lost = _dropped_and_lost(back)
    assert lost > 0
    assert taken["contexts"]["spool"] == {"dropped": lost}
