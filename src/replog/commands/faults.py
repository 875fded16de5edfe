"""`replog faults URL [...]`: show a secondary's injected faults, or set some of them.

With no fault option it only shows; with options it sets those (the others keep their value) and shows
the result. The durations shown are the seconds still remaining. With failover every node has faults, and
they act while it follows: asked of the leader, a note on stderr says so.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from replog.client import Faults, ReplicaHealth
from replog.commands._common import client_for, emit_json, guarded, output_options

__all__ = ["add_parser", "describe", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "faults", parents=[output_options()], help="show or set a secondary's injected faults", description=__doc__
    )
    parser.add_argument("url", metavar="URL", help="the secondary's URL (host:port is enough)")
    parser.add_argument("--error-after-append", type=float, metavar="P", help="drop the link after storing, w.p. P")
    parser.add_argument("--delay-ms", type=int, nargs=2, metavar=("MIN", "MAX"), help="delay each acknowledgement")
    parser.add_argument("--internal-looping", type=float, metavar="S", help="stop answering for S seconds")
    parser.add_argument("--server-unavailable", type=float, metavar="S", help="refuse the master for S seconds")
    parser.set_defaults(handler=run)


@guarded
def run(args: argparse.Namespace) -> int:
    with client_for(args.url, args.token, one_node="URL", tls=args) as client:
        delay = None if args.delay_ms is None else (args.delay_ms[0], args.delay_ms[1])
        changes = (args.error_after_append, delay, args.internal_looping, args.server_unavailable)
        if all(value is None for value in changes):
            faults = client.faults()
        else:
            faults = client.set_faults(
                error_after_append=args.error_after_append,
                delay_ms=delay,
                internal_looping=args.internal_looping,
                server_unavailable=args.server_unavailable,
            )
        health = client.node_health()
    if isinstance(health, ReplicaHealth) and health.role == "leader":
        # A node's faults act on what it does as a follower; set on the leader they wait for a handover.
        print(f"note: {health.name} leads term {health.term}: its faults act once it follows", file=sys.stderr)
    if args.as_json:
        emit_json(asdict(faults))
    else:
        print(describe(faults))
    return 0


def describe(faults: Faults) -> str:
    low, high = faults.delay_ms
    rows = {
        "error_after_append": f"{faults.error_after_append:g}",
        "delay_ms": f"{low}" if low == high else f"{low}..{high}",
        "internal_looping": _remaining(faults.internal_looping),
        "server_unavailable": _remaining(faults.server_unavailable),
    }
    return "\n".join(f"{name:<20}{value}" for name, value in rows.items())


def _remaining(seconds: float) -> str:
    return f"{seconds:.1f} s left" if seconds > 0 else "off"
