"""scripts/deploy.sh with the real `booty check-config`, in temporary directories."""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import (
    DEPLOY_SH,
    REPO,
    deploy,
    head_sha,
    release_env,
)

DSN = "http://publickey0123456789abcdef@127.0.0.1:9/42"
TOKEN = "ghp_deploytesttoken0123456789"
SECRETS = f"# managed by hand\nSENTRY_DSN={DSN}\nGITHUB_TOKEN={TOKEN}\n".encode()
OLD_RELEASE = release_env("0" * 40, "production")
PAST = 1_000_000_000_000_000_000  # 2001-09-09, in nanoseconds


def make_etc(
    tmp_path: Path, secrets: bytes | None = SECRETS, release: bytes | None = None
) -> Path:
    etc = tmp_path / "etc-booty"
    etc.mkdir()
    for name, content in (("secrets.env", secrets), ("release.env", release)):
        if content is not None:
            (etc / name).write_bytes(content)
            (etc / name).chmod(0o600 if name == "secrets.env" else 0o644)
            os.utime(etc / name, ns=(PAST, PAST))
    return etc


def snapshot(path: Path) -> tuple[bytes, int, int]:
    info = path.stat()
    return path.read_bytes(), info.st_mtime_ns, stat.S_IMODE(info.st_mode)


def assert_only(etc: Path, *names: str) -> None:
    assert sorted(p.name for p in etc.iterdir()) == sorted(names)


@pytest.mark.parametrize(
    ("cwd", "environment"),
    [(Path("/"), "production"), (REPO, "staging"), (REPO / "scripts", "production")],
    ids=["from-root", "from-repo", "from-subdirectory"],
)
def test_writes_release_env_exactly(tmp_path: Path, cwd: Path, environment: str) -> None:
    etc = make_etc(tmp_path)
    result = deploy(etc, "--environment", environment, "--no-restart", cwd=cwd)
    assert result.returncode == 0, result.stderr
    written = etc / "release.env"
    assert written.read_bytes() == release_env(head_sha(), environment)
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert_only(etc, "secrets.env", "release.env", "deploy.lock")


def test_release_is_the_full_sha_of_the_checkout(tmp_path: Path) -> None:
    etc = make_etc(tmp_path)
    assert deploy(etc, "--no-restart").returncode == 0
    first = (etc / "release.env").read_text().splitlines()[0]
    assert first.removeprefix("SENTRY_RELEASE=") == head_sha()
    assert len(head_sha()) == 40


def test_secrets_env_is_never_touched_nor_shown(tmp_path: Path) -> None:
    etc = make_etc(tmp_path, release=OLD_RELEASE)
    before = snapshot(etc / "secrets.env")
    result = deploy(etc, "--no-restart")
    assert result.returncode == 0, result.stderr
    assert snapshot(etc / "secrets.env") == before
    assert before[1] == PAST
    for secret in (TOKEN, "publickey0123456789abcdef"):
        assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "secrets",
    [None, b"GITHUB_TOKEN=x\n", b"#SENTRY_DSN=" + DSN.encode() + b"\n"],
    ids=["no-secrets-file", "no-dsn", "commented-dsn"],
)
def test_production_without_dsn_is_refused(tmp_path: Path, secrets: bytes | None) -> None:
    etc = make_etc(tmp_path, secrets=secrets, release=OLD_RELEASE)
    before = snapshot(etc / "release.env")
    result = deploy(etc, "--environment", "production", "--no-restart")
    assert result.returncode != 0
    assert "SENTRY_DSN is required when SENTRY_ENVIRONMENT is production" in result.stderr
    assert "left unchanged" in result.stderr
    assert snapshot(etc / "release.env") == before
    kept = ["release.env", "deploy.lock"] + ([] if secrets is None else ["secrets.env"])
    assert_only(etc, *kept)


@pytest.mark.parametrize(
    "line",
    [f'SENTRY_DSN="{DSN}"', f"SENTRY_DSN='{DSN}'", f"  SENTRY_DSN = {DSN}  ", f"SENTRY_DSN={DSN}"],
    ids=["double-quoted", "single-quoted", "spaced", "no-newline"],
)
def test_secrets_are_read_as_systemd_reads_them(tmp_path: Path, line: str) -> None:
    ending = b"" if line.startswith("SENTRY_DSN=h") else b"\n"
    etc = make_etc(tmp_path, secrets=b"; comment\n\n" + line.encode() + ending)
    result = deploy(etc, "--no-restart")
    assert result.returncode == 0, result.stderr
    assert (etc / "release.env").read_bytes() == release_env(head_sha(), "production")


def test_an_invalid_secret_in_production_is_refused(tmp_path: Path) -> None:
    etc = make_etc(tmp_path, secrets=SECRETS + b"GITHUB_API_URL=ftp://example.invalid\n")
    result = deploy(etc, "--no-restart")
    assert result.returncode != 0
    assert "GITHUB_API_URL" in result.stderr
    assert_only(etc, "secrets.env", "deploy.lock")


def test_the_deployed_environment_wins_over_secrets_env(tmp_path: Path) -> None:
    # secrets.env says staging and has no DSN: only the new environment decides.
    etc = make_etc(tmp_path, secrets=b"SENTRY_ENVIRONMENT=staging\n")
    result = deploy(etc, "--environment", "production", "--no-restart")
    assert result.returncode != 0
    assert "SENTRY_DSN is required" in result.stderr


@pytest.mark.parametrize("environment", ["", "two words", "a/b", 'q"uote', "x" * 65])
def test_an_unsafe_environment_is_refused(tmp_path: Path, environment: str) -> None:
    etc = make_etc(tmp_path)
    result = deploy(etc, "--environment", environment, "--no-restart")
    assert result.returncode != 0
    assert "release.env" not in {p.name for p in etc.iterdir()}


def test_outside_a_git_checkout_nothing_is_written(tmp_path: Path) -> None:
    elsewhere = tmp_path / "not-a-checkout"
    (elsewhere / "scripts").mkdir(parents=True)
    script = shutil.copy(DEPLOY_SH, elsewhere / "scripts" / "deploy.sh")
    etc = make_etc(tmp_path, release=OLD_RELEASE)
    result = deploy(
        etc, "--no-restart", script=Path(script), env={"GIT_CEILING_DIRECTORIES": str(tmp_path)}
    )
    assert result.returncode != 0
    assert "nothing written" in result.stderr
    assert (etc / "release.env").read_bytes() == OLD_RELEASE
    assert_only(etc, "secrets.env", "release.env")


def test_a_missing_python_is_an_error(tmp_path: Path) -> None:
    etc = make_etc(tmp_path)
    result = deploy(etc, "--no-restart", env={"BOOTY_PYTHON": str(tmp_path / "nope")})
    assert result.returncode != 0
    assert "no python to run booty" in result.stderr
    assert_only(etc, "secrets.env")


def test_one_deploy_at_a_time(tmp_path: Path) -> None:
    etc = make_etc(tmp_path, release=OLD_RELEASE)
    with (etc / "deploy.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = deploy(etc, "--no-restart")
    assert result.returncode != 0
    assert "another deploy" in result.stderr
    assert (etc / "release.env").read_bytes() == OLD_RELEASE


def test_unknown_arguments_print_usage(tmp_path: Path) -> None:
    result = deploy(make_etc(tmp_path), "--frobnicate")
    assert result.returncode != 0
    assert "usage: scripts/deploy.sh" in result.stderr


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (CI installs it)")
    result = subprocess.run(
        [shellcheck, "--severity=style", str(DEPLOY_SH)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""
