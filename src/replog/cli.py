"""The `replog` command: run nodes and a local cluster.

Every setting of `replog.config.Config` is also a flag (`--heartbeat-seconds 0.5`), and the
flags win over REPLOG_* environment variables, which win over the config file.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from replog.config import Config, load_config
from replog.errors import ConfigError, StartupError

__all__ = ["build_parser", "main"]


def _add_settings(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (override REPLOG_* and the config file)")
    group.add_argument("--config", help="config file (default: ./config.yaml if present)")
    for f in fields(Config):
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None, help=f.metadata.get("doc"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replog", description="A replicated log: a leader elected among its nodes (or a fixed master)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    master = commands.add_parser("master", help="run the master")
    _add_settings(master)
    secondary = commands.add_parser("secondary", help="run secondary N")
    secondary.add_argument("--id", type=int, required=True, help="which secondary (index into 'secondaries')")
    secondary.add_argument("--reset", action="store_true", help="wipe this secondary's data before starting")
    _add_settings(secondary)
    cluster = commands.add_parser("cluster", help="run the master and every secondary on this machine")
    _add_settings(cluster)
    healthcheck = commands.add_parser(
        "healthcheck", help="exit 0 if the node running from this data directory answers /health (Docker's check)"
    )
    healthcheck.add_argument("--node", default=None, help="which node (master, secondary-N); default: the data dir's")
    _add_settings(healthcheck)
    _add_tool(commands, "bench", "replog.bench", "measure replog beside a bare HTTP handler, NATS and Redis")
    _add_tool(commands, "chaos", "replog.chaos.cli", "run a cluster under faults and check the history")
    from replog.commands import register

    register(commands)
    return parser


def _add_tool(commands: argparse._SubParsersAction, name: str, module: str, help_text: str) -> None:  # type: ignore[type-arg]
    """A subcommand whose module is imported only when it runs, so node start-up stays lean."""
    parser = commands.add_parser(name, help=help_text)
    importlib.import_module(module).add_arguments(parser)
    parser.set_defaults(handler=lambda args: importlib.import_module(module).run(args))


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in fields(Config) if getattr(args, f.name, None) is not None}


def _passthrough(argv: Sequence[str]) -> list[str]:
    """The settings flags of `replog cluster`, handed on unchanged to every child."""
    return list(argv[1:])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if getattr(args, "handler", None) is not None:
        return int(args.handler(args))
    try:
        config = load_config(args.config, cli=_settings(args))
        if args.command == "master":
            from replog.node.run import run_master

            run_master(config)
        elif args.command == "secondary":
            from replog.node.run import run_secondary

            run_secondary(config, args.id, reset=args.reset)
        elif args.command == "healthcheck":
            from replog.node.healthcheck import check

            healthy, why = check(config, args.node)
            print(f"replog healthcheck: {why}", file=sys.stdout if healthy else sys.stderr)
            return 0 if healthy else 1
        elif args.command == "cluster":
            from replog.cluster import run_cluster

            return run_cluster(len(config.secondaries), _passthrough(argv))
    except (ConfigError, StartupError) as exc:
        print(f"replog: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
