"""`python -m middleware check`: what the layer would do with this process's SENTRY_*."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from middleware import check_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m middleware")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "check", help="validate SENTRY_* as the lifespan does and print what it would do"
    )
    parser.parse_args(argv)
    return check_config()


if __name__ == "__main__":
    sys.exit(main())
