"""Running scripts/deploy.sh the way an operator does, in temporary directories."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY_SH = REPO / "scripts" / "deploy.sh"
UNIT = REPO / "systemd" / "booty.service"
BOOTY_PYTHON = Path(sys.executable)


def head_sha(repo: Path = REPO) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "HEAD^{commit}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def release_env(sha: str, environment: str) -> bytes:
    return f"SENTRY_RELEASE={sha}\nSENTRY_ENVIRONMENT={environment}\n".encode()


def deploy(
    etc_dir: Path,
    *args: str,
    cwd: Path = REPO,
    script: Path = DEPLOY_SH,
    bin_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the deploy script with a minimal environment and the real `booty`.

    The strict umask shows that release.env's mode is set, not inherited.
    """
    path = os.environ["PATH"] if bin_dir is None else f"{bin_dir}:{os.environ['PATH']}"
    environ = {"PATH": path, "BOOTY_PYTHON": str(BOOTY_PYTHON), "LANG": "C.UTF-8", **(env or {})}
    return subprocess.run(
        [str(script), "--etc-dir", str(etc_dir), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        umask=0o077,
        timeout=120,
        check=False,
    )


def write_script(path: Path, body: str) -> Path:
    path.write_text(f"#!/usr/bin/env bash\nset -euo pipefail\n{body}\n")
    path.chmod(0o755)
    return path
