"""Client subcommands of `replog`: append, list, tail, health, faults, step-down; and certs.

`register(subparsers)` adds them to the top-level parser (cli.py owns that parser); each sets
`handler=<function(args) -> int>`, the process exit code. `main(argv)` runs them on their own.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from replog.commands import append, certs, faults, health, leadership, messages

__all__ = ["build_parser", "main", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    append.add_parser(subparsers)
    messages.add_parsers(subparsers)
    health.add_parser(subparsers)
    faults.add_parser(subparsers)
    leadership.add_parser(subparsers)
    certs.add_parser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="replog", description="Client commands of a replog cluster.")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run one subcommand; usage errors return 2 (argparse's code) instead of exiting."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    handler = args.handler
    return int(handler(args))
