"""`replog health`: the master's view of the cluster as a table (or the node's own, for a secondary's URL).

Status colours (green Healthy, yellow Suspected, red Unhealthy; red read-only) are used only when stdout is a
terminal, so piped output stays plain text.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from replog.client import MasterHealth, PeerStatus, SecondaryHealth
from replog.commands._common import client_for, emit_json, guarded, output_options, target_options, use_colour

__all__ = ["add_parser", "render", "run"]

GREEN, YELLOW, RED, RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[0m"
COLOURS = {"Healthy": GREEN, "Suspected": YELLOW, "Unhealthy": RED, "read-write": GREEN, "read-only": RED}
COLUMNS = ("NODE", "URL", "STATUS", "INDEX", "LAG", "LAST HEARD", "NOTE")
STATUS_COLUMN = COLUMNS.index("STATUS")


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "health", parents=[target_options(), output_options()], help="show the master and each secondary's health"
    )
    parser.set_defaults(handler=run)


@guarded
def run(args: argparse.Namespace) -> int:
    with client_for(args.url, args.token) as client:
        health = client.node_health()
        url = client.url
    if args.as_json:
        emit_json(asdict(health))
    else:
        print(render(health, url, colour=use_colour(sys.stdout)))
    return 0


def render(health: MasterHealth | SecondaryHealth, url: str, *, colour: bool) -> str:
    """The health table; plain text unless `colour`."""
    rows = _secondary_rows(health, url) if isinstance(health, SecondaryHealth) else _master_rows(health, url)
    return _table([COLUMNS, *rows], colour)


def _master_rows(health: MasterHealth, url: str) -> list[tuple[str, ...]]:
    quorum = f"quorum: {health.quorum_alive} of {len(health.secondaries) + 1} alive, {health.quorum_needed} needed"
    waiting = f"; {health.waiting} appends waiting" if health.waiting else ""
    status = "read-only" if health.read_only else "read-write"
    master = ("master", url, status, str(health.last_index), "", "", quorum + waiting)
    return [master, *(_peer_row(peer) for peer in health.secondaries)]


def _peer_row(peer: PeerStatus) -> tuple[str, ...]:
    heard = "never" if peer.last_heard_ms_ago is None else f"{peer.last_heard_ms_ago} ms ago"
    return (f"secondary {peer.id}", peer.url, peer.status, str(peer.acked_index), str(peer.lag), heard, peer.last_error)


def _secondary_rows(health: SecondaryHealth, url: str) -> list[tuple[str, ...]]:
    status = "following" if health.master_connected else "not connected"
    return [(f"secondary {health.id}", url, status, str(health.contiguous_index), "", "", health.refusal)]


def _table(rows: list[tuple[str, ...]], colour: bool) -> str:
    """Columns padded to their widest cell; colour wraps the padded status so alignment is kept."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for number, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        tint = COLOURS.get(row[STATUS_COLUMN]) if colour and number else None
        if tint:
            cells[STATUS_COLUMN] = f"{tint}{cells[STATUS_COLUMN]}{RESET}"
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
