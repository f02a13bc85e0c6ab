"""The ``runner`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from runner import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every available command."""
    parser = argparse.ArgumentParser(
        prog="runner",
        description="Run Elastic Security EQL detection rules against Elasticsearch.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0
