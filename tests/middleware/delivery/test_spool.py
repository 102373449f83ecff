"""The spool on disk: files written whole, claimed by one process, bounded, taken over."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from middleware.delivery import Spool


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_an_envelope_is_written_whole_readable_by_its_owner_only(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    spool = Spool(directory, max_bytes=1 << 20)
    name, evicted = spool.write(b"envelope")
    assert evicted == []
    assert os.listdir(directory) == [name]
    assert (directory / name).read_bytes() == b"envelope"
    assert (directory / name).stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o700


def test_a_file_is_claimed_once_then_released_or_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    other = Spool(tmp_path, max_bytes=1 << 20)
    name, _ = spool.write(b"x")
    claimed = spool.claim(name)
    assert claimed is not None
    assert other.claim(name) is None
    assert spool.ready() == [] and other.ready() == []
    spool.release(claimed)
    assert other.ready() == [name]
    claimed = other.claim(name)
    assert claimed is not None
    other.remove(claimed)
    assert os.listdir(tmp_path) == []


def test_ready_is_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    names = [spool.write(str(i).encode())[0] for i in range(5)]
    assert spool.ready() == names


def _started(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def test_claims_of_a_dead_process_or_of_a_reused_pid_are_taken_over(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    dead, alive, reused, mine = (spool.write(b"x")[0] for _ in range(4))
    parent = os.getppid()
    (tmp_path / dead).rename(tmp_path / f"{dead}.{_dead_pid()}.12345.claim")
    (tmp_path / alive).rename(tmp_path / f"{alive}.{parent}.{_started(parent)}.claim")
    (tmp_path / reused).rename(tmp_path / f"{reused}.{parent}.1.claim")
    assert spool.claim(mine) is not None
    assert spool.ready() == sorted([dead, reused])


def test_a_claim_of_an_earlier_process_with_the_same_pid_is_taken_over(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    name, _ = spool.write(b"x")
    (tmp_path / name).rename(tmp_path / f"{name}.{os.getpid()}.0ldt0ken.claim")
    assert spool.ready() == [name]


def test_past_its_bound_the_oldest_envelopes_go(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000)
    names = [spool.write(b"x" * 1000)[0] for _ in range(10)]
    name, evicted = spool.write(b"y" * 1000)
    assert evicted == [b"x" * 1000] * 2
    assert spool.ready() == [*names[2:], name]
    status = spool.status()
    assert (status.files, status.bytes) == (9, 9000)
    assert status.oldest_age is not None and 0 <= status.oldest_age < 60
