"""`replog step-down`: hand leadership to the most up-to-date follower (failover on), for maintenance.

Any node's URL will do: a follower names its leader and the request goes there. It needs the cluster
token (`--token`, or $REPLOG_TOKEN) when the cluster has one. Appends pause for the handover only.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

from replog.commands._common import client_for, emit_json, guarded, output_options, target_options

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "step-down",
        parents=[target_options(), output_options()],
        help="hand leadership to the most up-to-date follower (failover on)",
        description=__doc__,
    )
    parser.set_defaults(handler=run)


@guarded
def run(args: argparse.Namespace) -> int:
    with client_for(args.url, args.token, tls=args) as client:
        result = client.step_down()
    if args.as_json:
        emit_json(asdict(result))
    else:
        print(
            f"{result.old_leader} handed leadership to {result.new_leader} (term {result.term}); "
            f"appends paused {result.paused_ms:.0f} ms"
        )
    return 0
