"""The spool on disk: files written whole, claimed by one process, bounded, taken over."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from middleware.delivery import Spool
from middleware.delivery.spool import PREPARED
from tests.support import run_python


def _visible(directory: Path) -> list[str]:
    """The envelopes and claims, without the temporary files a process prepares."""
    return [name for name in os.listdir(directory) if not name.startswith(".")]


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
    assert _visible(directory) == [name]
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
    assert _visible(tmp_path) == []


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


def _prepared_folders(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".") and p.is_dir()]


def _wait_prepared(directory: Path, count: int, folders: int = 1) -> None:
    """Until `folders` spools each hold `count` prepared files in `directory`.

    A first write may take a file the moment it is made: a pool then holds one
    less than its size, which is still more than half, so none is made anew.
    """
    deadline = time.monotonic() + 10
    while sum(len(os.listdir(f)) >= count for f in _prepared_folders(directory)) < folders:
        assert time.monotonic() < deadline, "the spool prepared no files"
        time.sleep(0.01)


# Audit hooks stay for the life of a process, so this runs in one of its own.
NO_FILE_CREATED = """
import json, os, sys, threading
from pathlib import Path
from middleware.delivery.spool import PREPARED, Spool
from tests.middleware.delivery.test_spool import _wait_prepared

directory = Path(sys.argv[1])
spool = Spool(directory, max_bytes=1 << 20)
spool.write(b"first")
_wait_prepared(directory, PREPARED - 1)
created = []

def hook(event, args):
    # Files the writing thread creates; the spool's own thread refills meanwhile.
    creates = event == "open" and isinstance(args[2], int) and args[2] & os.O_CREAT
    if creates and threading.current_thread() is threading.main_thread():
        created.append(str(args[0]))

sys.addaudithook(hook)
names = [spool.write(b"envelope %d" % i)[0] for i in range(PREPARED // 2)]
print(json.dumps({"names": names, "created": created}))
"""


def test_an_envelope_goes_in_a_file_made_ahead_not_one_created_while_the_caller_waits(
    tmp_path: Path,
) -> None:
    out = run_python(NO_FILE_CREATED, str(tmp_path))
    result = json.loads(out)
    assert result["created"] == []
    for i, name in enumerate(result["names"]):
        assert (tmp_path / name).read_bytes() == b"envelope %d" % i
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    # The process is gone: the next reader removes what it prepared.
    spool = Spool(tmp_path, max_bytes=1 << 20)
    assert len(spool.ready()) == PREPARED // 2 + 1
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_a_forked_child_writes_its_own_files_not_its_parents(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.write(b"first")
    _wait_prepared(tmp_path, PREPARED - 1)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write one envelope, say its name, and go
        try:
            os.write(writer, spool.write(b"from the child")[0].encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as answer:
        child = answer.read()
    os.waitpid(pid, 0)
    mine, _ = spool.write(b"from the parent")
    assert (tmp_path / child).read_bytes() == b"from the child"
    assert (tmp_path / mine).read_bytes() == b"from the parent"
    spool.close()


def test_closing_removes_the_prepared_files_and_a_later_write_prepares_again(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.write(b"x")
    _wait_prepared(tmp_path, 1)
    spool.close()
    assert _prepared_folders(tmp_path) == []
    name, _ = spool.write(b"y")
    assert (tmp_path / name).read_bytes() == b"y"
    spool.close()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


def test_prepared_files_of_a_dead_process_go_and_a_live_ones_stay(tmp_path: Path) -> None:
    parent = os.getppid()
    dead = tmp_path / f".{_dead_pid()}.12345.7f.files"
    alive = tmp_path / f".{parent}.{_started(parent)}.7f.files"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "0.tmp").write_bytes(b"")
    assert Spool(tmp_path, max_bytes=1 << 20).ready() == []
    assert not dead.exists()
    assert (alive / "0.tmp").exists()


FULL_DISK = """
import os, resource, signal, sys
from pathlib import Path
from middleware.delivery.spool import Spool

# Files may grow to 1 KB: writing past it fails as a full disk does.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
spool = Spool(Path(sys.argv[1]), max_bytes=1 << 20)
for size in (100, 5000):
    try:
        spool.write(b"x" * size)
    except OSError as exc:
        print(exc.errno)
spool.close()
"""


def test_an_envelope_that_cannot_be_written_whole_leaves_no_file(tmp_path: Path) -> None:
    out = run_python(FULL_DISK, str(tmp_path))
    assert out.split() == [str(errno.EFBIG)]
    (name,) = os.listdir(tmp_path)
    assert (tmp_path / name).read_bytes() == b"x" * 100


def test_two_spools_of_one_process_on_one_directory_keep_files_of_their_own(
    tmp_path: Path,
) -> None:
    first = Spool(tmp_path, max_bytes=1 << 20)
    second = Spool(tmp_path, max_bytes=1 << 20)
    first.write(b"a")
    second.write(b"b")
    _wait_prepared(tmp_path, PREPARED - 1, folders=2)
    first.close()
    name, _ = second.write(b"still on disk")
    assert (tmp_path / name).read_bytes() == b"still on disk"
    second.close()
    assert _prepared_folders(tmp_path) == []


def test_an_envelope_whose_prepared_file_is_gone_is_written_all_the_same(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.write(b"a")
    _wait_prepared(tmp_path, 1)
    for folder in _prepared_folders(tmp_path):
        shutil.rmtree(folder)
    name, _ = spool.write(b"on disk")
    assert (tmp_path / name).read_bytes() == b"on disk"
    spool.close()
