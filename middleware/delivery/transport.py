"""A transport that writes each envelope to the spool before it returns, and sends
from the spool, several envelopes at a time.

The sdk's own HttpTransport sends one envelope at a time from one thread and
drops an envelope whose send failed; nothing of it survives the process. What
it does well (the pool, rate limits, client reports, compression) is reused
through middleware/_sdk.py; what it lacks is written here.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from sentry_sdk.envelope import Envelope, Item, PayloadRef
from sentry_sdk.transport import Transport

from middleware._sdk import (
    capture_internal_exceptions,
    handle_response,
    http_sender,
    is_rate_limited,
    pending_client_report,
    post_envelope,
    prepare_envelope,
)
from middleware.config import ConfigError, Problem, SentryConfig
from middleware.delivery.senders import Job, Senders
from middleware.delivery.spool import Spool

logger = logging.getLogger("middleware.delivery")


class SpoolTransport(Transport):
    """Envelopes on disk first, then up to `concurrency` of them in flight."""

    def __init__(self, options: dict[str, Any], *, spool: Spool, concurrency: int) -> None:
        super().__init__(options)
        self._http = http_sender(options, concurrency)
        self.spool = spool
        # Events the bound dropped, not yet carried by an event Sentry took
        # (`spool.dropped`); evictions and sends run on any thread.
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._senders = Senders(
            spool,
            send=self._send,
            concurrency=concurrency,
            queue_size=options["transport_queue_size"],
            # Envelopes wait on disk while Sentry takes no errors (the guide's advice);
            # a limit on another category (Bugsink refuses transactions) does not stop them.
            healthy=lambda: not is_rate_limited(self._http, "error"),
        )
        self._senders.start_draining()

    def capture_envelope(self, envelope: Envelope) -> None:
        with capture_internal_exceptions():
            data = envelope.serialize()
            try:
                name, evicted = self.spool.write(data)
            except OSError as exc:
                # The spool is full or gone: this envelope is sent from memory.
                logger.warning("cannot write to the Sentry spool: %s", exc.strerror)
                self._senders.submit(Job(None, envelope))
                return
            for old in evicted:
                self._lost(old)
            self._senders.submit(Job(name, envelope))

    def flush(self, timeout: float, callback: Any = None) -> None:
        if timeout > 0:
            report = pending_client_report(self._http, force=True)
            if report is not None:
                self.capture_envelope(Envelope(items=[report]))
            self._senders.flush(timeout)

    def kill(self) -> None:
        self._senders.stop()
        self._http.kill()
        self.spool.close()

    def record_lost_event(
        self,
        reason: str,
        data_category: Any = None,
        item: Any = None,
        *,
        quantity: int = 1,
    ) -> None:
        self._http.record_lost_event(reason, data_category, item, quantity=quantity)

    def is_healthy(self) -> bool:
        return self._http.is_healthy()

    def _lost(self, data: bytes) -> None:
        old = Envelope.deserialize(data)
        if old.get_event() is not None:
            with self._dropped_lock:
                self._dropped += 1
        for item in old.items:
            if item.type != "client_report":
                self._http.record_lost_event("cache_overflow", item=item)

    def _carry_drops(self, envelope: Envelope) -> tuple[Envelope, int]:
        """`envelope` with the pending count of dropped events on its event, and that count.

        Bugsink and self-hosted relays ignore client reports: the count rides on
        an event too. It is taken when the event leaves, not when it is spooled:
        an event spooled last carries nothing that later evictions owe, and an
        event still on disk may be evicted itself.
        """
        if not self._dropped or envelope.get_event() is None:
            return envelope, 0
        with self._dropped_lock:
            dropped, self._dropped = self._dropped, 0
        if not dropped:
            return envelope, 0
        items = []
        for item in envelope.items:
            event = item.get_event()
            if event is not None:
                contexts = {**event.get("contexts", {}), "spool": {"dropped": dropped}}
                # A copy: the spooled file, or a caller's envelope, stays as it was.
                item = Item(PayloadRef(json={**event, "contexts": contexts}), item.headers)
            items.append(item)
        return Envelope(envelope.headers, items), dropped

    def _give_back(self, dropped: int) -> None:
        if dropped:
            with self._dropped_lock:
                self._dropped += dropped

    def _send(self, claimed: Path | None, envelope: Envelope | None) -> bool:
        """Send one envelope; False when Sentry could not be reached."""
        if envelope is None and claimed is not None:
            envelope = Envelope.deserialize(claimed.read_bytes())
        if envelope is None:
            return True
        envelope, dropped = self._carry_drops(envelope)
        taken = False  # whether Sentry took the event that carries `dropped`
        try:
            prepared = prepare_envelope(self._http, envelope)
            if prepared is None:
                # Every item was rate-limited, and counted so by the sdk.
                return True
            sent, body, headers = prepared
            try:
                response = post_envelope(self._http, body, headers)
            except Exception as exc:
                logger.debug("Sentry unreachable: %s", type(exc).__name__)
                self._restore_report(sent, envelope)
                return False
            taken = 200 <= response.status < 300 and sent.get_event() is not None
            handle_response(self._http, response, sent)
        finally:
            # Not delivered: the count waits for the next event that is.
            if not taken:
                self._give_back(dropped)
        self._report_now_and_then()
        return True

    def _restore_report(self, sent: Envelope, original: Envelope) -> None:
        # A client report added to an envelope that never left is counted again.
        for item in sent.items:
            if item.type != "client_report" or any(item is o for o in original.items):
                continue
            if item.payload.json:
                for entry in item.payload.json.get("discarded_events", []):
                    self._http.record_lost_event(
                        entry["reason"], entry["category"], quantity=entry["quantity"]
                    )

    def _report_now_and_then(self) -> None:
        report = pending_client_report(self._http, force=False)
        if report is not None:
            self.capture_envelope(Envelope(items=[report]))


def spool_transport(directory: Path, *, max_mb: int, concurrency: int) -> type[Transport]:
    """SpoolTransport bound to its spool, as the class the sdk instantiates with its options."""
    spool = Spool(directory, max_bytes=max_mb * 1024 * 1024)

    class BoundSpoolTransport(SpoolTransport):
        def __init__(self, options: dict[str, Any]) -> None:
            super().__init__(options, spool=spool, concurrency=concurrency)

    return BoundSpoolTransport


def spool_problem(directory: Path) -> str | None:
    """Why envelopes could not be spooled in `directory`, or None (it changes nothing)."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"is not a directory: {existing}"
    if not os.access(existing, os.W_OK | os.X_OK):
        return "is not writable" if existing == directory else f"cannot be created in {existing}"
    return None


def transport_from_settings(
    config: SentryConfig, default_dir: Path | None = None
) -> type[Transport] | None:
    """The spooling transport SENTRY_SPOOL_DIR (else `default_dir`) asks for, or None.

    A spool that cannot be written refuses the start in production; elsewhere
    envelopes are sent from memory, with a warning.
    """
    settings = config.settings
    directory = settings.spool_dir or default_dir
    if directory is None:
        return None
    problem = spool_problem(directory)
    if problem is None:
        try:
            return spool_transport(
                directory, max_mb=settings.spool_max_mb, concurrency=settings.send_concurrency
            )
        except OSError as exc:
            problem = f"cannot be used: {exc.strerror}"
    found = Problem("SENTRY_SPOOL_DIR", f"{directory} {problem}")
    if config.production:
        raise ConfigError([found])
    logger.warning("invalid configuration: %s; sending from memory", found)
    return None
