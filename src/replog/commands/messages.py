"""`replog list` and `replog tail`: read the log from the master (or several nodes, failing over) or any secondary.

Both page through GET /messages, so even a huge log is printed with bounded memory. Human output is one
message per line, `index<TAB>message` (line breaks inside a message shown as \\n); `list --json` prints one
JSON array of {"index", "msg"}, `tail --json` one such object per line (JSON Lines), since it may never end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable, Iterator

from replog.client import Client, Message
from replog.client._paging import PAGE_SIZE
from replog.commands._common import (
    UsageError,
    client_for,
    emit_json,
    guarded,
    one_line,
    output_options,
    positive_int,
    target_options,
)

__all__ = ["add_parsers", "run_list", "run_tail"]

TAIL_LINES = 10


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parents = [target_options(), output_options()]
    listing = subparsers.add_parser("list", parents=parents, help="print messages", description=run_list.__doc__)
    listing.add_argument("--from", dest="from_", type=positive_int, default=1, metavar="I", help="first index")
    listing.add_argument("--limit", type=positive_int, default=None, metavar="L", help="at most L messages")
    _node_option(listing)
    listing.set_defaults(handler=run_list)

    tail = subparsers.add_parser("tail", parents=parents, help="print the last messages", description=run_tail.__doc__)
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new messages as they arrive")
    tail.add_argument("--from", dest="from_", type=positive_int, default=None, metavar="I", help="start at index I")
    tail.add_argument(
        "-n",
        "--lines",
        type=int,
        default=TAIL_LINES,
        metavar="N",
        help=f"without --from: the last N (default {TAIL_LINES})",
    )
    tail.add_argument("--poll-interval", type=float, default=1.0, metavar="S", help="longest wait between polls")
    _node_option(tail)
    tail.set_defaults(handler=run_tail)


def _node_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node", default=None, metavar="URL", help="read from this one node (e.g. a secondary) instead of --url"
    )


@guarded
def run_list(args: argparse.Namespace) -> int:
    """Print messages from --from on, at most --limit of them, from the master or --node."""
    with _reader(args) as client:
        page_size = min(PAGE_SIZE, args.limit or PAGE_SIZE)
        messages = itertools.islice(client.iter_messages(args.from_, page_size), args.limit)
        if args.as_json:
            _print_json_array(messages)
        else:
            _print_lines(messages)
    return 0


@guarded
def run_tail(args: argparse.Namespace) -> int:
    """Print the last -n messages (or those from --from on); with -f keep following the log."""
    if args.poll_interval <= 0:
        raise UsageError(f"--poll-interval must be positive, got {args.poll_interval}")
    with _reader(args) as client:
        messages: Iterable[Message]
        if args.from_ is not None and args.follow:
            messages = client.tail(from_=args.from_, poll_interval=args.poll_interval)
        elif args.from_ is not None:
            messages = client.iter_messages(args.from_)
        else:
            last, end = _last_messages(client, max(args.lines, 0))
            rest = client.tail(from_=end + 1, poll_interval=args.poll_interval) if args.follow else ()
            messages = itertools.chain(last, rest)
        for message in messages:
            _print_one(message, args.as_json)
    return 0


def _last_messages(client: Client, count: int) -> tuple[list[Message], int]:
    """The last `count` messages up to the node's end, and that end. A leader's no-op takes an index and is no
    message, so `count` indexes can hold fewer: the window reaches back by the shortfall until they are there."""
    end = client.last_index()
    start = max(1, end - count + 1)
    window = _between(client, start, end) if count else []
    while len(window) < count and start > 1:
        earlier = max(1, start - (count - len(window)))
        window = _between(client, earlier, start - 1) + window
        start = earlier
    return window[-count:] if count else [], end


def _between(client: Client, first: int, last: int) -> list[Message]:
    """The messages with indexes first..last, read a page at a time."""
    found: list[Message] = []
    while first <= last:
        page = [m for m in client.messages(first, min(PAGE_SIZE, last - first + 1), detail=True) if m.index <= last]
        if not page:
            break
        found += page
        first = page[-1].index + 1
    return found


def _reader(args: argparse.Namespace) -> Client:
    """--node is one node by design (to read what that node holds); --url may list several."""
    if args.node:
        return client_for(args.node, args.token, one_node="--node", tls=args)
    return client_for(args.url, args.token, tls=args)


def _print_one(message: Message, as_json: bool) -> None:
    if as_json:
        emit_json({"index": message.index, "msg": message.msg})
    else:
        print(f"{message.index}\t{one_line(message.msg)}", flush=True)


def _print_lines(messages: Iterable[Message]) -> None:
    for message in messages:
        sys.stdout.write(f"{message.index}\t{one_line(message.msg)}\n")
    sys.stdout.flush()


def _print_json_array(messages: Iterator[Message]) -> None:
    """Streamed item by item, so the whole log is never held in memory at once. The first page is read
    before the `[`, so a node that cannot be read leaves stdout one JSON error object, not a broken array;
    a read that fails later closes the array first (stdout is then the array, and the error on a line of its own)."""
    first = next(messages, None)
    out = sys.stdout
    out.write("[")
    try:
        for number, message in enumerate(itertools.chain([first] if first else [], messages)):
            out.write(
                ("," if number else "") + json.dumps({"index": message.index, "msg": message.msg}, ensure_ascii=False)
            )
    finally:
        out.write("]\n")
        out.flush()
