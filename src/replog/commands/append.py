"""`replog append MSG` and `replog append -` (one message per line of stdin, sent in batches)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from replog.client import AppendResult, BatchResult, Client, ReplogClientError
from replog.commands._common import (
    Progress,
    client_for,
    emit_json,
    guarded,
    output_options,
    positive_int,
    target_options,
)

__all__ = ["add_parser", "batches", "run"]

# Well inside the server's limits (10 000 messages, max_body_bytes 1 MiB by default) so a batch is never refused
# for its size, yet large enough that a million lines take a few hundred requests, not a million.
BATCH_MESSAGES = 1000
BATCH_BYTES = 512 * 1024


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "append",
        parents=[target_options(), output_options()],
        help="append a message (or one per line of stdin with '-')",
        description="Append MSG on the master, or with MSG '-' every line of stdin as one message, in batches.",
    )
    parser.add_argument("msg", metavar="MSG", help="the message; '-' reads one message per line from stdin")
    parser.add_argument("-w", "--w", type=positive_int, default=None, help="write concern (default: the server's)")
    parser.add_argument(
        "--request-id",
        default=None,
        help="idempotency key (default: a fresh one); with '-', batch k uses ID-k so a re-run appends nothing twice",
    )
    parser.add_argument("--timeout-ms", type=positive_int, default=None, help="give up waiting for w after this")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=BATCH_MESSAGES,
        metavar="N",
        help=f"with '-': messages per request (default {BATCH_MESSAGES}; at most the server's append_batch_max)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(handler=run)


@guarded
def run(args: argparse.Namespace) -> int:
    with client_for(args.url, args.token, tls=args) as client:
        if args.msg == "-":
            return _append_lines(client, args, sys.stdin)
        result = client.append(args.msg, w=args.w, request_id=args.request_id, timeout_ms=args.timeout_ms)
    if args.as_json:
        emit_json(asdict(result))
    else:
        print(_describe(result))
    return 0


def _describe(result: AppendResult) -> str:
    if result.duplicate:
        return f"already appended as #{result.index} (same request id; w={result.w})"
    return f"appended #{result.index} (w={result.w})"


def batches(
    lines: Iterable[str], max_messages: int = BATCH_MESSAGES, max_bytes: int = BATCH_BYTES
) -> Iterator[list[str]]:
    """Lines without their line break, grouped into batches bounded by count and by JSON size."""
    batch: list[str] = []
    size = 0
    for line in lines:
        msg = line[:-1] if line.endswith("\n") else line
        cost = len(json.dumps(msg)) + 2
        if batch and (len(batch) >= max_messages or size + cost > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(msg)
        size += cost
    if batch:
        yield batch


@dataclass
class _Totals:
    count: int = 0
    duplicates: int = 0
    batches: int = 0
    first_index: int | None = None
    last_index: int | None = None
    w: int | None = None

    def add(self, result: BatchResult) -> None:
        size = result.last_index - result.first_index + 1
        self.count += size
        self.duplicates += size if result.duplicate else 0
        self.batches += 1
        self.first_index = result.first_index if self.first_index is None else self.first_index
        self.last_index = result.last_index
        self.w = result.w


def _append_lines(client: Client, args: argparse.Namespace, lines: TextIO) -> int:
    totals = _Totals()
    progress = Progress(enabled=not args.quiet)
    try:
        for number, batch in enumerate(batches(lines, args.batch_size), start=1):
            request_id = None if args.request_id is None else f"{args.request_id}-{number}"
            totals.add(client.append_many(batch, w=args.w, request_id=request_id, timeout_ms=args.timeout_ms))
            progress.update(f"appended {totals.count} messages (up to #{totals.last_index})")
    except ReplogClientError:
        progress.done()
        if totals.count:
            print(
                f"replog: {totals.count} messages were appended before the error (up to #{totals.last_index})",
                file=sys.stderr,
            )
        raise
    progress.done()
    _print_totals(totals, args.as_json)
    return 0


def _print_totals(totals: _Totals, as_json: bool) -> None:
    if as_json:
        summary: dict[str, Any] = asdict(totals)
        emit_json(summary)
    elif not totals.count:
        print("nothing to append: stdin was empty")
    else:
        again = f", {totals.duplicates} of them already there" if totals.duplicates else ""
        print(f"appended {totals.count} messages as #{totals.first_index}..#{totals.last_index} (w={totals.w}{again})")
