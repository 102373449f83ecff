"""Python code run in a fresh interpreter, for what a process keeps once: audit
hooks, the sdk's record of the integrations it set up, a file-size limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, *args: str) -> str:
    """`code`'s standard output, run at the repository's root without SENTRY_* settings.

    CalledProcessError (with its stderr) when it fails.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
        cwd=ROOT,
    )
    return done.stdout
