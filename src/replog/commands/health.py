"""`replog health`: the leader's view of the cluster as a table (or the node's own, for a secondary's URL).

With failover any node may be asked: a follower that names its leader is asked for no more than that,
and the table is then the leader's, which lists every node (a user who ran `replog step-down` against the
default URL would otherwise see one line). `--json` stays the asked node's own /health, for scripts.

Status colours (green Healthy, yellow Suspected, red Unhealthy; red read-only) are used only when stdout is a
terminal, so piped output stays plain text.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from dataclasses import asdict

from replog.client import Client, MasterHealth, PeerStatus, ReplicaHealth, ReplogClientError, SecondaryHealth
from replog.client.results import as_leader
from replog.client.retry import RetryPolicy
from replog.commands._common import client_for, emit_json, guarded, output_options, target_options, use_colour
from replog.node.names import node_name

__all__ = ["add_parser", "render", "run"]

GREEN, YELLOW, RED, RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[0m"
COLOURS = {"Healthy": GREEN, "Suspected": YELLOW, "Unhealthy": RED, "read-write": GREEN, "read-only": RED}
COLUMNS = ("NODE", "URL", "STATUS", "INDEX", "LAG", "LAST HEARD", "NOTE")
STATUS_COLUMN = COLUMNS.index("STATUS")
# A node asked for its view beside others (several --url, or a follower's leader) is asked once, briefly:
# a frozen node delays the answer by no more than this.
NODE_TIMEOUT_S = 2.0
ONCE = RetryPolicy(attempts=1)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "health",
        parents=[target_options(), output_options()],
        help="show the leader's view of every node's health",
        description="The cluster as its leader sees it, one line a node. Asked of a follower, the leader it names "
        "is asked too (once, with a 2-s timeout); several --url nodes: each one's own view. --json: the asked "
        "node's own health.",
    )
    parser.set_defaults(handler=run)


@guarded
def run(args: argparse.Namespace) -> int:
    with client_for(args.url, args.token, tls=args) as client:
        if len(client.urls) > 1:  # Several nodes named: every node's own view, so who leads is plain.
            return _run_each(client.urls, args, client.ssl_context)
        health = client.node_health()
        url = client.url
        ssl_context = client.ssl_context
    if args.as_json:
        emit_json(asdict(health))
    elif isinstance(health, ReplicaHealth) and health.role != "leader" and health.leader_url:
        print(_via_the_leader(health, url, args.token, ssl_context))
    else:
        print(render(health, url, colour=use_colour(sys.stdout)))
    return 0


def _via_the_leader(follower: ReplicaHealth, url: str, token: str | None, ssl_context: ssl.SSLContext | None) -> str:
    """The leader's table under a line naming the node asked; the node's own table if its leader is no help."""
    leader_url = follower.leader_url or ""
    said = f"{follower.name} is a {follower.role} in term {follower.term}"
    try:
        with Client(leader_url, token=token, ssl_context=ssl_context, timeout=NODE_TIMEOUT_S, retry=ONCE) as leader:
            view = as_leader(leader.node_health(), leader_url)  # NoLeader if it no longer leads
    except ReplogClientError as exc:
        own = render(follower, url, colour=use_colour(sys.stdout))
        return f"{said}; its leader {follower.leader_name} at {leader_url}: {exc}\n{own}"
    table = render(view, leader_url, colour=use_colour(sys.stdout))
    return f"{said}; the cluster as its leader {view.name} sees it:\n{table}"


def _run_each(urls: tuple[str, ...], args: argparse.Namespace, ssl_context: ssl.SSLContext | None) -> int:
    views: list[tuple[str, Health | str]] = []
    for url in urls:
        try:
            with Client(url, token=args.token, ssl_context=ssl_context, timeout=NODE_TIMEOUT_S, retry=ONCE) as node:
                views.append((url, node.node_health()))
        except ReplogClientError as exc:
            views.append((url, str(exc)))
    if args.as_json:
        emit_json(
            [{"url": url, **(asdict(view) if not isinstance(view, str) else {"error": view})} for url, view in views]
        )
    else:
        print(
            "\n\n".join(
                render(view, url, colour=use_colour(sys.stdout)) if not isinstance(view, str) else f"{url}: {view}"
                for url, view in views
            )
        )
    return 0


Health = MasterHealth | SecondaryHealth | ReplicaHealth


def render(health: Health, url: str, *, colour: bool) -> str:
    """The health table; plain text unless `colour`."""
    if isinstance(health, ReplicaHealth):
        rows = _replica_rows(health, url)
    elif isinstance(health, SecondaryHealth):
        rows = _secondary_rows(health, url)
    else:
        rows = _master_rows(health, url)
    return _table([COLUMNS, *rows], colour)


def _replica_rows(health: ReplicaHealth, url: str) -> list[tuple[str, ...]]:
    """With failover: the node's role and term, whom it follows, and (on the leader) every other node."""
    if health.role == "leader":
        note = (
            f"leader of term {health.term}; quorum: {health.quorum_alive} of {len(health.peers) + 1} alive, "
            f"{health.quorum_needed} needed" + (f"; {health.waiting} appends waiting" if health.waiting else "")
        )
    elif health.leader_name:
        note = f"{health.role} in term {health.term}, following {health.leader_name} ({health.leader_url})"
    else:
        note = f"{health.role} in term {health.term}, no leader known"
    if health.rolled_back:
        note += f"; {health.rolled_back} entries rolled back"
    status = "read-only" if health.read_only else "read-write"
    own = (health.name, url, status, str(health.last_index), "", "", f"{note}; commit {health.commit_index}")
    return [own, *(_peer_row(peer, node_name(peer.id)) for peer in health.peers)]


def _master_rows(health: MasterHealth, url: str) -> list[tuple[str, ...]]:
    quorum = f"quorum: {health.quorum_alive} of {len(health.secondaries) + 1} alive, {health.quorum_needed} needed"
    waiting = f"; {health.waiting} appends waiting" if health.waiting else ""
    status = "read-only" if health.read_only else "read-write"
    master = ("master", url, status, str(health.last_index), "", "", quorum + waiting)
    return [master, *(_peer_row(peer) for peer in health.secondaries)]


def _peer_row(peer: PeerStatus, label: str = "") -> tuple[str, ...]:
    heard = "never" if peer.last_heard_ms_ago is None else f"{peer.last_heard_ms_ago} ms ago"
    return (
        label or f"secondary {peer.id}",
        peer.url,
        peer.status,
        str(peer.acked_index),
        str(peer.lag),
        heard,
        peer.last_error,
    )


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
