"""Envelopes on disk: one file each, claimed by one process at a time.

A file's life: written under a hidden temporary name and renamed to its ready
name (so no reader ever sees half an envelope), renamed to a claim name that
carries the sending process's pid and token (an atomic rename: of two processes
that race for a file exactly one wins), then deleted once Sentry answered, or
renamed back to its ready name when Sentry could not be reached. A claim whose
process is gone (its pid no longer runs, or runs a process started later)
goes back to ready.

Nothing is fsynced: the spool survives the death of the process, not of the
machine (docs/adr/024-sentry-integration.md).

The temporary files are made ahead of need, a few at a time, by a thread of
the process, in a hidden folder of its own: creating a file waits for the
file system's journal, which a busy disk makes many times slower than writing
the envelope (bench/README.md), and an envelope is written while a request
waits. The folder of a process that is gone is removed by the next reader.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".envelope"
CLAIM = ".claim"
# Without /proc: a claim lasts one request (the sdk's HTTP timeout is 30 s);
# older than this, its process is gone even if its pid was reused.
CLAIM_LEASE = 120.0
# A temporary file this old belongs to a writer that died in the middle.
STALE_TEMPORARY = 60.0
# Past the bound, envelopes go until the spool is this share of it, so that
# a spool at its bound does not scan the directory on every write.
EVICT_TO = 0.9
# Temporary files kept ready per process; refilled when half are used. A burst
# past them creates its files as it writes.
PREPARED = 16
PREPARED_DIR = ".files"


@dataclass(frozen=True)
class SpoolStatus:
    path: Path
    files: int
    bytes: int
    oldest_age: float | None


def _prepared_owner(name: str) -> tuple[int, str] | None:
    """(pid, token) of the process whose folder of prepared files this is, or None.

    The name is `.{pid}.{token}.{spool}.files`: a process may keep a spool
    object per transport on one directory, each with a folder of its own.
    """
    parts = name[1 : -len(PREPARED_DIR)].split(".")
    if not name.startswith(".") or len(parts) != 3 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


class _Prepared:
    """Empty temporary files of one process, made by a thread of their own."""

    def __init__(self, directory: str, owner: str, spool: int) -> None:
        self.pid = os.getpid()
        self.folder = f"{directory}{os.sep}.{owner}.{spool:x}{PREPARED_DIR}"
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        self._files: deque[tuple[int, str]] = deque()
        self._serial = itertools.count()
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._wanted.set()
        threading.Thread(target=self._fill, name="sentry-spool-files", daemon=True).start()

    def take(self) -> tuple[int, str] | None:
        """An open, empty file of this process's and its path; None when none is ready."""
        try:
            taken = self._files.popleft()
        except IndexError:
            taken = None
        if len(self._files) <= PREPARED // 2:
            self._wanted.set()
        return taken

    def close(self) -> None:
        with self._lock:
            self._closed = True
            while self._files:
                fd, path = self._files.popleft()
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        self._wanted.set()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _fill(self) -> None:
        while not self._closed:
            self._wanted.wait()
            self._wanted.clear()
            while not self._closed and len(self._files) < PREPARED:
                path = f"{self.folder}{os.sep}{next(self._serial)}.tmp"
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except OSError:
                    break  # the disk is full or the folder gone: writes make their own
                with self._lock:
                    if self._closed:
                        os.close(fd)
                        # Made while close() removed the folder, or after.
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(path)
                        return
                    self._files.append((fd, path))


def _write_whole(fd: int, temporary: str, data: bytes, ready: str) -> None:
    """Write `data` to the open temporary file, close it and rename it `ready`.

    On failure no half envelope stays behind (a full disk): OSError, the file gone.
    """
    try:
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)
        os.rename(temporary, ready)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _claim_owner(name: str) -> tuple[str, int, str] | None:
    """(ready name, pid, token) of a claim name, or None."""
    parts = name[: -len(CLAIM)].rsplit(".", 2)
    if len(parts) != 3 or not parts[0].endswith(SUFFIX) or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1]), parts[2]


def _start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot), or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The 22nd field; the 2nd, the command, may hold spaces and parentheses.
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, token: str, age: float) -> bool:
    """Whether the process that made a claim still runs: its pid with the same start
    time (a reused pid has another), else any process with its pid and a young lease."""
    started = _start_time(pid)
    if started is not None:
        return started == token
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return age < CLAIM_LEASE


def spool_status(directory: Path) -> SpoolStatus:
    """What the spool in `directory` holds (it changes nothing)."""
    files, size, oldest = 0, 0, None
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.endswith((SUFFIX, CLAIM)):
                continue
            try:
                size += entry.stat().st_size
            except FileNotFoundError:
                continue
            files += 1
            written = int(entry.name[:20]) / 1e9
            oldest = written if oldest is None else min(oldest, written)
    age = None if oldest is None else max(0.0, time.time() - oldest)
    return SpoolStatus(directory, files, size, age)


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self._prefix = f"{directory}{os.sep}"
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._serial = itertools.count()
        self._pid = -1
        self._token = ""
        self._prepared: _Prepared | None = None
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # An existing directory keeps its mode otherwise; envelopes are the
        # service's errors, readable by its own user only.
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)
        self._bytes = self.status().bytes

    @property
    def owner(self) -> str:
        """This process's claim tag: its pid and start time (a forked child has its own)."""
        pid = os.getpid()
        if pid != self._pid:
            self._pid, self._token = pid, _start_time(pid) or secrets.token_hex(4)
        return f"{self._pid}.{self._token}"

    def write(self, data: bytes) -> tuple[str, list[bytes]]:
        """Put an envelope on disk; its name, and the envelopes evicted to make room."""
        # Unique across processes (pid) and within one (a counter): no random bytes,
        # which cost a system call per envelope.
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._serial)}{SUFFIX}"
        # Paths as plain strings: joining Path objects costs a third of the write.
        ready = f"{self._prefix}{name}"
        prepared = self._prepared_files().take()
        if prepared is not None:
            try:
                _write_whole(*prepared, data, ready)
            except OSError:
                # A prepared file that cannot take it (its folder gone with a close()
                # that raced this write, a full disk): one made here has a last go.
                prepared = None
        if prepared is None:
            temporary = f"{self._prefix}.{name}.tmp"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            _write_whole(fd, temporary, data, ready)
        with self._lock:
            self._bytes += len(data)
            over = self._bytes > self.max_bytes
        return name, self._evict() if over else []

    def close(self) -> None:
        """Remove this process's prepared files; a later write prepares again."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared.pid == os.getpid():
            prepared.close()

    def _prepared_files(self) -> _Prepared:
        prepared = self._prepared
        # A forked child makes its own: the parent's open files are the parent's.
        if prepared is None or prepared.pid != os.getpid():
            with self._lock:
                prepared = self._prepared
                if prepared is None or prepared.pid != os.getpid():
                    prepared = self._prepared = _Prepared(
                        str(self.directory), self.owner, id(self)
                    )
        return prepared

    def claim(self, name: str) -> Path | None:
        """Take a ready envelope for this process; None if another process has it."""
        claimed = self.directory / f"{name}.{self.owner}{CLAIM}"
        try:
            os.rename(self.directory / name, claimed)
            # The lease counts from the claim, not from the write.
            os.utime(claimed)
        except FileNotFoundError:
            return None
        return claimed

    def release(self, claimed: Path) -> None:
        """Give a claimed envelope back, for a later attempt by any process."""
        owner = _claim_owner(claimed.name)
        if owner is not None:
            os.rename(claimed, self.directory / owner[0])

    def remove(self, claimed: Path) -> None:
        try:
            size = claimed.stat().st_size
            claimed.unlink()
        except FileNotFoundError:
            return
        with self._lock:
            self._bytes -= size

    def ready(self) -> list[str]:
        """Ready envelopes, oldest first, after taking back the claims of dead processes."""
        names: list[str] = []
        now = time.time()
        for entry in self._entries():
            if entry.name.endswith(SUFFIX):
                names.append(entry.name)
            elif entry.name.endswith(CLAIM):
                restored = self._restore(entry, now)
                if restored:
                    names.append(restored)
            elif entry.name.endswith(".tmp"):
                self._clean(entry, now)
            elif entry.name.endswith(PREPARED_DIR):
                self._clean_prepared(entry)
        return sorted(names)

    def status(self) -> SpoolStatus:
        return spool_status(self.directory)

    def _entries(self) -> Iterator[os.DirEntry[str]]:
        with os.scandir(self.directory) as entries:
            yield from entries

    def _restore(self, entry: os.DirEntry[str], now: float) -> str | None:
        owner = _claim_owner(entry.name)
        if owner is None:
            return None
        ready, pid, token = owner
        try:
            age = now - entry.stat().st_mtime
        except FileNotFoundError:
            return None
        mine = pid == os.getpid()
        if (f"{pid}.{token}" == self.owner) if mine else _alive(pid, token, age):
            return None
        try:
            os.rename(entry.path, self.directory / ready)
        except FileNotFoundError:
            return None
        return ready

    def _clean(self, entry: os.DirEntry[str], now: float) -> None:
        try:
            if now - entry.stat().st_mtime > STALE_TEMPORARY:
                os.unlink(entry.path)
        except FileNotFoundError:
            pass

    def _clean_prepared(self, entry: os.DirEntry[str]) -> None:
        owner = _prepared_owner(entry.name)
        if owner is None:
            return
        pid, token = owner
        # Without /proc, a folder stays while any process has its pid: it is
        # renewed only when files are taken, so its age says nothing.
        if f"{pid}.{token}" == self.owner or _alive(pid, token, 0.0):
            return
        shutil.rmtree(entry.path, ignore_errors=True)

    def _evict(self) -> list[bytes]:
        """Delete the oldest ready envelopes until the spool is under its bound again."""
        sizes: list[tuple[str, int]] = []
        total = 0
        for entry in self._entries():
            if entry.name.endswith((SUFFIX, CLAIM)):
                try:
                    size = entry.stat().st_size
                except FileNotFoundError:
                    continue
                total += size
                if entry.name.endswith(SUFFIX):
                    sizes.append((entry.name, size))
        evicted: list[bytes] = []
        for name, size in sorted(sizes):
            if total <= self.max_bytes * EVICT_TO:
                break
            path = self.directory / name
            try:
                data = path.read_bytes()
                path.unlink()
            except FileNotFoundError:
                continue  # claimed by a sender meanwhile
            total -= size
            evicted.append(data)
        with self._lock:
            self._bytes = total
        return evicted
